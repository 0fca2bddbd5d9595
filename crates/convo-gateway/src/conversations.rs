//! Conversations: the inbox view (filters, sort, paging), one conversation with its messaging
//! window (now, or as it was at a past position or time), the window alone; and the commands
//! that work a conversation: assignment to an agent and a team, archive, status.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationAction, ConversationKind, ConversationStatus, canonical_label};
use convo_domain::{Actor, ChannelType, Window, WindowActor, Written};
use convo_projection_inbox::ConversationSummary;
use convo_read::{ConversationQuery, Cursor, LabelCount, SortKey};
use convo_store::{Backend, ProjectionStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{ActorOnly, AgentActor, AgentActorOnly, Answer, CommandResponse, execute};
use crate::consistency::{ReadQuery, not_negative};
use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// A command or query on a conversation.
    OnAConversation = [NotFound => "no such conversation in this workspace"];
    /// Assigning an agent.
    AssignAnAgent = [
        NotFound => "no such conversation, or no such agent in this workspace (`agent_id`)",
        AgentDeactivated => "the agent is deactivated",
    ];
    /// Putting a label on or taking it off.
    ALabel = [
        NotFound => "no such conversation in this workspace",
        Validation => "the label is not 1 to 64 characters without spaces, or the conversation has 50 labels already",
    ];
    /// Assigning a team.
    AssignATeam = [NotFound => "no such conversation, or no such team in this workspace (`team_id`)"];
    /// A conversation now or as it was.
    TimeTravel = [
        NotFound => "no such conversation in this workspace (or none yet at that point)",
        Validation => "both `at_position` and `at`, or an `at_position` beyond the log's head",
    ];
}

/// Which conversations by archive state.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum Archived {
    /// Only those not archived: the inbox view.
    #[serde(rename = "false")]
    No,
    /// Only the archived ones.
    #[serde(rename = "true")]
    Yes,
    /// Both.
    #[serde(rename = "any")]
    Any,
}

/// The sort of `GET /v1/conversations`: a field, after `-` for descending, `+` (or nothing) for
/// ascending. (A `+` typed into a query string decodes to a space, which is taken as `+` too.)
fn sort_schema() -> utoipa::openapi::Object {
    let values = SortKey::NAMES.iter().flat_map(|field| ["", "+", "-"].map(|sign| format!("{sign}{field}")));
    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::String).enum_values(Some(values)).build()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this inbox's conversations.
    pub inbox_id: Option<Uuid>,
    pub status: Option<ConversationStatus>,
    /// `false` (default: the inbox view), `true` (only archived) or `any`.
    #[param(inline)]
    pub archived: Option<Archived>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Only conversations with this label (in any case).
    #[param(value_type = Option<convo_domain::text::Tag>)]
    pub label: Option<String>,
    /// Only conversations whose custom attribute has a value: `key:value`, the value as JSON
    /// writes a number or a boolean (`seats:12`, `vip:true`) and a string as it is
    /// (`plan:gold`).
    #[param(value_type = Option<String>, pattern = "^[a-z0-9_]{1,64}:")]
    pub attribute: Option<String>,
    pub kind: Option<ConversationKind>,
    pub channel: Option<ChannelType>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Only conversations with inbound messages `user_id` has not read; needs `user_id`.
    #[serde(default)]
    pub unread_only: bool,
    /// The user whose reads `unread_only` counts.
    #[param(value_type = Option<convo_domain::text::Id>)]
    pub user_id: Option<String>,
    /// A field, `-` for descending, `+` (or nothing) for ascending; default `-last_message_at`.
    #[param(schema_with = sort_schema)]
    pub sort: Option<String>,
}

/// List the workspace's conversations (the inbox view): filters, sort and cursor paging.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    params(ReadQuery<ListParams>, Paging<paging::Conversations>),
    responses(
        (status = 200, description = "One page of conversations, filtered and sorted", body = Page<ListedConversation>),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_conversations<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Conversations, ReadQuery<ListParams>>,
) -> Result<Listed<Page<ListedConversation>>, ApiError> {
    let archived = match p.archived.unwrap_or(Archived::No) {
        Archived::No => Some(false),
        Archived::Yes => Some(true),
        Archived::Any => None,
    };
    let sort = p.sort.as_deref().unwrap_or("-last_message_at");
    // A literal `+` in a query string decodes to a space.
    let (descending, field) = match sort.strip_prefix('-') {
        Some(field) => (true, field),
        None => (false, sort.strip_prefix(['+', ' ']).unwrap_or(sort)),
    };
    let sort = SortKey::parse(field).ok_or_else(|| {
        ApiError::parameter("sort", "must be last_message_at, last_activity_at or created_at, with + or -")
    })?;
    if let Some(user) = &p.user_id {
        crate::read_state::user_id(user)?;
    }
    let user_id = p.user_id.clone();
    let unread_for = match (p.unread_only, p.user_id) {
        (false, _) => None,
        (true, Some(user)) => Some(user),
        (true, None) => return Err(ApiError::parameter("user_id", "unread_only needs the user_id whose reads count")),
    };
    let label = p.label.as_deref().map(label_param).transpose()?;
    let attribute = p.attribute.as_deref().map(attribute_param).transpose()?;
    let read = &state.read;
    let mut models: Vec<&ProjectionStatus> = vec![&read.inbox_status];
    if user_id.is_some() {
        models.push(&read.unread_status);
    }
    if label.is_some() {
        models.push(&read.conversation_labels_status);
    }
    if attribute.is_some() {
        models.push(&read.conversation_attributes_status);
    }
    token.wait(&state, &models).await?;
    let query = ConversationQuery {
        workspace_id,
        inbox_id: p.inbox_id,
        status: p.status,
        archived,
        assignee: p.assignee,
        team: p.team,
        label,
        attribute,
        kind: p.kind,
        channel: p.channel,
        updated_after: p.updated_after,
        unread_for,
        sort,
        descending,
        after: paging.cursor.clone(),
        limit: paging.fetch(),
    };
    let rows = state.read.inbox.list(&query).await?;
    let page = paging.page(rows, |row| Cursor { value: sort.value(row), conversation_id: row.conversation_id });
    let unread = match &user_id {
        Some(user) => {
            let ids: Vec<Uuid> = page.items.iter().map(|c| c.conversation_id).collect();
            Some(read.unread.unread_in(user, &ids).await?)
        }
        None => None,
    };
    let items = page
        .items
        .into_iter()
        .map(|summary| {
            let unread = unread.as_ref().map(|u| u.get(&summary.conversation_id).copied().unwrap_or(0));
            ListedConversation { summary, unread }
        })
        .collect();
    Ok(paging.answer(Page { items, next_cursor: page.next_cursor }))
}

/// A conversation as the inbox list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListedConversation {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    /// With `user_id`: how many of its inbound messages that user has not read (0 when they
    /// have read them all). Absent without `user_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Time travel: as it was at this global position (every event of it at or before), folded
    /// from its events; not with `at`.
    #[param(minimum = 0)]
    pub at_position: Option<i64>,
    /// Time travel: as it was at this time (every event the log had recorded by then), RFC
    /// 3339; not with `at_position`.
    pub at: Option<DateTime<Utc>>,
}

/// The point of history `p` names, if any: 422 for both, or for a position beyond the head.
pub(crate) async fn as_of<B: Backend>(
    state: &AppState<B>,
    p: &GetParams,
) -> Result<Option<convo_read::AsOf>, ApiError> {
    match (not_negative("at_position", p.at_position)?, p.at) {
        (Some(_), Some(_)) => Err(ApiError::parameter("at", "give at_position or at, not both")),
        (Some(position), None) => {
            let head = state.engine.log.head().await?;
            if position > head {
                return Err(ApiError::parameter(
                    "at_position",
                    format!("position {position} is beyond the log's head ({head})"),
                ));
            }
            Ok(Some(convo_read::AsOf::Position(position)))
        }
        (None, Some(at)) => Ok(Some(convo_read::AsOf::Time(at))),
        (None, None) => Ok(None),
    }
}

/// A conversation as its view shows it: the inbox row plus the window for both actors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub window: Windows,
    /// Time travel only: a group's members then, with their roles then (the inbox's own member
    /// first, then admins, then by joining time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<convo_projection_groups::Membership>>,
    /// Time travel only: the last event folded (the view is as of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_of: Option<AsOfEvent>,
}

/// The last event a time-travel view folded.
#[derive(Debug, Serialize, ToSchema)]
pub struct AsOfEvent {
    pub position: i64,
    pub recorded_at: DateTime<Utc>,
    pub event_type: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Windows {
    pub agent: Window,
    pub bot: Window,
}

/// The window of a conversation for `actor` now: from when the contact last wrote and the
/// policy of its inbox; `inboxRequired` when the inbox is gone.
async fn window<B: Backend>(
    state: &AppState<B>,
    summary: &ConversationSummary,
    actor: WindowActor,
    now: DateTime<Utc>,
) -> Result<Window, ApiError> {
    let inbox = state.read.inboxes.get(summary.workspace_id, summary.inbox_id).await?;
    Ok(match inbox {
        Some(inbox) if inbox.deleted_at.is_none() => {
            summary.kind.window(&inbox.policy, actor, summary.last_inbound_at, now)
        }
        _ => Window::inbox_required(actor),
    })
}

pub(crate) async fn conversation<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    conversation_id: Uuid,
) -> Result<ConversationSummary, ApiError> {
    state
        .read
        .inbox
        .get(workspace_id, conversation_id)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation not found"))
}

/// Get a conversation with its messaging window for both actors.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ReadQuery<GetParams>),
    responses(
        (status = 200, description = "The conversation with its window for agents and bots; with `at_position` or `at`, as it was then (the window as of its last event), with a group's members then", body = ConversationView),
        TimeTravel,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn get_conversation<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ReadQuery(p, token): ReadQuery<GetParams>,
) -> Result<Json<ConversationView>, ApiError> {
    let as_of = as_of(&state, &p).await?;
    let read = &state.read;
    token.wait(&state, &[&read.inbox_status, &read.inboxes_status]).await?;
    let Some(as_of) = as_of else {
        let summary = conversation(&state, workspace_id, conversation_id).await?;
        let now = state.engine.clock.now();
        let window = Windows {
            agent: window(&state, &summary, WindowActor::Agent, now).await?,
            bot: window(&state, &summary, WindowActor::Bot, now).await?,
        };
        return Ok(Json(ConversationView { summary, window, members: None, as_of: None }));
    };
    let then = convo_read::conversation_at(&state.engine.log, Some(workspace_id), conversation_id, as_of)
        .await?
        .ok_or_else(|| ApiError::not_found("conversation not found"))?;
    let last = then.events.last().ok_or_else(|| ApiError::not_found("conversation not found"))?;
    // The window as it was when the last event happened (the engine's clock then).
    let when = Written::of(last).map_or(last.recorded_at, Written::occurred_at);
    let summary = then.summary;
    let window = Windows {
        agent: window(&state, &summary, WindowActor::Agent, when).await?,
        bot: window(&state, &summary, WindowActor::Bot, when).await?,
    };
    let members = (summary.kind == convo_domain::conversation::ConversationKind::Group).then_some(then.members);
    let as_of =
        AsOfEvent { position: last.position, recorded_at: last.recorded_at, event_type: last.event_type.clone() };
    Ok(Json(ConversationView { summary, window, members, as_of: Some(as_of) }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// `AGENT` (default) or `BOT`, in any case (`agent`, `Agent`).
    #[serde(default, deserialize_with = "any_case_actor")]
    #[param(value_type = Option<String>, pattern = "^([Aa][Gg][Ee][Nn][Tt]|[Bb][Oo][Tt])$")]
    pub actor: Option<WindowActor>,
}

/// `actor` as a parameter takes the enum in any case: a query string is typed by hand more often
/// than a body, and `agent` is what the rest of the API calls the actor kind.
fn any_case_actor<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<WindowActor>, D::Error> {
    let text = String::deserialize(deserializer)?;
    match text.to_ascii_uppercase().as_str() {
        "AGENT" => Ok(Some(WindowActor::Agent)),
        "BOT" => Ok(Some(WindowActor::Bot)),
        _ => Err(serde::de::Error::custom(format!("actor: {text:?} is not AGENT or BOT (in any case)"))),
    }
}

/// Get the messaging window of a conversation for an actor.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/window",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ReadQuery<WindowParams>),
    responses(
        (status = 200, description = "The window for the actor (`AGENT` by default)", body = Window),
        OnAConversation,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn get_window<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ReadQuery(p, token): ReadQuery<WindowParams>,
) -> Result<Json<Window>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.inbox_status, &read.inboxes_status]).await?;
    let summary = conversation(&state, workspace_id, conversation_id).await?;
    Ok(Json(window(&state, &summary, p.actor.unwrap_or(WindowActor::Agent), state.engine.clock.now()).await?))
}

/// The agent to assign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignAgent {
    /// An active agent of the workspace (`POST /v1/agents`).
    #[schema(value_type = convo_domain::text::Id)]
    pub agent_id: String,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Assign an agent: an active one of the workspace's.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/assignee",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = AssignAgent,
    responses(
        (status = 200, description = "The agent is assigned, replacing any other", body = CommandResponse),
        AssignAnAgent,
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
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// The team to assign.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignTeam {
    /// A team of the workspace (`POST /v1/teams`).
    #[schema(value_type = convo_domain::text::Id)]
    pub team_id: String,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Assign a team of the workspace.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/team",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = AssignTeam,
    responses(
        (status = 200, description = "The team is assigned, replacing any other", body = CommandResponse),
        AssignATeam,
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
    execute(&state, ws, conversation_id, actor, action, None).await
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
            execute(&state, ws, conversation_id, actor, $action, None).await
        }
    )*};
}

bodiless! {
    /// Unassign the agent
    #[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/assignee", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "No agent is assigned (idempotent)", body = CommandResponse), OnAConversation),
        security(("apiKey" = ["write"])))]
    unassign_agent => ConversationAction::UnassignAgent,
    /// Unassign the team
    #[utoipa::path(delete, path = "/v1/conversations/{conversation_id}/team", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "No team is assigned (idempotent)", body = CommandResponse), OnAConversation),
        security(("apiKey" = ["write"])))]
    unassign_team => ConversationAction::UnassignTeam,
    /// Archive the conversation
    #[utoipa::path(post, path = "/v1/conversations/{conversation_id}/archive", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "The conversation is archived (idempotent); a new inbound message unarchives it", body = CommandResponse), OnAConversation),
        security(("apiKey" = ["write"])))]
    archive => ConversationAction::Archive,
    /// Unarchive the conversation
    #[utoipa::path(post, path = "/v1/conversations/{conversation_id}/unarchive", tag = "conversations", params(("conversation_id" = Uuid, Path, description = "The conversation")),
        request_body = Option<AgentActorOnly>,
        responses((status = 200, description = "The conversation is back in the inbox view (idempotent)", body = CommandResponse), OnAConversation),
        security(("apiKey" = ["write"])))]
    unarchive => ConversationAction::Unarchive,
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
        OnAConversation,
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
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Put a label on a conversation.
#[utoipa::path(
    put,
    path = "/v1/conversations/{conversation_id}/labels/{label}",
    tag = "conversations",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("label" = convo_domain::text::Tag, Path, description = "The label, in any case: kept in lower case"),
    ),
    request_body = Option<AgentActorOnly>,
    responses(
        (status = 200, description = "The label is on (putting it on again changes nothing)", body = CommandResponse),
        ALabel,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn add_label<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, label)): ApiPath<(Uuid, String)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let label = label_param(&label)?;
    let actor = caller.agent_action(body.and_then(|b| b.actor))?;
    execute(&state, ws, conversation_id, actor, ConversationAction::AddLabel { label }, None).await
}

/// Take a label off a conversation.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/labels/{label}",
    tag = "conversations",
    params(
        ("conversation_id" = Uuid, Path, description = "The conversation"),
        ("label" = convo_domain::text::Tag, Path, description = "The label, in any case"),
    ),
    request_body = Option<AgentActorOnly>,
    responses(
        (status = 200, description = "The label is off (taking it off again changes nothing)", body = CommandResponse),
        ALabel,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn remove_label<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, label)): ApiPath<(Uuid, String)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let label = label_param(&label)?;
    let actor = caller.agent_action(body.and_then(|b| b.actor))?;
    execute(&state, ws, conversation_id, actor, ConversationAction::RemoveLabel { label }, None).await
}

/// The `attribute` filter, `key:value`, as (key, value); 422 naming `attribute`.
fn attribute_param(filter: &str) -> Result<(String, String), ApiError> {
    let refused = |reason: String| ApiError::parameter("attribute", reason);
    let (key, value) = filter.split_once(':').ok_or_else(|| refused("must be key:value".into()))?;
    convo_domain::attribute::valid_key(key).map_err(refused)?;
    Ok((key.to_owned(), value.to_owned()))
}

/// A label named in the path or the query, in its canonical spelling; 422 naming `label`.
fn label_param(label: &str) -> Result<String, ApiError> {
    canonical_label(label).map_err(|e| match e {
        convo_domain::ConversationError::Validation { reason, .. } => ApiError::parameter("label", reason),
        other => other.into(),
    })
}

/// List the labels in use in the workspace, by label, each with how many conversations carry
/// it and how many of those are open.
#[utoipa::path(
    get,
    path = "/v1/labels",
    tag = "conversations",
    params(ReadQuery, Paging<paging::Labels>),
    responses((status = 200, description = "One page of the labels in use, by label", body = Page<LabelCount>)),
    security(("apiKey" = ["read"])),
)]
pub async fn list_labels<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::Labels, ReadQuery>,
) -> Result<Listed<Page<LabelCount>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.conversation_labels_status]).await?;
    let rows = read.conversation_labels.counts(workspace_id, paging.cursor.as_deref(), paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |count| count.label.clone())))
}
