//! The inboxes read model: one row per inbox (a connected channel account) with its channel
//! type and the messaging policy in force, for GET /v1/inboxes and the window view.

use chrono::{DateTime, Utc};
use convo_domain::inbox::InboxChange;
use convo_domain::{ChannelPolicy, ChannelType, InboxEvent, LogEvent};
use convo_projection::{Projection, Rows};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxView {
    pub inbox_id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub channel: ChannelType,
    /// The policy in force: the inbox's override, else its channel type's default.
    pub policy: ChannelPolicy,
    pub policy_overridden: bool,
    /// The inbox's default team: its active agents are who may take the inbox's
    /// conversations. None: every active agent of the workspace may.
    #[serde(default)]
    pub team_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub position: i64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct InboxesProjection;

impl Projection for InboxesProjection {
    const NAME: &'static str = "inboxes";
    type Event = (Uuid, InboxEvent);
    type Key = Uuid;
    type Row = InboxView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.inbox_event() else { return Ok(None) };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("inbox id: {e}"))?;
        Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn apply(&self, log: &LogEvent, (id, event): Self::Event, rows: &mut Rows<Uuid, InboxView>) -> Result<(), String> {
        match event.change {
            InboxChange::Created { inbox_id, workspace_id, name, channel, policy } => rows.put(
                id,
                InboxView {
                    inbox_id,
                    workspace_id,
                    name,
                    channel,
                    policy: policy.unwrap_or(channel.default_policy()),
                    policy_overridden: policy.is_some(),
                    team_id: None,
                    created_at: event.occurred_at,
                    deleted_at: None,
                    version: log.sequence,
                    position: log.position,
                },
            ),
            InboxChange::Deleted {} => {
                let row = rows.get_mut(&id).ok_or_else(|| format!("inbox {id} deleted before it was created"))?;
                row.deleted_at.get_or_insert(event.occurred_at);
                row.version = log.sequence;
                row.position = log.position;
            }
            InboxChange::TeamSet { team_id } => {
                let row = rows.get_mut(&id).ok_or_else(|| format!("inbox {id} given a team before it was created"))?;
                row.team_id = Some(team_id);
                row.version = log.sequence;
                row.position = log.position;
            }
            InboxChange::TeamCleared { team_id: _ } => {
                let row = rows.get_mut(&id).ok_or_else(|| format!("inbox {id} lost its team before it was created"))?;
                row.team_id = None;
                row.version = log.sequence;
                row.position = log.position;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
