//! How every command is run and answered: with the id of the conversation (or inbox) it was
//! for, its version and the global position of the last event written; 201 Created when the
//! domain says the command created something ([`Outcome`]), 200 otherwise.

use axum::Json;
use axum::http::StatusCode;
use convo_domain::conversation::ConversationAction;
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, Conversation, ConversationCommand, Inbox, Outcome, Written};
use convo_store::{Backend, Committed};
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::idempotency::command_metadata;
use crate::{ApiError, AppState};

/// The answer to every command.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_id: Option<Uuid>,
    /// The contact an inbound message's sender resolved to (found or created): a direct
    /// message's, or a group member whose id is an identity on the inbox's channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Uuid>,
    /// The agent a directory command was on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The team a directory command was on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// A group join request that now waits for an admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Uuid>,
    /// A group's invite code after rotating it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_code: Option<String>,
    /// The aggregate's version after the command.
    pub version: usize,
    /// Global position of the last event written (or of the latest event, when the command
    /// changed nothing): pass it as `min_position` to read your own write.
    pub position: Option<i64>,
}

impl CommandResponse {
    /// The answer of a command on the `aggregate_type` (`conversation` or `inbox`) with id `id`.
    pub(crate) fn new(aggregate_type: &str, id: Uuid, version: usize, position: Option<i64>) -> Self {
        let inbox = aggregate_type == Inbox::TYPE;
        Self {
            conversation_id: (!inbox).then_some(id),
            inbox_id: inbox.then_some(id),
            contact_id: None,
            agent_id: None,
            team_id: None,
            message_id: None,
            request_id: None,
            invite_code: None,
            version,
            position,
        }
    }

    /// The answer of a command that names no conversation or inbox (set what it names).
    pub(crate) fn bare(version: usize, position: Option<i64>) -> Self {
        Self {
            conversation_id: None,
            inbox_id: None,
            contact_id: None,
            agent_id: None,
            team_id: None,
            message_id: None,
            request_id: None,
            invite_code: None,
            version,
            position,
        }
    }

    /// This answer, about contact `contact_id`.
    pub(crate) fn of_contact(self, contact_id: Uuid) -> Self {
        Self { contact_id: Some(contact_id), ..self }
    }

    /// The answer of a command on `id` that committed.
    pub(crate) fn of<A: Aggregate>(id: Uuid, committed: &Committed<A>) -> Self {
        Self::new(A::TYPE, id, committed.version, committed.position)
    }
}

/// 201 Created when the command created something, else 200.
pub(crate) fn status(outcome: &Outcome) -> StatusCode {
    if outcome.created { StatusCode::CREATED } else { StatusCode::OK }
}

pub(crate) type Answer = Result<(StatusCode, Json<CommandResponse>), ApiError>;

/// Runs a conversation command: what it wrote, and what that means.
pub(crate) async fn run<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
    actor: Actor,
    action: ConversationAction,
) -> Result<(Committed<Conversation>, Outcome), ApiError> {
    let name = action.name();
    let meta = command_metadata(workspace_id, name);
    let command = ConversationCommand { workspace_id, actor, action };
    let committed = state.engine.conversations.execute(&conversation_id.to_string(), command, &meta).await?;
    let outcome = Outcome::of(name, committed.events.iter().map(|e| Written::from(&e.payload)));
    Ok((committed, outcome))
}

/// Runs a conversation command and answers it, naming `message_id` (the message the request
/// named or minted) whether or not anything was written.
pub(crate) async fn execute<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
    actor: Actor,
    action: ConversationAction,
    message_id: Option<Uuid>,
) -> Answer {
    let (committed, outcome) = run(state, workspace_id, conversation_id, actor, action).await?;
    answer(&outcome, CommandResponse { message_id, ..CommandResponse::of(conversation_id, &committed) })
}

/// Runs an inbox command (`name` for its metadata) and answers it.
pub(crate) async fn execute_inbox<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    inbox_id: Uuid,
    actor: Actor,
    action: InboxAction,
    name: &str,
) -> Answer {
    let meta = command_metadata(workspace_id, name);
    let command = InboxCommand { workspace_id, actor, action };
    let committed = state.engine.inboxes.execute(&inbox_id.to_string(), command, &meta).await?;
    let outcome = Outcome::of(name, committed.events.iter().map(|e| Written::from(&e.payload)));
    answer(&outcome, CommandResponse::of(inbox_id, &committed))
}

pub(crate) fn answer(outcome: &Outcome, response: CommandResponse) -> Answer {
    Ok((status(outcome), Json(response)))
}

/// Who does an agent's action (send, assign, archive, …): an agent, a bot or the API
/// (`system`); a contact never does (422 `validation`). Only its schema is used: bodies hold an
/// [`Actor`], which the key must be allowed to claim (`Caller`).
#[derive(ToSchema)]
#[allow(dead_code)] // only its schema is used
pub struct AgentActor {
    kind: AgentActorKind,
    id: String,
}

/// An [`AgentActor`]'s kind.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)] // only its schema is used
pub enum AgentActorKind {
    Agent,
    Bot,
    System,
}

/// The optional body of an agent's action that needs no other input: who does it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // only its schema is used; the body is read as an `ActorOnly`
pub struct AgentActorOnly {
    /// Who does it; by default the key's: the API itself (`system`, `api`) for a write key.
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    actor: Option<Actor>,
}

/// The optional body of a command that needs no other input: who does it.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActorOnly {
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    pub actor: Option<Actor>,
}
