//! Messages: inbound ones a connector reports (finding or creating the thread's conversation),
//! outbound ones an agent or a bot sends within the messaging window, their delivery reports,
//! reactions, edits and deletions, through the `Conversation` aggregate; and a conversation's
//! timeline, from the timeline read model.

use axum::extract::State;
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationAction, ConversationKind, DeliveryFailure};
use convo_domain::{Actor, DeliveryStatus, MessageContent};
use convo_projection_timeline::TimelineMessage;
use convo_store::Backend;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{ActorOnly, AgentActor, Answer, CommandResponse, answer, execute};
use crate::consistency::ReadQuery;
use crate::conversations::OnAConversation;
use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Recording an inbound message.
    Inbound = [
        NotFound => "no such inbox in this workspace, `inbox_id` says which (another workspace's is answered the same)",
        NotFound => "the derived conversation belongs to another thread kind",
        Conflict => "the `message_id` is already used in this conversation",
        InboxRequired => "the inbox was deleted",
    ];
    /// Sending a message.
    Sending = [
        NotFound => "no such conversation in this workspace",
        Conflict => "the `message_id` is already used in this conversation",
        MessagingWindowClosed => "outside the window only templates may be sent (`forActor`, `expiresAt`)",
        InboxRequired => "the conversation's inbox was deleted",
        UnsupportedChannel => "the channel cannot carry this content (`channel`, `content_type`)",
        GroupLeft,
        AnnounceOnly => "the group is in announce mode and the inbox is not an admin",
        ActivityOnly => "the group keeps activity only, no messages",
        MentionNotMember => "a mention is not a current member of the group (`member_id`)",
    ];
    /// Writing a private note.
    Noting = [
        NotFound => "no such conversation in this workspace",
        Conflict => "the `message_id` is already used in this conversation",
    ];
    /// A command on a message of a conversation.
    OnAMessage = [NotFound => "no such conversation, or no such message in it (`message_id`)"];
    /// A change to a message of a conversation.
    ChangingAMessage = [
        NotFound => "no such conversation, or no such message in it (`message_id`)",
        MessageDeleted => "the message was deleted",
    ];
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
    /// The sender's identities (direct messages), the one the message came from first: e.g. the
    /// phone and, once, WhatsApp's business-scoped user id, so that later messages carrying
    /// only the new id reach the same contact and conversation. The sender resolves to the
    /// contact holding them, created if nobody does (`contact_id` in the answer). Without it,
    /// `contact_id` is read as the identity the inbox's channel names people by (a phone for
    /// SMS, RCS and WhatsApp, or WhatsApp's business-scoped id; an email address; …).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub identities: Vec<crate::contacts::IdentityInput>,
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
        Inbound,
    ),
    security(("apiKey" = ["connector"])),
)]
pub async fn receive_inbound<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiJson(mut body): ApiJson<InboundMessage>,
) -> Answer {
    let (kind, thread_key) = match (body.contact_id.take(), body.group_id.take()) {
        (Some(contact), None) => (ConversationKind::Direct, contact),
        (None, Some(group)) => (ConversationKind::Group, group),
        _ => return Err(ApiError::validation("contact_id", "exactly one of contact_id and group_id is required")),
    };
    if kind == ConversationKind::Direct {
        return receive_direct(&state, ws, thread_key, body).await;
    }
    if !body.identities.is_empty() {
        return Err(ApiError::validation("identities", "only direct messages name their sender's identities"));
    }
    let conversation_id = convo_domain::conversation_id(ws, body.inbox_id, &thread_key);
    let actor = Actor::contact(body.sender.clone().unwrap_or_else(|| thread_key.clone()));
    // Without an id of ours, the channel's message id names the message: a retry is the same message.
    let message_id = body
        .message_id
        .or_else(|| body.channel_message_id.as_deref().map(|c| convo_domain::inbound_message_id(conversation_id, c)))
        .unwrap_or_else(|| crate::idempotency::mint_id(ws, "message"));
    // The sender is a member contact: found or created by the identity its member id is on the
    // inbox's channel (a phone on WhatsApp), when it is one.
    let inbox = state.engine.inboxes.load_recent(&body.inbox_id.to_string(), convo_store::INBOX_MAX_AGE).await?.1;
    let identities = match (inbox.channel.filter(|_| inbox.workspace_id == Some(ws)), body.sender.as_deref()) {
        (Some(channel), Some(sender)) => crate::contacts::sender_identities(&[], channel, sender)?,
        _ => Vec::new(),
    };
    let inbox_id = body.inbox_id;
    let key = thread_key.clone();
    let action = move |sender_contact_id: Option<Uuid>| ConversationAction::ReceiveInboundMessage {
        contact_id: None,
        inbox_id,
        thread_key: key.clone(),
        kind,
        display_name: body.display_name.clone(),
        message_id,
        channel_message_id: body.channel_message_id.clone(),
        sent_at: body.sent_at,
        content: body.content.clone(),
        sender: body.sender.clone(),
        sender_contact_id,
        mentions: body.mentions.clone(),
    };
    if identities.is_empty() {
        return execute(&state, ws, conversation_id, actor, action(None), Some(message_id)).await;
    }
    let inbound = crate::contacts::Inbound {
        workspace_id: ws,
        inbox_id,
        thread_key,
        // The group's name is not the member's.
        display_name: None,
        actor,
        identities,
        action: Box::new(move |_, contact_id| action(Some(contact_id))),
        group: Some(conversation_id),
    };
    let received = crate::contacts::receive_direct(&state, inbound).await?;
    let response = CommandResponse {
        conversation_id: Some(received.conversation_id),
        message_id: Some(message_id),
        ..CommandResponse::bare(received.version, received.position).of_contact(received.contact_id)
    };
    answer(&received.outcome, response)
}

/// A direct inbound message: in its sender's contact's conversation on the inbox (found or
/// created, `contacts.rs`), or, when the sender has no identity the engine can read, in the
/// conversation its `contact_id` names, without a contact.
async fn receive_direct<B: Backend>(state: &AppState<B>, ws: Uuid, thread_key: String, body: InboundMessage) -> Answer {
    let inbox = state.engine.inboxes.load_recent(&body.inbox_id.to_string(), convo_store::INBOX_MAX_AGE).await?.1;
    let identities = match inbox.channel.filter(|_| inbox.workspace_id == Some(ws)) {
        Some(channel) => crate::contacts::sender_identities(&body.identities, channel, &thread_key)?,
        None => Vec::new(), // no such inbox: the conversation's command says so
    };
    let actor = Actor::contact(thread_key.clone());
    // Without an id of ours, the channel's message id names the message in its conversation:
    // a retry is the same message.
    let minted = body.message_id.unwrap_or_else(|| crate::idempotency::mint_id(ws, "message"));
    let channel_message_id = body.channel_message_id.clone();
    let given = body.message_id;
    let message_id = move |conversation_id: Uuid| match (given, &channel_message_id) {
        (None, Some(c)) => convo_domain::inbound_message_id(conversation_id, c),
        _ => minted,
    };
    let message_id_in = message_id.clone();
    let (inbox_id, display_name) = (body.inbox_id, body.display_name.clone());
    let key = thread_key.clone();
    let action = move |conversation_id: Uuid, contact_id: Option<Uuid>| ConversationAction::ReceiveInboundMessage {
        contact_id,
        inbox_id,
        thread_key: key.clone(),
        kind: ConversationKind::Direct,
        display_name: body.display_name.clone(),
        message_id: message_id(conversation_id),
        channel_message_id: body.channel_message_id.clone(),
        sent_at: body.sent_at,
        content: body.content.clone(),
        sender: body.sender.clone(),
        sender_contact_id: None,
        mentions: body.mentions.clone(),
    };
    if identities.is_empty() {
        let conversation_id = convo_domain::conversation_id(ws, inbox_id, &thread_key);
        let message_id = message_id_in(conversation_id);
        return execute(state, ws, conversation_id, actor, action(conversation_id, None), Some(message_id)).await;
    }
    let inbound = crate::contacts::Inbound {
        workspace_id: ws,
        inbox_id,
        thread_key,
        display_name,
        actor,
        identities,
        action: Box::new(move |conversation_id, contact_id| action(conversation_id, Some(contact_id))),
        group: None,
    };
    let received = crate::contacts::receive_direct(state, inbound).await?;
    let response = CommandResponse {
        conversation_id: Some(received.conversation_id),
        message_id: Some(message_id_in(received.conversation_id)),
        ..CommandResponse::bare(received.version, received.position).of_contact(received.contact_id)
    };
    answer(&received.outcome, response)
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
        Sending,
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
    execute(&state, ws, conversation_id, caller.agent_action(body.actor)?, action, Some(message_id)).await
}

/// A private note for the team, by an agent or a bot.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AddNote)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The note's id in the timeline; generated when absent.
    #[serde(default)]
    pub message_id: Option<Uuid>,
    /// Who writes it: an agent or a bot (a note has an author; the API itself writes none).
    #[schema(value_type = AgentActor)]
    pub actor: Option<Actor>,
    /// The text: 1 to 4096 characters, trimmed.
    #[schema(min_length = 1, max_length = 4096)]
    pub body: String,
    /// Agent ids the note mentions, each an active agent of the workspace: they find it in
    /// `GET /v1/agents/{agent_id}/mentions`.
    #[serde(default)]
    #[schema(value_type = Vec<convo_domain::text::AgentId>, max_items = 256)]
    pub mentions: Vec<String>,
}

/// Add a private note to a conversation's timeline: for the team only, never sent to the
/// channel (`NoteAdded`, no `MessageSent`), with no messaging window to ask and nobody's unread.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/notes",
    tag = "messages",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = NoteInput,
    responses(
        (status = 201, description = "The note is in the timeline (direction `note`); `message_id` names it", body = CommandResponse),
        Noting,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn add_note<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<NoteInput>,
) -> Answer {
    let minted_id = body.message_id.is_none();
    let message_id = body.message_id.unwrap_or_else(|| crate::idempotency::mint_id(ws, "message"));
    let action = ConversationAction::AddNote { message_id, minted_id, body: body.body, mentions: body.mentions };
    execute(&state, ws, conversation_id, caller.agent_action(body.actor)?, action, Some(message_id)).await
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
        OnAMessage,
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
    execute(&state, ws, conversation_id, actor, action, Some(message_id)).await
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
        ChangingAMessage,
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
    execute(&state, ws, conversation_id, caller.member_or_agent(body.actor)?, action, Some(message_id)).await
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
        ChangingAMessage,
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
    execute(&state, ws, conversation_id, caller.member_or_agent(body.actor)?, action, Some(message_id)).await
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
        OnAMessage,
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
    execute(&state, ws, conversation_id, actor, action, Some(message_id)).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(inline)]
    pub order: Option<Order>,
}

/// The order of a timeline page.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Asc,
    Desc,
}

/// Page through a conversation's timeline: messages with status, reactions, edits and tombstones.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages",
    tag = "messages",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ReadQuery<TimelineParams>, Paging<paging::Messages>),
    responses(
        (status = 200, description = "One page of the timeline, by seq in `order`", body = Page<TimelineMessage>),
        OnAConversation,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_messages<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Messages, ReadQuery<TimelineParams>>,
) -> Result<Listed<Page<TimelineMessage>>, ApiError> {
    let descending = matches!(p.order, Some(Order::Desc));
    let read = &state.read;
    token.wait(&state, &[&read.inbox_status, &read.timeline_status, &read.groups_status, &read.agents_status]).await?;
    if read.inbox.get(workspace_id, conversation_id).await?.is_none() {
        return Err(ApiError::not_found("conversation not found"));
    }
    let after = paging.cursor.map(i64::cast_unsigned);
    let rows = read.timeline.page(workspace_id, conversation_id, after, descending, paging.fetch()).await?;
    let mut page = paging.page(rows, |m| m.seq.cast_signed());
    let items = &mut page.items;
    // Mentions are stored as member ids: resolve each to the member's latest name.
    let mut mentioned: Vec<String> =
        items.iter().flat_map(|m| m.mentions.iter().map(|x| x.member_id.clone())).collect();
    if !mentioned.is_empty() {
        mentioned.sort();
        mentioned.dedup();
        let names: std::collections::HashMap<String, Option<String>> = read
            .groups
            .latest(workspace_id, conversation_id, &mentioned)
            .await?
            .into_iter()
            .map(|m| (m.member_id, m.display_name))
            .collect();
        for mention in items.iter_mut().flat_map(|m| m.mentions.iter_mut()) {
            mention.display_name = names.get(&mention.member_id).cloned().flatten();
        }
    }
    // A note's mentions are agent ids: resolve each to the agent's current name.
    let mut agents: Vec<String> =
        items.iter().flat_map(|m| m.mentioned_agents.iter().map(|a| a.agent_id.clone())).collect();
    if !agents.is_empty() {
        agents.sort();
        agents.dedup();
        let names: std::collections::HashMap<String, String> =
            read.agents.names(workspace_id, &agents).await?.into_iter().collect();
        for mention in items.iter_mut().flat_map(|m| m.mentioned_agents.iter_mut()) {
            mention.name = names.get(&mention.agent_id).cloned();
        }
    }
    Ok(paging.answer(page))
}
