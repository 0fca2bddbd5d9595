//! The log itself, as the workspace sees it: its slice of the global log in commit order, and
//! one conversation's events in sequence order. Read from the log, never from a read model, so
//! these take no consistency token. (The live stream, `/v1/stream`, is `stream.rs`.)

use axum::extract::State;
use convo_domain::Conversation;
use convo_store::{Backend, LogEvent};
use cqrs_es::Aggregate;
use uuid::Uuid;

use crate::conversations::OnAConversation;
use crate::extract::{ApiPath, Workspace};
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

/// Read the workspace's slice of the global log, in commit order, after a position.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "log",
    params(Paging<paging::Events>),
    responses(
        (status = 200, description = "Events after the cursor (or `after`), in commit order. The last page is the log's head now: `next_cursor` is null there, and a reader that follows the log asks again with `after` = the last event's `position` (or follows `/v1/stream`)", body = Page<LogEvent>),
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
        OnAConversation,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn conversation_events<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, _): ListQuery<paging::ConversationEvents>,
) -> Result<Listed<Page<LogEvent>>, ApiError> {
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
