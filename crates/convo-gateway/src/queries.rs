//! Query endpoints: answered from read models only, never by loading an aggregate. Each takes
//! `min_position` (parameter or `X-Convo-Min-Position` header) to read the caller's own writes.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationKind, ConversationStatus};
use convo_domain::{ChannelType, Window, WindowActor};
use convo_projection_inbox::ConversationSummary;
use convo_projection_inboxes::InboxView;
use convo_projection_timeline::TimelineMessage;
use convo_store::{Backend, ConversationQuery, Cursor, LogEvent, ProjectionStatus, SortKey, UnreadSummary};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{ApiPath, Workspace};
use crate::{ApiError, AppState};

/// The header carrying a consistency token, as an alternative to the `min_position` parameter.
pub const MIN_POSITION_HEADER: &str = "x-convo-min-position";
pub const DEFAULT_PAGE: u32 = 25;
pub const MAX_PAGE: u32 = 200;

/// Query-string parameters; unknown ones and malformed values are a 422 validation error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| ApiError::validation("query", e.body_text()))
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
                .map(|p| Self(Some(p)))
                .ok_or_else(|| ApiError::validation(MIN_POSITION_HEADER, "must be an integer position")),
        }
    }
}

/// Waits until every read model in `models` has folded the log up to `position`.
async fn consistent(models: &[&ProjectionStatus], position: Option<i64>, wait: Duration) -> Result<(), ApiError> {
    let Some(position) = position else { return Ok(()) };
    for model in models {
        if let Some(error) = model.error() {
            tracing::error!(projection = model.name, %error, "query on a stopped read model");
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "readModelStopped",
                format!("the {} read model has stopped; see /readyz", model.name),
            ));
        }
        if !model.wait_for(position, wait).await {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "notYetConsistent",
                format!("the {} read model has not reached position {position} yet; retry", model.name),
            )
            .retry_after(1));
        }
    }
    Ok(())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Only this inbox's conversations.
    pub inbox_id: Option<Uuid>,
    pub status: Option<ConversationStatus>,
    /// `false` (default: the inbox view), `true` (only archived) or `any`.
    pub archived: Option<String>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub kind: Option<ConversationKind>,
    pub channel: Option<ChannelType>,
    pub updated_after: Option<DateTime<Utc>>,
    /// With `user_id`: only conversations with inbound messages that user has not read.
    #[serde(default)]
    pub unread_only: bool,
    pub user_id: Option<String>,
    /// A field, `-` for descending, `+` (or nothing) for ascending; default `-last_message_at`.
    pub sort: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<u32>,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`. The `X-Convo-Min-Position` header is an alternative.
    pub min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationPage {
    pub items: Vec<ConversationSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// List the workspace's conversations (the inbox view): filters, sort and cursor paging.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "conversations",
    params(ListParams),
    responses(
        (status = 200, description = "One page of conversations, filtered and sorted", body = ConversationPage),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_conversations<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<ConversationPage>, ApiError> {
    let archived = match p.archived.as_deref() {
        None | Some("false") => Some(false),
        Some("true") => Some(true),
        Some("any") => None,
        Some(_) => return Err(ApiError::validation("archived", "must be true, false or any")),
    };
    let sort = p.sort.as_deref().unwrap_or("-last_message_at");
    // A literal `+` in a query string decodes to a space.
    let (descending, field) = match sort.strip_prefix('-') {
        Some(field) => (true, field),
        None => (false, sort.trim_start().trim_start_matches('+')),
    };
    let sort = SortKey::parse(field).ok_or_else(|| {
        ApiError::validation("sort", "must be last_message_at, last_activity_at or created_at, with + or -")
    })?;
    let after = p
        .cursor
        .as_deref()
        .map(|c| Cursor::decode(c).ok_or_else(|| ApiError::validation("cursor", "not a cursor this API returned")))
        .transpose()?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let unread_for = match (p.unread_only, p.user_id) {
        (false, _) => None,
        (true, Some(user)) if !user.trim().is_empty() => Some(user),
        (true, _) => return Err(ApiError::validation("user_id", "unread_only needs the user_id whose reads count")),
    };
    let read = &state.read;
    let models: &[&ProjectionStatus] =
        if unread_for.is_some() { &[&read.inbox_status, &read.unread_status] } else { &[&read.inbox_status] };
    consistent(models, p.min_position.or(header), read.consistency_wait).await?;
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
        after,
        limit: limit + 1,
    };
    let mut items = state.read.inbox.list(&query).await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|row| Cursor { value: sort.value(row), conversation_id: row.conversation_id }.encode())
    } else {
        None
    };
    Ok(Json(ConversationPage { items, next_cursor }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GetParams {
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`. The `X-Convo-Min-Position` header is an alternative.
    pub min_position: Option<i64>,
}

/// A conversation as its view shows it: the inbox row plus the window for both actors.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationView {
    #[serde(flatten)]
    pub summary: ConversationSummary,
    pub window: Windows,
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
) -> Result<Window, ApiError> {
    let inbox = state.read.inboxes.get(summary.workspace_id, summary.inbox_id).await?;
    Ok(match inbox {
        Some(inbox) if inbox.deleted_at.is_none() => {
            inbox.policy.window(actor, summary.last_inbound_at, state.engine.clock.now())
        }
        _ => Window::inbox_required(actor),
    })
}

async fn conversation<B: Backend>(
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
        (status = 200, description = "The conversation with its window for agents and bots", body = ConversationView),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
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
    let read = &state.read;
    consistent(&[&read.inbox_status, &read.inboxes_status], p.min_position.or(header), read.consistency_wait).await?;
    let summary = conversation(&state, workspace_id, conversation_id).await?;
    let window = Windows {
        agent: window(&state, &summary, WindowActor::Agent).await?,
        bot: window(&state, &summary, WindowActor::Bot).await?,
    };
    Ok(Json(ConversationView { summary, window }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// `AGENT` (default) or `BOT`.
    pub actor: Option<WindowActor>,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`. The `X-Convo-Min-Position` header is an alternative.
    pub min_position: Option<i64>,
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
    let read = &state.read;
    consistent(&[&read.inbox_status, &read.inboxes_status], p.min_position.or(header), read.consistency_wait).await?;
    let summary = conversation(&state, workspace_id, conversation_id).await?;
    Ok(Json(window(&state, &summary, p.actor.unwrap_or(WindowActor::Agent)).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxesParams {
    /// Include deleted inboxes (default false).
    #[serde(default)]
    pub include_deleted: bool,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`. The `X-Convo-Min-Position` header is an alternative.
    pub min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InboxesPage {
    pub items: Vec<InboxView>,
}

/// List the workspace's inboxes.
#[utoipa::path(
    get,
    path = "/v1/inboxes",
    tag = "inboxes",
    params(InboxesParams),
    responses(
        (status = 200, description = "The workspace's inboxes with the policy in force", body = InboxesPage),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_inboxes<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiQuery(p): ApiQuery<InboxesParams>,
) -> Result<Json<InboxesPage>, ApiError> {
    let read = &state.read;
    consistent(&[&read.inboxes_status], p.min_position.or(header), read.consistency_wait).await?;
    Ok(Json(InboxesPage { items: read.inboxes.list(workspace_id, p.include_deleted).await? }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    /// `asc` (oldest first, the default) or `desc` (newest first).
    pub order: Option<String>,
    /// The `next` of the previous page: a message seq to continue after.
    pub after: Option<u64>,
    pub limit: Option<u32>,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`. The `X-Convo-Min-Position` header is an alternative.
    pub min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TimelinePage {
    pub items: Vec<TimelineMessage>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// Page through a conversation's timeline: messages with status, reactions, edits and tombstones.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/messages",
    tag = "messages",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), TimelineParams),
    responses(
        (status = 200, description = "One page of the timeline", body = TimelinePage),
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
    ApiQuery(p): ApiQuery<TimelineParams>,
) -> Result<Json<TimelinePage>, ApiError> {
    let descending = match p.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(ApiError::validation("order", "must be asc or desc")),
    };
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let read = &state.read;
    consistent(&[&read.inbox_status, &read.timeline_status], p.min_position.or(header), read.consistency_wait).await?;
    if read.inbox.get(workspace_id, conversation_id).await?.is_none() {
        return Err(ApiError::not_found("conversation not found"));
    }
    let mut items = read.timeline.page(workspace_id, conversation_id, p.after, descending, limit + 1).await?;
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|m| m.seq)
    } else {
        None
    };
    Ok(Json(TimelinePage { items, next }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    /// A position (the global log) or a sequence (one conversation's events): start after it.
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    /// Pass as `after` for the next page (the last event's position or sequence).
    pub next_after: i64,
}

/// Most events per page of the log.
pub const MAX_LOG_PAGE: u32 = 1000;

fn log_limit(limit: Option<u32>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(100);
    if !(1..=MAX_LOG_PAGE).contains(&limit) {
        return Err(ApiError::validation("limit", format!("must be 1 to {MAX_LOG_PAGE}")));
    }
    Ok(limit as usize)
}

/// Read the workspace's slice of the global log, in commit order, after a position.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "log",
    params(LogParams),
    responses(
        (status = 200, description = "Events after `after`, in commit order; an empty page at the head", body = LogPage),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_events<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiQuery(p): ApiQuery<LogParams>,
) -> Result<Json<LogPage>, ApiError> {
    let after = p.after.unwrap_or(0);
    let events = state.engine.log.read_workspace(&workspace_id.to_string(), after, log_limit(p.limit)?).await?;
    let next_after = events.last().map_or(after, |e| e.position);
    Ok(Json(LogPage { events, next_after }))
}

/// Read one conversation's events in sequence order, after a sequence.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/events",
    tag = "log",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), LogParams),
    responses(
        (status = 200, description = "Events after the sequence `after`", body = LogPage),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn conversation_events<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<LogParams>,
) -> Result<Json<LogPage>, ApiError> {
    use convo_domain::Conversation;
    use cqrs_es::Aggregate;
    let after = p.after.unwrap_or(0);
    let log = &state.engine.log;
    let id = conversation_id.to_string();
    let events = log.read_aggregate(Conversation::TYPE, &id, after, log_limit(p.limit)?).await?;
    let first = match events.first() {
        Some(e) => Some(e.clone()),
        None => log.read_aggregate(Conversation::TYPE, &id, 0, 1).await?.pop(),
    };
    let workspace = workspace_id.to_string();
    if first.is_none_or(|e| e.workspace_id.as_deref() != Some(workspace.as_str())) {
        return Err(ApiError::not_found("conversation not found"));
    }
    let next_after = events.last().map_or(after, |e| e.sequence);
    Ok(Json(LogPage { events, next_after }))
}

/// Get a user's unread summary across the workspace.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/unread-summary",
    tag = "read state",
    params(("user_id" = String, Path, description = "The user whose reads count"), GetParams),
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
    ApiQuery(p): ApiQuery<GetParams>,
) -> Result<Json<UnreadSummary>, ApiError> {
    if user_id.trim().is_empty() || user_id.chars().count() > 200 {
        return Err(ApiError::validation("user_id", "must be 1 to 200 characters"));
    }
    let read = &state.read;
    consistent(&[&read.unread_status], p.min_position.or(header), read.consistency_wait).await?;
    Ok(Json(read.unread.summary(workspace_id, &user_id).await?))
}
