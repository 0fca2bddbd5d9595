//! Who caused a change: every event records its actor.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    Agent,
    Bot,
    Contact,
    System,
}

/// The actor of an event: a human agent, a bot, the contact (through a connector) or the system.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: String,
}

impl Actor {
    pub fn agent(id: impl Into<String>) -> Self {
        Self { kind: ActorKind::Agent, id: id.into() }
    }
    pub fn bot(id: impl Into<String>) -> Self {
        Self { kind: ActorKind::Bot, id: id.into() }
    }
    pub fn contact(id: impl Into<String>) -> Self {
        Self { kind: ActorKind::Contact, id: id.into() }
    }
    pub fn system(id: impl Into<String>) -> Self {
        Self { kind: ActorKind::System, id: id.into() }
    }
}
