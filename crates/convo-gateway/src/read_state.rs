//! Read state: a user's read marker in a conversation (through the `Conversation` aggregate),
//! and the user's unread summary across the workspace (from the unread read model).

use axum::Json;
use axum::extract::State;
use convo_domain::Actor;
use convo_domain::conversation::ConversationAction;
use convo_read::UnreadSummary;
use convo_store::Backend;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{Answer, CommandResponse, execute};
use crate::consistency::ReadQuery;
use crate::extract::{ApiJson, ApiPath, Workspace};
use crate::messages::OnAMessage;
use crate::{ApiError, AppState};

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
        OnAMessage,
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
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Get a user's unread summary across the workspace.
#[utoipa::path(
    get,
    path = "/v1/users/{user_id}/unread-summary",
    tag = "read state",
    params(("user_id" = convo_domain::text::Id, Path, description = "The user whose reads count"), ReadQuery),
    responses(
        (status = 200, description = "Unread messages and conversations, per inbox, with a monotonic `version`", body = UnreadSummary),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn unread_summary<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(user_id): ApiPath<String>,
    ReadQuery(_, token): ReadQuery,
) -> Result<Json<UnreadSummary>, ApiError> {
    self::user_id(&user_id)?;
    let read = &state.read;
    token.wait(&state, &[&read.unread_status]).await?;
    Ok(Json(read.unread.summary(workspace_id, &user_id).await?))
}

/// A user id, as commands take it: 1 to 200 characters, not blank.
pub(crate) fn user_id(user_id: &str) -> Result<(), ApiError> {
    if user_id.trim().is_empty() || user_id.chars().count() > convo_domain::conversation::MAX_ID_CHARS {
        return Err(ApiError::parameter("user_id", "must be 1 to 200 characters"));
    }
    Ok(())
}
