//! Time travel: a conversation, a contact or an agent as it was at a position of the log or a moment,
//! folded from its own events up to there with the same pure projections that build the live
//! read models, so "as of the head" is exactly the live view.

use chrono::{DateTime, Utc};
use convo_projection::prepare;
use convo_projection_contacts::{ContactView, ContactsProjection};
use convo_projection_directory::{AgentView, AgentsProjection};
use convo_projection_groups::{GroupRow, GroupsProjection, Membership};
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use uuid::Uuid;

use convo_store::{Backend, EventLog, LogEvent, StoreError};

/// Where in history to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Every event at or before this global position.
    Position(i64),
    /// Every event the log had recorded by this time (`recorded_at`).
    Time(DateTime<Utc>),
}

impl AsOf {
    fn includes(&self, event: &LogEvent) -> bool {
        match self {
            Self::Position(p) => event.position <= *p,
            Self::Time(t) => event.recorded_at <= *t,
        }
    }
}

/// A conversation at a point of its history.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationAt {
    pub summary: ConversationSummary,
    /// A group's members then, with their roles then: the inbox's own member first, then
    /// admins, then by joining time (as `GET …/members` lists them). Empty for direct ones.
    pub members: Vec<Membership>,
    /// The events folded, in order.
    pub events: Vec<LogEvent>,
}

/// Events read per page.
const PAGE: usize = 1_000;

/// The events of aggregate `aggregate_type` `id` as of `as_of`, in order: none if it did not
/// exist then, or is not `workspace_id`'s (when given; operators' tools look across workspaces).
async fn events_at<B: Backend>(
    log: &EventLog<B>,
    workspace_id: Option<Uuid>,
    (aggregate_type, id): (&str, Uuid),
    as_of: AsOf,
) -> Result<Vec<LogEvent>, StoreError> {
    let id = id.to_string();
    let mut events = Vec::new();
    loop {
        let after = events.last().map_or(0, |e: &LogEvent| e.sequence);
        let page = log.read_aggregate(aggregate_type, &id, after, PAGE).await?;
        let full = page.len() == PAGE;
        let before = events.len();
        events.extend(page.into_iter().take_while(|e| as_of.includes(e)));
        if !full || events.len() - before < PAGE {
            break;
        }
    }
    let theirs =
        |ours: Uuid| events.first().is_some_and(|e| e.workspace_id.as_deref() != Some(ours.to_string().as_str()));
    if workspace_id.is_some_and(theirs) {
        return Ok(Vec::new());
    }
    Ok(events)
}

/// The contact `contact_id` as of `as_of` (a merged one with `merged_into`): `None` if it did not
/// exist then, or is not `workspace_id`'s.
pub async fn contact_at<B: Backend>(
    log: &EventLog<B>,
    workspace_id: Option<Uuid>,
    contact_id: Uuid,
    as_of: AsOf,
) -> Result<Option<ContactView>, StoreError> {
    use cqrs_es::Aggregate;
    let events = events_at(log, workspace_id, (convo_domain::contact::Contact::TYPE, contact_id), as_of).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let rows = prepare(&ContactsProjection, &events)
        .and_then(|batch| batch.apply(&ContactsProjection, Default::default()))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(rows.into_iter().find_map(|(_, row)| row))
}

/// Agent `agent_id` of `workspace_id` as of `as_of`, folded from their own stream
/// (`agent_stream_id(workspace_id, agent_id)`): `None` if they did not exist then.
pub async fn agent_at<B: Backend>(
    log: &EventLog<B>,
    workspace_id: Uuid,
    agent_id: &str,
    as_of: AsOf,
) -> Result<Option<AgentView>, StoreError> {
    use cqrs_es::Aggregate;
    let stream = convo_domain::directory::agent_stream_id(workspace_id, agent_id);
    let events = events_at(log, Some(workspace_id), (convo_domain::directory::Agent::TYPE, stream), as_of).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let rows = prepare(&AgentsProjection, &events)
        .and_then(|batch| batch.apply(&AgentsProjection, Default::default()))
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(rows.into_iter().find_map(|(_, row)| row))
}

/// The conversation `conversation_id` as of `as_of`: `None` if it did not exist then, or is not
/// `workspace_id`'s (when given; operators' tools look across workspaces).
pub async fn conversation_at<B: Backend>(
    log: &EventLog<B>,
    workspace_id: Option<Uuid>,
    conversation_id: Uuid,
    as_of: AsOf,
) -> Result<Option<ConversationAt>, StoreError> {
    use cqrs_es::Aggregate;
    let aggregate = (convo_domain::Conversation::TYPE, conversation_id);
    let events = events_at(log, workspace_id, aggregate, as_of).await?;
    if events.is_empty() {
        return Ok(None);
    }
    let corrupt = |e: convo_projection::ProjectionError| StoreError::Corrupt(e.to_string());
    let summary = prepare(&InboxProjection, &events)
        .and_then(|batch| batch.apply(&InboxProjection, Default::default()))
        .map_err(corrupt)?
        .into_iter()
        .find_map(|(_, row)| row);
    let Some(summary) = summary else { return Ok(None) };
    let mut members: Vec<Membership> = prepare(&GroupsProjection, &events)
        .and_then(|batch| batch.apply(&GroupsProjection, Default::default()))
        .map_err(corrupt)?
        .into_iter()
        .filter_map(|(_, row)| match row {
            Some(GroupRow::Member(m)) => Some(m),
            _ => None,
        })
        .collect();
    // The order `GET …/members` pages in.
    members.sort_by_key(crate::MemberCursor::of);
    Ok(Some(ConversationAt { summary, members, events }))
}
