//! The directory (issue #18): the people who work conversations. Two aggregates: [`Agent`],
//! one person of a workspace, known by the caller's own user id, with a profile, an
//! availability and whether they are active; and [`Team`], a named set of agents. Conversations
//! and inboxes ask [`DirectoryLookup`] whether an agent or a team exists in their workspace
//! before they name it.

mod agent;
mod team;
#[cfg(test)]
pub(crate) mod tests;

use futures::future::BoxFuture;
use uuid::Uuid;

pub use agent::{
    Agent, AgentAction, AgentChange, AgentCommand, AgentError, AgentEvent, AgentProfile, AgentRole, AgentServices,
    Availability,
};
pub use team::{Team, TeamAction, TeamChange, TeamCommand, TeamError, TeamEvent, TeamServices};

/// Longest agent or team name, in characters, after trimming.
pub const MAX_DIRECTORY_NAME_CHARS: usize = 200;
/// Longest agent email, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;
/// Most agents in one team.
pub const MAX_TEAM_AGENTS: usize = 1000;

/// The namespace of agent stream ids (UUIDv5).
pub const DIRECTORY_NAMESPACE: Uuid = Uuid::from_u128(0x5a1d_29c4_7e3b_4f60_a2d8_93c1_e4f5_0b7a);

/// The stream id of agent `agent_id` of `workspace_id`: the same for the same agent, whoever
/// asks, so a command finds the agent without a lookup table.
pub fn agent_stream_id(workspace_id: Uuid, agent_id: &str) -> Uuid {
    let mut name = Vec::with_capacity(22 + agent_id.len());
    name.extend_from_slice(workspace_id.as_bytes());
    name.extend_from_slice(b"agent:");
    name.extend_from_slice(agent_id.as_bytes());
    Uuid::new_v5(&DIRECTORY_NAMESPACE, &name)
}

/// What a conversation or an inbox needs to know about an agent it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentFacts {
    /// Deactivated agents can be neither assigned nor shown as assignable.
    pub active: bool,
}

/// Finds agents and teams of a workspace; the caller's store implements it. An agent or team
/// of another workspace is none, as one that does not exist.
pub trait DirectoryLookup: Send + Sync {
    fn agent<'a>(&'a self, workspace_id: Uuid, agent_id: &'a str) -> BoxFuture<'a, Result<Option<AgentFacts>, String>>;
    /// Whether team `team_id` exists in `workspace_id`.
    fn team(&self, workspace_id: Uuid, team_id: Uuid) -> BoxFuture<'_, Result<bool, String>>;
}

/// A name of 1 to [`MAX_DIRECTORY_NAME_CHARS`] characters as given, kept trimmed.
fn name(name: &str) -> Result<String, String> {
    let trimmed = name.trim();
    if trimmed.is_empty() || name.chars().count() > MAX_DIRECTORY_NAME_CHARS {
        return Err(format!("must be 1 to {MAX_DIRECTORY_NAME_CHARS} characters"));
    }
    Ok(trimmed.to_owned())
}
