//! The directory's read models (issue #18): one row per agent with their profile, availability
//! and whether they are active, for the agent endpoints; one row per team with its name and how
//! many agents it holds; and one row per agent of each team, for listing a team's agents.

use chrono::{DateTime, Utc};
use convo_domain::LogEvent;
use convo_domain::directory::{AgentChange, AgentEvent, AgentRole, Availability, TeamChange, TeamEvent};
use convo_projection::{Projection, Rows};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod attributes;
pub use attributes::{AttributeDefinitionView, AttributeDefinitionsProjection};

/// An agent as the read model keeps them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentView {
    /// The caller's own user id for the agent, unique in the workspace.
    pub agent_id: String,
    /// The workspace they belong to.
    pub workspace_id: Uuid,
    /// Their display name.
    pub name: String,
    /// Where to reach them, in lower case, if known.
    pub email: Option<String>,
    /// What they may do in the workspace.
    pub role: AgentRole,
    /// Whether they take conversations now, as they set it (offline while deactivated).
    pub availability: Availability,
    /// False while deactivated: they can be neither assigned nor offered.
    pub active: bool,
    /// When they were registered.
    pub created_at: DateTime<Utc>,
    /// When they last changed.
    pub updated_at: DateTime<Utc>,
    /// When they were deactivated, while they are.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The agent's version: the sequence of their latest event.
    pub version: i64,
    /// The global log position of their latest event.
    pub position: i64,
}

/// Folds agent events (aggregate type `agent`) into one [`AgentView`] per agent, keyed by the
/// agent's stream id (`agent_stream_id(workspace_id, agent_id)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct AgentsProjection;

impl Projection for AgentsProjection {
    const NAME: &'static str = "agents";
    type Event = (Uuid, AgentEvent);
    type Key = Uuid;
    type Row = AgentView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.agent_event() else { return Ok(None) };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("agent stream id: {e}"))?;
        Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn apply(&self, log: &LogEvent, (id, event): Self::Event, rows: &mut Rows<Uuid, AgentView>) -> Result<(), String> {
        if let AgentChange::Created { agent_id, workspace_id, name, email, role } = event.change {
            rows.put(
                id,
                AgentView {
                    agent_id,
                    workspace_id,
                    name,
                    email,
                    role,
                    availability: Availability::Offline,
                    active: true,
                    created_at: event.occurred_at,
                    updated_at: event.occurred_at,
                    deactivated_at: None,
                    version: log.sequence,
                    position: log.position,
                },
            );
            return Ok(());
        }
        let row = rows.get_mut(&id).ok_or_else(|| format!("agent {id} changed before they were created"))?;
        match event.change {
            // Handled above.
            AgentChange::Created { .. } => {}
            AgentChange::Updated { agent_id: _, name, email, role } => {
                row.name = name;
                row.email = email;
                row.role = role;
            }
            AgentChange::AvailabilityChanged { agent_id: _, availability } => row.availability = availability,
            AgentChange::Deactivated { agent_id: _ } => {
                row.active = false;
                row.availability = Availability::Offline;
                row.deactivated_at = Some(event.occurred_at);
            }
            AgentChange::Reactivated { agent_id: _ } => {
                row.active = true;
                row.availability = Availability::Offline;
                row.deactivated_at = None;
            }
        }
        row.updated_at = event.occurred_at;
        row.version = log.sequence;
        row.position = log.position;
        Ok(())
    }
}

/// A team as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamView {
    /// The team.
    pub team_id: Uuid,
    /// The workspace it belongs to.
    pub workspace_id: Uuid,
    /// Its name.
    pub name: String,
    /// How many agents it holds now, deactivated ones included.
    pub agent_count: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed (renamed, or an agent added or removed).
    pub updated_at: DateTime<Utc>,
    /// The team's version: the sequence of its latest event.
    pub version: i64,
    /// The global log position of its latest event.
    pub position: i64,
}

/// Folds team events (aggregate type `team`) into one [`TeamView`] per team.
#[derive(Debug, Default, Clone, Copy)]
pub struct TeamsProjection;

/// A team event with its team: the stream id, which is the team id.
fn decode_team(event: &LogEvent) -> Result<Option<(Uuid, TeamEvent)>, String> {
    let Some(decoded) = event.team_event() else { return Ok(None) };
    let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("team id: {e}"))?;
    Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
}

impl Projection for TeamsProjection {
    const NAME: &'static str = "teams";
    type Event = (Uuid, TeamEvent);
    type Key = Uuid;
    type Row = TeamView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        decode_team(event)
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn apply(&self, log: &LogEvent, (id, event): Self::Event, rows: &mut Rows<Uuid, TeamView>) -> Result<(), String> {
        if let TeamChange::Created { team_id, workspace_id, name } = event.change {
            rows.put(
                id,
                TeamView {
                    team_id,
                    workspace_id,
                    name,
                    agent_count: 0,
                    created_at: event.occurred_at,
                    updated_at: event.occurred_at,
                    version: log.sequence,
                    position: log.position,
                },
            );
            return Ok(());
        }
        let row = rows.get_mut(&id).ok_or_else(|| format!("team {id} changed before it was created"))?;
        match event.change {
            // Handled above.
            TeamChange::Created { .. } => {}
            TeamChange::Renamed { team_id: _, name } => row.name = name,
            // The team records an agent's joining only when they are not in it, and their
            // leaving only when they are: each event moves the count by one.
            TeamChange::AgentAdded { .. } => row.agent_count += 1,
            TeamChange::AgentRemoved { .. } => {
                row.agent_count =
                    row.agent_count.checked_sub(1).ok_or_else(|| format!("team {id} lost an agent it did not have"))?;
            }
        }
        row.updated_at = event.occurred_at;
        row.version = log.sequence;
        row.position = log.position;
        Ok(())
    }
}

/// One agent of one team, as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamAgentView {
    /// The team.
    pub team_id: Uuid,
    /// The team's (and the agent's) workspace.
    pub workspace_id: Uuid,
    /// The agent, by the caller's own user id.
    pub agent_id: String,
    /// When the agent joined the team.
    pub added_at: DateTime<Utc>,
    /// The global log position of their joining.
    pub position: i64,
}

/// Folds team membership events into one [`TeamAgentView`] per team and agent, removed when
/// the agent leaves the team.
#[derive(Debug, Default, Clone, Copy)]
pub struct TeamAgentsProjection;

impl Projection for TeamAgentsProjection {
    const NAME: &'static str = "team_agents";
    type Event = (Uuid, TeamEvent);
    type Key = (Uuid, String);
    type Row = TeamAgentView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        Ok(decode_team(event)?
            .filter(|(_, e)| matches!(e.change, TeamChange::AgentAdded { .. } | TeamChange::AgentRemoved { .. })))
    }

    fn keys(&self, _: &LogEvent, (id, event): &Self::Event, into: &mut Vec<(Uuid, String)>) {
        match &event.change {
            TeamChange::AgentAdded { agent_id, .. } | TeamChange::AgentRemoved { agent_id, .. } => {
                into.push((*id, agent_id.clone()));
            }
            TeamChange::Created { .. } | TeamChange::Renamed { .. } => {}
        }
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<(Uuid, String), TeamAgentView>,
    ) -> Result<(), String> {
        match event.change {
            TeamChange::AgentAdded { team_id: _, agent_id } => {
                // A membership event names no workspace: the log's envelope does (every domain
                // event has it), and a team's agents are of its workspace.
                let workspace_id = log.workspace()?;
                let row = TeamAgentView {
                    team_id: id,
                    workspace_id,
                    agent_id,
                    added_at: event.occurred_at,
                    position: log.position,
                };
                rows.put((id, row.agent_id.clone()), row);
            }
            TeamChange::AgentRemoved { team_id: _, agent_id } => rows.remove(&(id, agent_id)),
            TeamChange::Created { .. } | TeamChange::Renamed { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
