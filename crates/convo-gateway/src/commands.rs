//! Command endpoints: parse, build the command, execute, answer with the conversation (or
//! inbox) id, its version and the global position of the last event written.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationAction, ConversationKind, ConversationStatus, DeliveryFailure};
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, ChannelPolicy, ChannelType, ConversationCommand, DeliveryStatus, MessageContent};
use convo_store::{Backend, metadata};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::{ApiError, AppState};

/// The answer to every command.
#[derive(Debug, Serialize)]
pub struct CommandResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<Uuid>,
    /// The aggregate's version after the command.
    pub version: usize,
    /// Global position of the last event written (or of the latest event, when the command
    /// changed nothing): pass it as `min_position` to read your own write.
    pub position: Option<i64>,
}

type Answer = Result<(StatusCode, Json<CommandResponse>), ApiError>;

/// The actor of a command that names none: the API itself.
fn api_actor() -> Actor {
    Actor::system("api")
}

async fn execute<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
    actor: Actor,
    action: ConversationAction,
    status: StatusCode,
    message_id: Option<Uuid>,
) -> Answer {
    let name = action.name();
    let meta = metadata(workspace_id, [("command".to_owned(), name.to_owned())]);
    let command = ConversationCommand { workspace_id, actor, action };
    let committed = state.engine.conversations.execute(&conversation_id.to_string(), command, &meta).await?;
    Ok((
        status,
        Json(CommandResponse {
            conversation_id: Some(conversation_id),
            inbox_id: None,
            message_id,
            version: committed.version,
            position: committed.position,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInbox {
    #[serde(default)]
    pub inbox_id: Option<Uuid>,
    pub name: String,
    pub channel_type: ChannelType,
    #[serde(default)]
    pub policy: Option<ChannelPolicy>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn create_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiJson(body): ApiJson<CreateInbox>,
) -> Answer {
    let inbox_id = body.inbox_id.unwrap_or_else(Uuid::now_v7);
    let command = InboxCommand {
        workspace_id: ws,
        actor: body.actor.unwrap_or_else(api_actor),
        action: InboxAction::Create { inbox_id, name: body.name, channel: body.channel_type, policy: body.policy },
    };
    let meta = metadata(ws, [("command".to_owned(), "create_inbox".to_owned())]);
    let committed = state.engine.inboxes.execute(&inbox_id.to_string(), command, &meta).await?;
    Ok((
        StatusCode::CREATED,
        Json(CommandResponse {
            conversation_id: None,
            inbox_id: Some(inbox_id),
            message_id: None,
            version: committed.version,
            position: committed.position,
        }),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorOnly {
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn delete_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(inbox_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let command = InboxCommand {
        workspace_id: ws,
        actor: body.and_then(|b| b.actor).unwrap_or_else(api_actor),
        action: InboxAction::Delete,
    };
    let meta = metadata(ws, [("command".to_owned(), "delete_inbox".to_owned())]);
    let committed = state.engine.inboxes.execute(&inbox_id.to_string(), command, &meta).await?;
    Ok((
        StatusCode::OK,
        Json(CommandResponse {
            conversation_id: None,
            inbox_id: Some(inbox_id),
            message_id: None,
            version: committed.version,
            position: committed.position,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    pub inbox_id: Uuid,
    /// The contact's id on the channel (direct conversations); exactly one of this and `group_id`.
    #[serde(default)]
    pub contact_id: Option<String>,
    /// The group's id on the channel (group conversations).
    #[serde(default)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The member who wrote a group message.
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub message_id: Option<Uuid>,
    #[serde(default)]
    pub channel_message_id: Option<String>,
    /// When the contact sent it; the messaging window counts from here.
    pub sent_at: DateTime<Utc>,
    pub content: MessageContent,
}

pub async fn receive_inbound<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiJson(body): ApiJson<InboundMessage>,
) -> Answer {
    let (kind, thread_key) = match (body.contact_id, body.group_id) {
        (Some(contact), None) => (ConversationKind::Direct, contact),
        (None, Some(group)) => (ConversationKind::Group, group),
        _ => return Err(ApiError::validation("contact_id", "exactly one of contact_id and group_id is required")),
    };
    let conversation_id = convo_domain::conversation_id(ws, body.inbox_id, &thread_key);
    let actor = Actor::contact(body.sender.clone().unwrap_or_else(|| thread_key.clone()));
    let message_id = body.message_id.unwrap_or_else(Uuid::now_v7);
    let action = ConversationAction::ReceiveInboundMessage {
        inbox_id: body.inbox_id,
        thread_key,
        kind,
        display_name: body.display_name,
        message_id,
        channel_message_id: body.channel_message_id,
        sent_at: body.sent_at,
        content: body.content,
        sender: body.sender,
    };
    execute(&state, ws, conversation_id, actor, action, StatusCode::CREATED, Some(message_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    #[serde(default)]
    pub message_id: Option<Uuid>,
    pub actor: Actor,
    pub content: MessageContent,
}

pub async fn send_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SendMessage>,
) -> Answer {
    let message_id = body.message_id.unwrap_or_else(Uuid::now_v7);
    let action = ConversationAction::SendMessage { message_id, content: body.content };
    execute(&state, ws, conversation_id, body.actor, action, StatusCode::CREATED, Some(message_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub status: DeliveryStatus,
    #[serde(default)]
    pub failure: Option<DeliveryFailure>,
    /// When the channel reported it; defaults to now.
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn record_status<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<StatusReport>,
) -> Answer {
    let action = ConversationAction::RecordDeliveryStatus {
        message_id,
        status: body.status,
        failure: body.failure,
        reported_at: body.reported_at.unwrap_or_else(Utc::now),
    };
    let actor = body.actor.unwrap_or_else(|| Actor::system("connector"));
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, Some(message_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    pub actor: Actor,
    /// The emoji; empty removes the actor's reaction.
    pub emoji: String,
}

pub async fn react<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Reaction>,
) -> Answer {
    let action = ConversationAction::React { message_id, emoji: body.emoji };
    execute(&state, ws, conversation_id, body.actor, action, StatusCode::OK, Some(message_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    pub actor: Actor,
    pub content: MessageContent,
}

pub async fn edit_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<EditMessage>,
) -> Answer {
    let action = ConversationAction::EditMessage { message_id, content: body.content };
    execute(&state, ws, conversation_id, body.actor, action, StatusCode::OK, Some(message_id)).await
}

pub async fn delete_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let actor = body.and_then(|b| b.actor).unwrap_or_else(api_actor);
    let action = ConversationAction::DeleteMessage { message_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, Some(message_id)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignAgent {
    pub agent_id: String,
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn assign_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignAgent>,
) -> Answer {
    let actor = body.actor.unwrap_or_else(api_actor);
    let action = ConversationAction::AssignAgent { agent_id: body.agent_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignTeam {
    pub team_id: String,
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn assign_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignTeam>,
) -> Answer {
    let actor = body.actor.unwrap_or_else(api_actor);
    let action = ConversationAction::AssignTeam { team_id: body.team_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

/// Endpoints whose only input is the conversation (and optionally the actor).
macro_rules! bodiless {
    ($($name:ident => $action:expr),* $(,)?) => {$(
        pub async fn $name<B: Backend>(
            State(state): State<AppState<B>>,
            Workspace(ws): Workspace,
            ApiPath(conversation_id): ApiPath<Uuid>,
            OptionalJson(body): OptionalJson<ActorOnly>,
        ) -> Answer {
            let actor = body.and_then(|b| b.actor).unwrap_or_else(api_actor);
            execute(&state, ws, conversation_id, actor, $action, StatusCode::OK, None).await
        }
    )*};
}

bodiless! {
    unassign_agent => ConversationAction::UnassignAgent,
    unassign_team => ConversationAction::UnassignTeam,
    archive => ConversationAction::Archive,
    unarchive => ConversationAction::Unarchive,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    pub user_id: String,
    /// The last message the user has read.
    pub message_id: Uuid,
}

pub async fn mark_read<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MarkRead>,
) -> Answer {
    let actor = Actor::agent(body.user_id.clone());
    let action = ConversationAction::MarkRead { user_id: body.user_id, message_id: body.message_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    pub status: ConversationStatus,
    #[serde(default)]
    pub snoozed_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

pub async fn change_status<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeStatus>,
) -> Answer {
    let actor = body.actor.unwrap_or_else(api_actor);
    let action = ConversationAction::ChangeStatus { status: body.status, snoozed_until: body.snoozed_until };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}
