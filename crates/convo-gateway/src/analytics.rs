//! Analytics endpoints: read models that measure conversations (docs/PROJECTIONS.md).

use axum::Json;
use axum::extract::State;
use convo_projection_response_times::{ResponseSummary, ResponseTime};
use convo_store::Backend;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::{ApiPath, Workspace};
use crate::queries::{
    ApiQuery, DEFAULT_PAGE, MAX_PAGE, MinPositionHeader, consistent, conversation, min_position, not_negative,
};
use crate::{ApiError, AppState};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ResponseTimesParams {
    /// The `next` of the previous page: a response's seq to continue after.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Responses per page: 1 to 200, default 25.
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Consistency token: wait (bounded) until the read models reach this global position, e.g. a
    /// command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header
    /// is an alternative.
    #[param(minimum = 0)]
    pub min_position: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseTimesPage {
    pub summary: ResponseSummary,
    /// The conversation's responses in order, one page.
    pub items: Vec<ResponseTime>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}

/// A conversation's response times: the first response (of any kind, and by a human agent),
/// counts and seconds per kind, what is still waiting, and its responses one page at a time.
/// Plain wall-clock seconds from the earliest unanswered inbound message's `sent_at` to the
/// response; outbound messages that answer nothing (follow-ups) are not responses.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/response-times",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ResponseTimesParams),
    responses(
        (status = 200, description = "The summary and one page of responses", body = ResponseTimesPage),
        (status = 404, description = "`notFound`: no such conversation in this workspace", body = ApiError, content_type = "application/problem+json"),
        (status = 422, description = "`validation`: a parameter is invalid (`field` names it)", body = ApiError, content_type = "application/problem+json"),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn response_times<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    MinPositionHeader(header): MinPositionHeader,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<ResponseTimesParams>,
) -> Result<Json<ResponseTimesPage>, ApiError> {
    let after = not_negative("after", p.after)?.map_or(0, i64::cast_unsigned);
    let limit = p.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::validation("limit", format!("must be 1 to {MAX_PAGE}")));
    }
    let token = min_position(p.min_position, header)?;
    let read = &state.read;
    consistent(&state, &[&read.inbox_status, &read.response_times_status], token).await?;
    let known = conversation(&state, ws, conversation_id).await?;
    let found = read.response_times.conversation(ws, conversation_id, after, limit + 1).await?;
    // Without a consistency token this read model may not have reached the conversation yet.
    let summary = found.summary.unwrap_or_else(|| ResponseSummary::new(conversation_id, ws, known.inbox_id));
    let mut items = found.responses;
    let next = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        items.last().map_or(after, |r| r.seq)
    });
    Ok(Json(ResponseTimesPage { summary, items, next }))
}
