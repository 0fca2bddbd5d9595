//! The `Team` aggregate: a named set of agents of one workspace. A conversation or an inbox
//! may name a team; an inbox's team decides who may take its conversations.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DirectoryLookup, MAX_TEAM_AGENTS, name};
use crate::{Actor, Clock};

/// A team as the log has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub team_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub name: String,
    /// Its agents' ids, at most [`MAX_TEAM_AGENTS`].
    pub agents: BTreeSet<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TeamCommand {
    /// The workspace the command comes from: a team of another is not found.
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub action: TeamAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TeamAction {
    /// Creates the team (refused when it exists).
    Create { team_id: Uuid, name: String },
    /// Renames it (nothing if the name is the same).
    Rename { name: String },
    /// Adds an agent of the workspace (nothing if they are in it).
    AddAgent { agent_id: String },
    /// Takes an agent out (nothing if they are not in it).
    RemoveAgent { agent_id: String },
}

/// A team event as stored and published: the envelope (`occurred_at`, `actor`) beside the
/// fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TeamEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: TeamChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum TeamChange {
    /// A team was created, without agents.
    #[serde(rename = "TeamCreated")]
    Created { team_id: Uuid, workspace_id: Uuid, name: String },
    /// The team was renamed.
    #[serde(rename = "TeamRenamed")]
    Renamed { team_id: Uuid, name: String },
    /// An agent joined the team.
    #[serde(rename = "TeamAgentAdded")]
    AgentAdded { team_id: Uuid, agent_id: String },
    /// An agent left the team.
    #[serde(rename = "TeamAgentRemoved")]
    AgentRemoved { team_id: Uuid, agent_id: String },
}

impl DomainEvent for TeamEvent {
    fn event_type(&self) -> String {
        match self.change {
            TeamChange::Created { .. } => "TeamCreated",
            TeamChange::Renamed { .. } => "TeamRenamed",
            TeamChange::AgentAdded { .. } => "TeamAgentAdded",
            TeamChange::AgentRemoved { .. } => "TeamAgentRemoved",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TeamError {
    /// No such team in the command's workspace.
    #[error("team not found")]
    NotFound,
    #[error("a team with this id already exists")]
    AlreadyExists,
    /// The agent to add is not one of the workspace's.
    #[error("agent {0} not found")]
    AgentNotFound(String),
    /// An input is not acceptable; `field` names it as the API does.
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
    /// The directory could not be asked (the store is unreachable): nothing written.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

pub struct TeamServices {
    pub clock: Arc<dyn Clock>,
    pub directory: Arc<dyn DirectoryLookup>,
}

impl Team {
    fn found(&self, workspace_id: Uuid) -> Result<Uuid, TeamError> {
        match self.team_id {
            Some(id) if self.workspace_id == Some(workspace_id) => Ok(id),
            _ => Err(TeamError::NotFound),
        }
    }

    async fn decide(&self, command: TeamCommand, services: &TeamServices) -> Result<Vec<TeamChange>, TeamError> {
        let workspace_id = command.workspace_id;
        let valid_name = |n: &str| name(n).map_err(|reason| TeamError::Validation { field: "name".into(), reason });
        Ok(match command.action {
            TeamAction::Create { team_id, name } => {
                if self.team_id.is_some() {
                    return Err(TeamError::AlreadyExists);
                }
                vec![TeamChange::Created { team_id, workspace_id, name: valid_name(&name)? }]
            }
            TeamAction::Rename { name } => {
                let team_id = self.found(workspace_id)?;
                let name = valid_name(&name)?;
                if name == self.name { vec![] } else { vec![TeamChange::Renamed { team_id, name }] }
            }
            TeamAction::AddAgent { agent_id } => {
                let team_id = self.found(workspace_id)?;
                if self.agents.contains(&agent_id) {
                    return Ok(vec![]);
                }
                if services.directory.agent(workspace_id, &agent_id).await.map_err(TeamError::Lookup)?.is_none() {
                    return Err(TeamError::AgentNotFound(agent_id));
                }
                if self.agents.len() >= MAX_TEAM_AGENTS {
                    return Err(TeamError::Validation {
                        field: "agent_id".into(),
                        reason: format!("a team has at most {MAX_TEAM_AGENTS} agents"),
                    });
                }
                vec![TeamChange::AgentAdded { team_id, agent_id }]
            }
            TeamAction::RemoveAgent { agent_id } => {
                let team_id = self.found(workspace_id)?;
                if self.agents.contains(&agent_id) {
                    vec![TeamChange::AgentRemoved { team_id, agent_id }]
                } else {
                    vec![]
                }
            }
        })
    }
}

impl Aggregate for Team {
    const TYPE: &'static str = "team";
    type Command = TeamCommand;
    type Event = TeamEvent;
    type Error = TeamError;
    type Services = TeamServices;

    async fn handle(
        &mut self,
        command: TeamCommand,
        services: &TeamServices,
        sink: &EventSink<Self>,
    ) -> Result<(), TeamError> {
        let actor = command.actor.clone();
        let occurred_at = services.clock.now();
        for change in self.decide(command, services).await? {
            sink.write(TeamEvent { occurred_at, actor: actor.clone(), change }, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: TeamEvent) {
        match event.change {
            TeamChange::Created { team_id, workspace_id, name } => {
                self.team_id = Some(team_id);
                self.workspace_id = Some(workspace_id);
                self.name = name;
            }
            TeamChange::Renamed { name, .. } => self.name = name,
            TeamChange::AgentAdded { agent_id, .. } => {
                self.agents.insert(agent_id);
            }
            TeamChange::AgentRemoved { agent_id, .. } => {
                self.agents.remove(&agent_id);
            }
        }
    }
}
