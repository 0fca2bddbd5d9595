//! Query endpoints: answered from read models only, never by loading an aggregate. Each takes
//! `min_position` (parameter or `X-Convo-Min-Position` header) to read the caller's own writes.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationKind, ConversationStatus};
use convo_domain::{ChannelType, Window, WindowActor};
use convo_projection_inbox::ConversationSummary;
use convo_projection_inboxes::InboxView;
use convo_projection_timeline::TimelineMessage;
use convo_read::{ConversationQuery, Cursor, SortKey, UnreadSummary};
use convo_store::{Backend, LogEvent, ProjectionStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::Code;
use crate::extract::{ApiPath, Workspace};
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

/// The header carrying a consistency token, as an alternative to the `min_position` parameter.
pub const MIN_POSITION_HEADER: &str = "x-convo-min-position";

/// Query-string parameters; unknown ones and malformed values are a 422 validation error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| ApiError::parameter("query", e.body_text()))
    }
}

/// `min_position` from the header (the parameter is part of each endpoint's parameters).
pub struct MinPositionHeader(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for MinPositionHeader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(MIN_POSITION_HEADER) {
            None => Ok(Self(None)),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .filter(|p: &i64| *p >= 0)
                .map(|p| Self(Some(p)))
                .ok_or_else(|| ApiError::parameter(MIN_POSITION_HEADER, "must be a position: an integer, 0 or more")),
        }
    }
}

/// A parameter that must be 0 or more (a position or a sequence).
pub(crate) fn not_negative(field: &str, value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if v < 0 => Err(ApiError::parameter(field, "must be 0 or more")),
        other => Ok(other),
    }
}

/// The consistency token of a query: the `min_position` parameter, else the header.
pub(crate) fn min_position(
    parameter: Option<i64>,
    header: Option<i64>,
) -> Result<Option<(i64, &'static str)>, ApiError> {
    Ok(match not_negative("min_position", parameter)? {
        Some(p) => Some((p, "min_position")),
        None => header.map(|p| (p, MIN_POSITION_HEADER)),
    })
}

/// Waits until every read model in `models` has folded the log up to the consistency token.
/// A position beyond the log's head is 422 at once: no command answered it, so no wait would
/// reach it. One the log has but a read model does not reach in time is 503 `notYetConsistent`.
pub(crate) async fn consistent<B: Backend>(
    state: &AppState<B>,
    models: &[&ProjectionStatus],
    token: Option<(i64, &'static str)>,
) -> Result<(), ApiError> {
    let Some((position, field)) = token else { return Ok(()) };
    for model in models {
        if let Some(error) = model.error() {
            tracing::error!(projection = model.name, %error, "query on a stopped read model");
            return Err(ApiError::new(
                Code::ReadModelStopped,
                format!("the {} read model has stopped; see /readyz", model.name),
            ));
        }
    }
    // Only when there is something to wait for: the head is `max(position)`, one index lookup.
    if models.iter().any(|model| model.position() < position) {
        let head = state.engine.log.head().await?;
        if position > head {
            return Err(ApiError::parameter(
                field,
                format!("position {position} is beyond the log's head ({head}): pass a position a command answered"),
            ));
        }
    }
    for model in models {
        if !model.wait_for(position, state.read.consistency_wait).await {
            return Err(ApiError::new(
                Code::NotYetConsistent,
                format!("the {} read model has not reached position {position} yet; retry", model.name),
            )
            .retry_after(1));
        }
    }
    Ok(())
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
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

/// List the workspace's conversations (the inbox view): filters, sort and cursor paging.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    params(ListParams, Paging<paging::Conversations>),
    responses(
        (status = 200, description = "One page of conversations, filtered and sorted", body = Page<ConversationSummary>),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_conversations<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ListQuery(paging, p): ListQuery<paging::Conversations, ListParams>,
) -> Result<Listed<Page<ConversationSummary>>, ApiError> {
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
        user_id(user)?;
    }
    let unread_for = match (p.unread_only, p.user_id) {
        (false, _) => None,
        (true, Some(user)) => Some(user),
        (true, None) => return Err(ApiError::parameter("user_id", "unread_only needs the user_id whose reads count")),
    };
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    let models: &[&ProjectionStatus] =
        if unread_for.is_some() { &[&read.inbox_status, &read.unread_status] } else { &[&read.inbox_status] };
    consistent(&state, models, token).await?;
    let query = ConversationQuery {
        workspace_id,
        inbox_id: p.inbox_id,
        status: p.status,
        archived,
        assignee: p.assignee,
        team: p.team,
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
    Ok(paging.answer(page))
}

/// The parameters of a query that takes only the consistency token.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyParams {
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
    /// Time travel: the conversation as it was at this global position (every event of it at or
    /// before), folded from its events; not with `at`.
    #[param(minimum = 0)]
    pub at_position: Option<i64>,
    /// Time travel: the conversation as it was at this time (every event the log had recorded
    /// by then), RFC 3339; not with `at_position`.
    pub at: Option<DateTime<Utc>>,
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
    params(("conversation_id" = Uuid, Path, description = "The conversation"), GetParams),
    responses(
        (status = 200, description = "The conversation with its window for agents and bots; with `at_position` or `at`, as it was then (the window as of its last event), with a group's members then", body = ConversationView),
        (status = 404, description = "`notFound`: no such conversation in this workspace (or none yet at that point)", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it): both `at_position` and `at`, or a position beyond the log's head", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn get_conversation<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<GetParams>,
) -> Result<Json<ConversationView>, ApiError> {
    let token = min_position(p.min_position, header)?;
    let as_of = match (not_negative("at_position", p.at_position)?, p.at) {
        (Some(_), Some(_)) => return Err(ApiError::parameter("at", "give at_position or at, not both")),
        (Some(position), None) => {
            let head = state.engine.log.head().await?;
            if position > head {
                return Err(ApiError::parameter(
                    "at_position",
                    format!("position {position} is beyond the log's head ({head})"),
                ));
            }
            Some(convo_read::AsOf::Position(position))
        }
        (None, Some(at)) => Some(convo_read::AsOf::Time(at)),
        (None, None) => None,
    };
    let read = &state.read;
    consistent(&state, &[&read.inbox_status, &read.inboxes_status], token).await?;
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
    let when = last.payload["occurred_at"].as_str().and_then(|t| t.parse().ok()).unwrap_or(last.recorded_at);
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
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
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
    params(("conversation_id" = Uuid, Path, description = "The conversation"), WindowParams),
    responses(
        (status = 200, description = "The window for the actor (`AGENT` by default)", body = Window),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn get_window<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<Window>, ApiError> {
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    consistent(&state, &[&read.inbox_status, &read.inboxes_status], token).await?;
    let summary = conversation(&state, workspace_id, conversation_id).await?;
    Ok(Json(window(&state, &summary, p.actor.unwrap_or(WindowActor::Agent), state.engine.clock.now()).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxesParams {
    /// Include deleted inboxes (default false).
    #[serde(default)]
    pub include_deleted: bool,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

/// List the workspace's inboxes.
#[utoipa::path(
    get,
    path = "/v1/inboxes",
    tag = "inboxes",
    params(InboxesParams, Paging<paging::Inboxes>),
    responses(
        (status = 200, description = "One page of the workspace's inboxes with the policy in force, by id", body = Page<InboxView>),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_inboxes<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ListQuery(paging, p): ListQuery<paging::Inboxes, InboxesParams>,
) -> Result<Listed<Page<InboxView>>, ApiError> {
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    consistent(&state, &[&read.inboxes_status], token).await?;
    let rows = read.inboxes.list(workspace_id, p.include_deleted, paging.cursor, paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |inbox| inbox.inbox_id)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(inline)]
    pub order: Option<Order>,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
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
    params(("conversation_id" = Uuid, Path, description = "The conversation"), TimelineParams, Paging<paging::Messages>),
    responses(
        (status = 200, description = "One page of the timeline, by seq in `order`", body = Page<TimelineMessage>),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_messages<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, p): ListQuery<paging::Messages, TimelineParams>,
) -> Result<Listed<Page<TimelineMessage>>, ApiError> {
    let descending = matches!(p.order, Some(Order::Desc));
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    consistent(&state, &[&read.inbox_status, &read.timeline_status, &read.groups_status], token).await?;
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
    Ok(paging.answer(page))
}

/// Read the workspace's slice of the global log, in commit order, after a position.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "log",
    params(Paging<paging::Events>),
    responses(
        (status = 200, description = "Events after the cursor (or `after`), in commit order. The last page is the log's head now: `next_cursor` is null there, and a reader that follows the log asks again with `after` = the last event's `position` (or follows `/v1/stream`)", body = Page<LogEvent>),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_events<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, _): ListQuery<paging::Events>,
) -> Result<Listed<Page<LogEvent>>, ApiError> {
    let after = paging.cursor.unwrap_or(0);
    let events = state.engine.log.read_workspace(&workspace_id.to_string(), after, paging.fetch() as usize).await?;
    Ok(paging.answer(paging.page(events, |e| e.position)))
}

/// Read one conversation's events in sequence order, after a sequence.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/events",
    tag = "log",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), Paging<paging::ConversationEvents>),
    responses(
        (status = 200, description = "The conversation's events after the cursor (or the sequence `after`), in sequence order", body = Page<LogEvent>),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn conversation_events<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, _): ListQuery<paging::ConversationEvents>,
) -> Result<Listed<Page<LogEvent>>, ApiError> {
    use convo_domain::Conversation;
    use cqrs_es::Aggregate;
    let after = paging.cursor.unwrap_or(0);
    let log = &state.engine.log;
    let id = conversation_id.to_string();
    let events = log.read_aggregate(Conversation::TYPE, &id, after, paging.fetch() as usize).await?;
    let first = match events.first() {
        Some(e) => Some(e.clone()),
        None => log.read_aggregate(Conversation::TYPE, &id, 0, 1).await?.pop(),
    };
    let workspace = workspace_id.to_string();
    if first.is_none_or(|e| e.workspace_id.as_deref() != Some(workspace.as_str())) {
        return Err(ApiError::not_found("conversation not found"));
    }
    Ok(paging.answer(paging.page(events, |e| e.sequence)))
}

/// Get a user's unread summary across the workspace.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/unread-summary",
    tag = "read state",
    params(("user_id" = convo_domain::text::Id, Path, description = "The user whose reads count"), ConsistencyParams),
    responses(
        (status = 200, description = "Unread messages and conversations, per inbox, with a monotonic `version`", body = UnreadSummary),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn unread_summary<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiPath(user_id): ApiPath<String>,
    ApiQuery(p): ApiQuery<ConsistencyParams>,
) -> Result<Json<UnreadSummary>, ApiError> {
    self::user_id(&user_id)?;
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    consistent(&state, &[&read.unread_status], token).await?;
    Ok(Json(read.unread.summary(workspace_id, &user_id).await?))
}

/// A user id, as commands take it: 1 to 200 characters, not blank.
fn user_id(user_id: &str) -> Result<(), ApiError> {
    if user_id.trim().is_empty() || user_id.chars().count() > convo_domain::conversation::MAX_ID_CHARS {
        return Err(ApiError::parameter("user_id", "must be 1 to 200 characters"));
    }
    Ok(())
}
