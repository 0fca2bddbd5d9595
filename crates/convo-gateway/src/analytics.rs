//! Analytics endpoints: read models that measure conversations (docs/PROJECTIONS.md).

use axum::extract::State;
use convo_projection_response_times::{ResponseSummary, ResponseTime};
use convo_store::Backend;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::consistency::ReadQuery;
use crate::conversations::{OnAConversation, conversation};
use crate::extract::{ApiPath, Workspace};
use crate::paging::{self, ListQuery, Listed, Page, Paginated, Paging};
use crate::{ApiError, AppState};

/// The summary, and one page of the conversation's responses in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResponseTimesPage {
    pub summary: ResponseSummary,
    #[serde(flatten)]
    pub page: Page<ResponseTime>,
}

impl Paginated for ResponseTimesPage {
    fn next_cursor(&self) -> Option<&str> {
        self.page.next_cursor()
    }
}

/// A conversation's response times: the first response (of any kind, and by a human agent),
/// counts and seconds per kind, what is still waiting, and its responses one page at a time.
/// Plain wall-clock seconds from the earliest unanswered inbound message's `sent_at` to the
/// response; outbound messages that answer nothing (follow-ups) are not responses.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/response-times",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ReadQuery, Paging<paging::ResponseTimes>),
    responses(
        (status = 200, description = "The summary and one page of responses", body = ResponseTimesPage),
        OnAConversation,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn response_times<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::ResponseTimes, ReadQuery>,
) -> Result<Listed<ResponseTimesPage>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.inbox_status, &read.response_times_status]).await?;
    let known = conversation(&state, ws, conversation_id).await?;
    let after = paging.cursor.map_or(0, i64::cast_unsigned);
    let found = read.response_times.conversation(ws, conversation_id, after, paging.fetch()).await?;
    // Without a consistency token this read model may not have reached the conversation yet.
    let summary = found.summary.unwrap_or_else(|| ResponseSummary::new(conversation_id, ws, known.inbox_id));
    let page = paging.page(found.responses, |r| r.seq.cast_signed());
    Ok(paging.answer(ResponseTimesPage { summary, page }))
}
