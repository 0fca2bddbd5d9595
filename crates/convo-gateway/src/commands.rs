//! Command endpoints: parse, build the command, execute, answer with the conversation (or
//! inbox) id, its version and the global position of the last event written.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use convo_domain::Conversation;
use convo_domain::conversation::{ConversationAction, ConversationKind, ConversationStatus, DeliveryFailure};
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, ChannelPolicy, ChannelType, ConversationCommand, DeliveryStatus, MessageContent};
use convo_store::{Backend, Committed};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::idempotency::command_metadata;
use crate::{ApiError, AppState};

/// The answer to every command.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommandResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inbox_id: Option<Uuid>,
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

pub(crate) type Answer = Result<(StatusCode, Json<CommandResponse>), ApiError>;

/// Runs a conversation command.
pub(crate) async fn run<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
    actor: Actor,
    action: ConversationAction,
) -> Result<Committed<Conversation>, ApiError> {
    let meta = command_metadata(workspace_id, action.name());
    let command = ConversationCommand { workspace_id, actor, action };
    Ok(state.engine.conversations.execute(&conversation_id.to_string(), command, &meta).await?)
}

impl CommandResponse {
    /// The answer for a conversation command that committed.
    pub(crate) fn of(conversation_id: Uuid, committed: &Committed<Conversation>) -> Self {
        Self {
            conversation_id: Some(conversation_id),
            inbox_id: None,
            message_id: None,
            request_id: None,
            invite_code: None,
            version: committed.version,
            position: committed.position,
        }
    }
}

pub(crate) async fn execute<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
    actor: Actor,
    action: ConversationAction,
    status: StatusCode,
    message_id: Option<Uuid>,
) -> Answer {
    let committed = run(state, workspace_id, conversation_id, actor, action).await?;
    // A repeat that changed nothing (the same inbound message again) created nothing.
    let status = if committed.events.is_empty() && status == StatusCode::CREATED { StatusCode::OK } else { status };
    Ok((status, Json(CommandResponse { message_id, ..CommandResponse::of(conversation_id, &committed) })))
}

/// Connect a channel account as an inbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInbox {
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = convo_domain::text::Id)]
    pub name: String,
    pub channel_type: ChannelType,
    #[serde(default)]
    pub policy: Option<ChannelPolicy>,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Create an inbox: a connected channel account with its channel type and optional policy override.
#[utoipa::path(
    post,
    path = "/v1/inboxes",
    tag = "inboxes",
    request_body = CreateInbox,
    responses(
        (status = 201, description = "The inbox was created; `inbox_id`, its version and position", body = CommandResponse),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn create_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<CreateInbox>,
) -> Answer {
    // The engine mints inbox ids: a caller-chosen one could collide with another workspace's
    // inbox, and the refusal would tell that it exists. Retry safely with an Idempotency-Key.
    let inbox_id = crate::idempotency::mint_id(ws, "inbox");
    let command = InboxCommand {
        workspace_id: ws,
        actor: caller.agent_action(body.actor)?,
        action: InboxAction::Create { inbox_id, name: body.name, channel: body.channel_type, policy: body.policy },
    };
    let meta = command_metadata(ws, "create_inbox");
    let committed = state.engine.inboxes.execute(&inbox_id.to_string(), command, &meta).await?;
    Ok((
        StatusCode::CREATED,
        Json(CommandResponse {
            conversation_id: None,
            inbox_id: Some(inbox_id),
            message_id: None,
            request_id: None,
            invite_code: None,
            version: committed.version,
            position: committed.position,
        }),
    ))
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

/// Delete an inbox; its conversations stay readable but can no longer send.
#[utoipa::path(
    delete,
    path = "/v1/inboxes/{inbox_id}",
    tag = "inboxes",
    params(("inbox_id" = Uuid, Path, description = "The inbox")),
    request_body = Option<AgentActorOnly>,
    responses(
        (status = 200, description = "The inbox is deleted (deleting it again changes nothing)", body = CommandResponse),
        (status = 404, description = "`notFound`: no such inbox in this workspace", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn delete_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(inbox_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let command = InboxCommand {
        workspace_id: ws,
        actor: caller.agent_action(body.and_then(|b| b.actor))?,
        action: InboxAction::Delete,
    };
    let meta = command_metadata(ws, "delete_inbox");
    let committed = state.engine.inboxes.execute(&inbox_id.to_string(), command, &meta).await?;
    Ok((
        StatusCode::OK,
        Json(CommandResponse {
            conversation_id: None,
            inbox_id: Some(inbox_id),
            message_id: None,
            request_id: None,
            invite_code: None,
            version: committed.version,
            position: committed.position,
        }),
    ))
}

/// An inbound message as a connector reports it. Exactly one of `contact_id` (direct
/// conversation) and `group_id` (group conversation) is required; with the inbox it names the thread.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = ReceiveInboundMessage)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    pub inbox_id: Uuid,
    /// The contact's id on the channel (direct conversations); exactly one of this and `group_id`.
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub contact_id: Option<String>,
    /// The group's id on the channel (group conversations).
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub group_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    /// The member who wrote a group message: required, not blank, with `group_id`.
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(default)]
    pub message_id: Option<Uuid>,
    #[serde(default)]
    pub channel_message_id: Option<String>,
    /// When the contact sent it; the messaging window counts from here. At most 5 minutes
    /// ahead of the server's clock, or `validation`.
    pub sent_at: DateTime<Utc>,
    pub content: MessageContent,
    /// Member ids the message mentions (group messages only), as the channel reported them.
    #[serde(default)]
    #[schema(value_type = Vec<convo_domain::text::Id>, max_items = 256)]
    pub mentions: Vec<String>,
}

/// Record an inbound message (connectors): finds or creates the thread's conversation.
#[utoipa::path(
    post,
    path = "/v1/inbound-messages",
    tag = "messages",
    request_body = InboundMessage,
    responses(
        (status = 201, description = "The message is recorded in the thread's conversation, created, reopened or unarchived as needed", body = CommandResponse),
        (status = 200, description = "The same inbound message again (a connector's retry): it was recorded once, nothing changed", body = CommandResponse),
        (status = 404, description = "`notFound` (with `inbox_id`): no such inbox in this workspace (another workspace's is answered the same); `notFound`: the derived conversation belongs to another thread kind", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the `message_id` is already used in this conversation", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it); `inboxRequired`: the inbox was deleted", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["connector"])),
)]
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
    // Without an id of ours, the channel's message id names the message: a retry is the same message.
    let message_id = body
        .message_id
        .or_else(|| body.channel_message_id.as_deref().map(|c| convo_domain::inbound_message_id(conversation_id, c)))
        .unwrap_or_else(|| crate::idempotency::mint_id(ws, "message"));
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
        mentions: body.mentions,
    };
    execute(&state, ws, conversation_id, actor, action, StatusCode::CREATED, Some(message_id)).await
}

/// An outbound message from an agent or a bot.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// The message's id; generated when absent. Connectors report statuses for it.
    #[serde(default)]
    pub message_id: Option<Uuid>,
    /// Who does it; by default the key's: the API itself (`system`, `api`) for a write key.
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
    pub content: MessageContent,
    /// Members to mention (group conversations only): each must be a current member, or
    /// `mentionNotMember`. Stored as member ids, so a renamed member still resolves.
    #[serde(default)]
    #[schema(value_type = Vec<convo_domain::text::Id>, max_items = 256)]
    pub mentions: Vec<String>,
}

/// Send a message as an agent or a bot, within the messaging window.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/messages",
    tag = "messages",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = SendMessage,
    responses(
        (status = 201, description = "The message is accepted for delivery (`MessageSent` published to connectors)", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`conflict`: the `message_id` is already used in this conversation", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`messagingWindowClosed` (with `forActor`, `expiresAt`): outside the window only templates may be sent; `inboxRequired`: the conversation's inbox was deleted; `unsupportedChannel` (with `channel`, `content_type`): the channel cannot carry this content; in groups, `groupLeft`: the inbox has left the group, `announceOnly`: only admins send and the inbox is not one, `activityOnly`: the group keeps no messages, `mentionNotMember` (with `member_id`): a mention is not a current member; `validation`", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn send_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SendMessage>,
) -> Answer {
    // An id minted here is new, or (derived from an Idempotency-Key) was minted by a retry of
    // this request moments ago: the conversation need not look it up past the 256 messages it
    // remembers, which would be a query per send.
    let minted_id = body.message_id.is_none();
    let message_id = body.message_id.unwrap_or_else(|| crate::idempotency::mint_id(ws, "message"));
    let action =
        ConversationAction::SendMessage { message_id, minted_id, content: body.content, mentions: body.mentions };
    execute(
        &state,
        ws,
        conversation_id,
        caller.agent_action(body.actor)?,
        action,
        StatusCode::CREATED,
        Some(message_id),
    )
    .await
}

/// A delivery status report from a connector: `sent`, `delivered`, `read`, or `failed` with a failure.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = RecordDeliveryStatus)]
#[serde(deny_unknown_fields)]
pub struct StatusReport {
    pub status: DeliveryStatus,
    #[serde(default)]
    pub failure: Option<DeliveryFailure>,
    /// When the channel reported it; defaults to now.
    #[serde(default)]
    pub reported_at: Option<DateTime<Utc>>,
    /// Who reports it; by default the connector (`system`, `connector`).
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Report an outbound message's delivery status (connectors).
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/status",
    tag = "messages",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    request_body = StatusReport,
    responses(
        (status = 200, description = "The report is recorded if it moves the status forward; late or duplicate reports change nothing", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation, or no such message in it (`message_id`)", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["connector"])),
)]
pub async fn record_status<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<StatusReport>,
) -> Answer {
    let action = ConversationAction::RecordDeliveryStatus {
        message_id,
        status: body.status,
        failure: body.failure,
        reported_at: body.reported_at.unwrap_or_else(Utc::now),
    };
    let actor = caller.channel_fact(body.actor, crate::auth::channel())?;
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, Some(message_id)).await
}

/// A reaction to a message.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = React)]
#[serde(deny_unknown_fields)]
pub struct Reaction {
    /// Who reacts: a contact (a `connector` key) or an agent, a bot or the API (a `write` key);
    /// by default the key's.
    #[serde(default)]
    pub actor: Option<Actor>,
    /// The emoji (at most 16 characters); empty removes the actor's reaction.
    #[schema(max_length = 16)]
    pub emoji: String,
}

/// Set, replace or remove (empty emoji) the actor's reaction to a message.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}/reactions",
    tag = "messages",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    request_body = Reaction,
    responses(
        (status = 200, description = "The actor's reaction is set, replaced, or removed (empty `emoji`)", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation, or no such message in it (`message_id`)", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`messageDeleted`: the message was deleted", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn react<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<Reaction>,
) -> Answer {
    let action = ConversationAction::React { message_id, emoji: body.emoji };
    execute(&state, ws, conversation_id, caller.member_or_agent(body.actor)?, action, StatusCode::OK, Some(message_id))
        .await
}

/// New content for a message (text only).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditMessage {
    /// Who does it; by default the key's: the API itself (`system`, `api`) for a write key.
    #[serde(default)]
    pub actor: Option<Actor>,
    pub content: MessageContent,
}

/// Replace a message's content (text only).
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}",
    tag = "messages",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    request_body = EditMessage,
    responses(
        (status = 200, description = "The message's content is replaced", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation, or no such message in it (`message_id`)", body = ApiError, content_type = "application/problem+json"),
        (status = 409, description = "`messageDeleted`: the message was deleted", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn edit_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    ApiJson(body): ApiJson<EditMessage>,
) -> Answer {
    let action = ConversationAction::EditMessage { message_id, content: body.content };
    execute(&state, ws, conversation_id, caller.member_or_agent(body.actor)?, action, StatusCode::OK, Some(message_id))
        .await
}

/// Delete a message, keeping a tombstone.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/messages/{message_id}",
    tag = "messages",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("message_id" = Uuid, Path, description = "The message"),
    ),
    request_body = Option<ActorOnly>,
    responses(
        (status = 200, description = "The message is deleted (a tombstone stays; deleting again changes nothing)", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation, or no such message in it (`message_id`)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn delete_message<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, message_id)): ApiPath<(Uuid, Uuid)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let actor = caller.member_or_agent(body.and_then(|b| b.actor))?;
    let action = ConversationAction::DeleteMessage { message_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, Some(message_id)).await
}

/// The agent to assign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignAgent {
    #[schema(value_type = convo_domain::text::Id)]
    pub agent_id: String,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Assign an agent.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/assignee",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = AssignAgent,
    responses(
        (status = 200, description = "The agent is assigned, replacing any other", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn assign_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignAgent>,
) -> Answer {
    let actor = caller.agent_action(body.actor)?;
    let action = ConversationAction::AssignAgent { agent_id: body.agent_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

/// The team to assign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTeam {
    #[schema(value_type = convo_domain::text::Id)]
    pub team_id: String,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Assign a team.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/team",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = AssignTeam,
    responses(
        (status = 200, description = "The team is assigned, replacing any other", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn assign_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AssignTeam>,
) -> Answer {
    let actor = caller.agent_action(body.actor)?;
    let action = ConversationAction::AssignTeam { team_id: body.team_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

/// Endpoints whose only input is the conversation (and optionally the actor).
macro_rules! bodiless {
    ($($(#[$attr:meta])* $name:ident => $action:expr),* $(,)?) => {$(
        $(#[$attr])*
        pub async fn $name<B: Backend>(
            State(state): State<AppState<B>>,
            Workspace(ws): Workspace,
            caller: Caller,
            ApiPath(conversation_id): ApiPath<Uuid>,
            OptionalJson(body): OptionalJson<ActorOnly>,
        ) -> Answer {
            let actor = caller.agent_action(body.and_then(|b| b.actor))?;
            execute(&state, ws, conversation_id, actor, $action, StatusCode::OK, None).await
        }
    )*};
}

bodiless! {
    /// Unassign the agent
    #[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/assignee", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "No agent is assigned (idempotent)", body = CommandResponse), (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json")),
        security(("apiKey" = ["write"])))]
    unassign_agent => ConversationAction::UnassignAgent,
    /// Unassign the team
    #[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/team", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "No team is assigned (idempotent)", body = CommandResponse), (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json")),
        security(("apiKey" = ["write"])))]
    unassign_team => ConversationAction::UnassignTeam,
    /// Archive the conversation
    #[utoipa::path(post, path = "/v1/conversations/{conversation_id}/archive", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "The conversation is archived (idempotent); a new inbound message unarchives it", body = CommandResponse), (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json")),
        security(("apiKey" = ["write"])))]
    archive => ConversationAction::Archive,
    /// Unarchive the conversation
    #[utoipa::path(post, path = "/v1/conversations/{conversation_id}/unarchive", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "The conversation is back in the inbox view (idempotent)", body = CommandResponse), (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json")),
        security(("apiKey" = ["write"])))]
    unarchive => ConversationAction::Unarchive,
}

/// A user's read marker.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    #[schema(value_type = convo_domain::text::Id)]
    pub user_id: String,
    /// The last message the user has read; absent: everything so far (the latest message and,
    /// in an activity-only group, its latest activity, which clears the unread dot).
    #[serde(default)]
    pub message_id: Option<Uuid>,
}

/// Move a user's read marker forward to a message.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/read",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = MarkRead,
    responses(
        (status = 200, description = "The user's read marker is at the message, or at the latest one and the latest activity (never moves back)", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation, or no such message in it (`message_id`)", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn mark_read<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MarkRead>,
) -> Answer {
    let actor = caller.agent_action(Some(Actor::agent(body.user_id.clone())))?;
    let action = ConversationAction::MarkRead { user_id: body.user_id, message_id: body.message_id };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}

/// A new status; `snoozed` needs `snoozed_until`, in the future; the others take none.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStatus {
    pub status: ConversationStatus,
    #[serde(default)]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Change the status: open, pending, snoozed (until a time) or closed.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/status",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = ChangeStatus,
    responses(
        (status = 200, description = "The status is changed", body = CommandResponse),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a field is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn change_status<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeStatus>,
) -> Answer {
    let actor = caller.agent_action(body.actor)?;
    let action = ConversationAction::ChangeStatus { status: body.status, snoozed_until: body.snoozed_until };
    execute(&state, ws, conversation_id, actor, action, StatusCode::OK, None).await
}
