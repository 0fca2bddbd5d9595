//! The `Agent` aggregate: one person who works conversations in a workspace, known by the
//! caller's own user id (`agent_id`). Its stream id is [`agent_stream_id`]; every event names
//! the agent, so a reader needs no mapping.
//!
//! [`agent_stream_id`]: super::agent_stream_id

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{MAX_EMAIL_CHARS, name};
use crate::conversation::MAX_ID_CHARS;
use crate::{Actor, Clock};

/// An agent as the log has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Agent {
    /// Its workspace, once created.
    pub workspace_id: Option<Uuid>,
    /// The caller's own user id, once created.
    pub agent_id: Option<String>,
    pub profile: AgentProfile,
    pub availability: Availability,
    /// False once deactivated (until reactivated).
    pub active: bool,
}

/// What an agent is called and may do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentProfile {
    /// The display name, trimmed.
    pub name: String,
    /// Where to reach them, in lower case.
    #[serde(default)]
    pub email: Option<String>,
    pub role: AgentRole,
}

/// What an agent may do in the workspace.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentRole {
    /// Works the conversations they are given.
    #[default]
    Agent,
    /// Also manages inboxes, teams and agents.
    Administrator,
}

/// Whether an agent takes conversations now, as they set it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Online,
    Busy,
    /// Where every agent starts, and where a deactivated one stays.
    #[default]
    Offline,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentCommand {
    /// The workspace the command comes from: an agent of another is not found.
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub action: AgentAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AgentAction {
    /// Registers the agent (refused when it exists).
    Create { agent_id: String, name: String, email: Option<String>, role: AgentRole },
    /// Changes what is given: `None` leaves a field as it is; `email: Some(None)` clears it.
    /// `active` is applied first, so one command may reactivate an agent and set them online.
    Update {
        name: Option<String>,
        email: Option<Option<String>>,
        role: Option<AgentRole>,
        availability: Option<Availability>,
        active: Option<bool>,
    },
}

/// An agent event as stored and published: the envelope (`occurred_at`, `actor`) beside the
/// fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: AgentChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum AgentChange {
    /// An agent was registered, active and offline.
    #[serde(rename = "AgentCreated")]
    Created {
        /// The caller's own user id for them.
        agent_id: String,
        workspace_id: Uuid,
        /// The display name, trimmed.
        name: String,
        /// Where to reach them, in lower case.
        email: Option<String>,
        role: AgentRole,
    },
    /// The agent's name, email or role changed: the whole profile as it is now.
    #[serde(rename = "AgentUpdated")]
    Updated {
        agent_id: String,
        /// The display name, trimmed.
        name: String,
        /// Where to reach them, in lower case.
        email: Option<String>,
        role: AgentRole,
    },
    /// The agent set their availability.
    #[serde(rename = "AgentAvailabilityChanged")]
    AvailabilityChanged { agent_id: String, availability: Availability },
    /// The agent was deactivated: they cannot be assigned, and are offline, until reactivated.
    /// Their past assignments and history stay as they were.
    #[serde(rename = "AgentDeactivated")]
    Deactivated { agent_id: String },
    /// The agent was reactivated (offline until they say otherwise).
    #[serde(rename = "AgentReactivated")]
    Reactivated { agent_id: String },
}

impl DomainEvent for AgentEvent {
    fn event_type(&self) -> String {
        match self.change {
            AgentChange::Created { .. } => "AgentCreated",
            AgentChange::Updated { .. } => "AgentUpdated",
            AgentChange::AvailabilityChanged { .. } => "AgentAvailabilityChanged",
            AgentChange::Deactivated { .. } => "AgentDeactivated",
            AgentChange::Reactivated { .. } => "AgentReactivated",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No such agent in the command's workspace.
    #[error("agent not found")]
    NotFound,
    #[error("an agent with this id already exists")]
    AlreadyExists,
    /// The agent is deactivated: reactivate them first (`active: true`).
    #[error("agent {0} is deactivated")]
    Deactivated(String),
    /// An input is not acceptable; `field` names it as the API does.
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
}

impl AgentError {
    fn validation(field: &str, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.to_owned(), reason: reason.into() }
    }
}

pub struct AgentServices {
    pub clock: Arc<dyn Clock>,
}

/// An agent id: 1 to [`MAX_ID_CHARS`] characters, none of them whitespace or control; the
/// error is what it must be.
pub(super) fn valid_agent_id(id: &str) -> Result<(), String> {
    let chars = id.chars().count();
    if chars == 0 || chars > MAX_ID_CHARS || id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("must be 1 to {MAX_ID_CHARS} characters, without spaces or control characters"));
    }
    Ok(())
}

/// An email as `text::Email` describes it: trimmed, blank for none, `local@domain` with one
/// `@` and no whitespace, at most [`MAX_EMAIL_CHARS`] characters as given; kept in lower case.
fn email(email: Option<String>) -> Result<Option<String>, AgentError> {
    let Some(email) = email else { return Ok(None) };
    let trimmed = email.trim();
    let refused = || AgentError::validation("email", "must be an email address (local@domain), or blank for none");
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(AgentError::validation("email", format!("must be at most {MAX_EMAIL_CHARS} characters")));
    }
    if trimmed.is_empty() {
        return Ok(None);
    }
    let (local, domain) = trimmed.split_once('@').ok_or_else(refused)?;
    if local.is_empty() || domain.is_empty() || domain.contains('@') || trimmed.chars().any(char::is_whitespace) {
        return Err(refused());
    }
    Ok(Some(trimmed.to_lowercase()))
}

impl Agent {
    /// `Some` when the agent exists in `workspace_id`.
    fn found(&self, workspace_id: Uuid) -> Result<&str, AgentError> {
        match &self.agent_id {
            Some(id) if self.workspace_id == Some(workspace_id) => Ok(id),
            _ => Err(AgentError::NotFound),
        }
    }

    fn decide(&self, command: AgentCommand) -> Result<Vec<AgentChange>, AgentError> {
        match command.action {
            AgentAction::Create { agent_id: id, name: n, email: e, role } => {
                if self.agent_id.is_some() {
                    return Err(AgentError::AlreadyExists);
                }
                valid_agent_id(&id).map_err(|r| AgentError::validation("agent_id", r))?;
                let name = name(&n).map_err(|r| AgentError::validation("name", r))?;
                let email = email(e)?;
                Ok(vec![AgentChange::Created { agent_id: id, workspace_id: command.workspace_id, name, email, role }])
            }
            AgentAction::Update { name: n, email: e, role, availability, active } => {
                let id = self.found(command.workspace_id)?.to_owned();
                let mut profile = self.profile.clone();
                if let Some(n) = n {
                    profile.name = name(&n).map_err(|r| AgentError::validation("name", r))?;
                }
                if let Some(e) = e {
                    profile.email = email(e)?;
                }
                if let Some(role) = role {
                    profile.role = role;
                }
                let active_after = active.unwrap_or(self.active);
                if !active_after && availability.is_some_and(|a| a != Availability::Offline) {
                    return Err(AgentError::Deactivated(id));
                }
                let mut changes = Vec::new();
                match active {
                    Some(true) if !self.active => changes.push(AgentChange::Reactivated { agent_id: id.clone() }),
                    Some(false) if self.active => changes.push(AgentChange::Deactivated { agent_id: id.clone() }),
                    _ => {}
                }
                if profile != self.profile {
                    let AgentProfile { name, email, role } = profile;
                    changes.push(AgentChange::Updated { agent_id: id.clone(), name, email, role });
                }
                // Deactivation and reactivation leave the agent offline.
                let availability_now =
                    if self.active == active_after { self.availability } else { Availability::Offline };
                if let Some(availability) = availability.filter(|a| *a != availability_now) {
                    changes.push(AgentChange::AvailabilityChanged { agent_id: id, availability });
                }
                Ok(changes)
            }
        }
    }
}

impl Aggregate for Agent {
    const TYPE: &'static str = "agent";
    type Command = AgentCommand;
    type Event = AgentEvent;
    type Error = AgentError;
    type Services = AgentServices;

    async fn handle(
        &mut self,
        command: AgentCommand,
        services: &AgentServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AgentError> {
        let actor = command.actor.clone();
        let occurred_at = services.clock.now();
        for change in self.decide(command)? {
            sink.write(AgentEvent { occurred_at, actor: actor.clone(), change }, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AgentEvent) {
        match event.change {
            AgentChange::Created { agent_id, workspace_id, name, email, role } => {
                self.agent_id = Some(agent_id);
                self.workspace_id = Some(workspace_id);
                self.profile = AgentProfile { name, email, role };
                self.active = true;
                self.availability = Availability::Offline;
            }
            AgentChange::Updated { name, email, role, .. } => self.profile = AgentProfile { name, email, role },
            AgentChange::AvailabilityChanged { availability, .. } => self.availability = availability,
            AgentChange::Deactivated { .. } => {
                self.active = false;
                self.availability = Availability::Offline;
            }
            AgentChange::Reactivated { .. } => {
                self.active = true;
                self.availability = Availability::Offline;
            }
        }
    }
}
