//! convo-gateway: the HTTP door of the engine. It parses requests into commands, hands them to
//! the store, and maps every outcome to a response; business rules live in the domain.
//! Only this crate knows HTTP.

mod commands;
mod error;
mod extract;
mod queries;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post, put};
use convo_store::{Backend, Engine, ReadModels};

pub use error::ApiError;
pub use extract::{DEFAULT_WORKSPACE, WORKSPACE_HEADER};

/// What every handler shares.
pub struct AppState<B: Backend> {
    pub engine: Arc<Engine<B>>,
    pub read: Arc<ReadModels<B>>,
}

impl<B: Backend> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self { engine: self.engine.clone(), read: self.read.clone() }
    }
}

/// The gateway's routes, with the paths fixed by DOMAIN.md.
pub fn router<B: Backend>(engine: Arc<Engine<B>>, read: Arc<ReadModels<B>>) -> Router {
    use commands::*;
    use queries::*;
    let conversation = "/v1/conversations/{conversation_id}";
    let message = "/v1/conversations/{conversation_id}/messages/{message_id}";
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz::<B>))
        .route("/v1/inboxes", post(create_inbox::<B>).get(list_inboxes::<B>))
        .route("/v1/inboxes/{inbox_id}", delete(delete_inbox::<B>))
        .route("/v1/inbound-messages", post(receive_inbound::<B>))
        .route("/v1/conversations", get(list_conversations::<B>))
        .route("/v1/events", get(list_events::<B>))
        .route("/v1/users/{user_id}/unread-summary", get(unread_summary::<B>))
        .route(&format!("{conversation}/events"), get(conversation_events::<B>))
        .route(&format!("{conversation}/window"), get(get_window::<B>))
        .route(conversation, get(get_conversation::<B>))
        .route(&format!("{conversation}/messages"), post(send_message::<B>).get(list_messages::<B>))
        .route(&format!("{message}/status"), post(record_status::<B>))
        .route(&format!("{message}/reactions"), post(react::<B>))
        .route(message, patch(edit_message::<B>).delete(delete_message::<B>))
        .route(&format!("{conversation}/assignee"), put(assign_agent::<B>).delete(unassign_agent::<B>))
        .route(&format!("{conversation}/team"), put(assign_team::<B>).delete(unassign_team::<B>))
        .route(&format!("{conversation}/archive"), post(archive::<B>))
        .route(&format!("{conversation}/unarchive"), post(unarchive::<B>))
        .route(&format!("{conversation}/read"), post(mark_read::<B>))
        .route(&format!("{conversation}/status"), post(change_status::<B>))
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(AppState { engine, read })
}

/// Ready when the store answers and no read model has stopped; says which one did and why.
async fn readyz<B: Backend>(State(state): State<AppState<B>>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let store = match state.engine.backend.ping().await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Some(e.to_string())
        }
    };
    let projections: serde_json::Map<String, serde_json::Value> = state
        .read
        .statuses()
        .iter()
        .map(|s| (s.name.to_owned(), serde_json::json!({"position": s.position(), "error": s.error()})))
        .collect();
    let stopped = projections.values().any(|p| !p["error"].is_null());
    let status = if store.is_none() && !stopped { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(serde_json::json!({"store_error": store, "projections": projections})))
}
