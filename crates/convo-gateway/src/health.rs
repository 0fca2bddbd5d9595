//! The probes: `/healthz` (the process answers) and `/readyz` (it can do its work: the store
//! answers and no read model has stopped), with what is down and why, and the bus publisher's
//! state beside them.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use convo_store::Backend;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// How long `/readyz` waits for the store: a probe must answer within a second, and a store that
/// takes longer than this to answer one `SELECT` is as good as down for the commands behind it.
const READY_STORE_WAIT: Duration = Duration::from_millis(800);

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`ok`", body = String, content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Whether the node can do its work, and what is down.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: Ready,
    pub store: StoreState,
    /// The event publisher to NATS JetStream; absent when this node runs none (no `NATS_URL`).
    pub bus: Option<BusState>,
    /// Each read model: how far it has folded the log, and why it stopped if it did.
    pub projections: BTreeMap<String, ProjectionState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ready {
    Ready,
    Unavailable,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StoreState {
    pub status: StoreStatus,
    /// The log's head (its latest position), when the store answered.
    pub head: Option<i64>,
    /// Why it is down.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreStatus {
    Up,
    Down,
}

/// The bus publisher: it does not fail readiness (commands and queries work without NATS, and
/// the publisher catches up from its checkpoint), but says how far behind it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct BusState {
    pub status: BusStatus,
    /// The last position it published.
    pub position: i64,
    /// Events written and not yet published (the head minus `position`), when the store answered.
    pub lag: Option<i64>,
    /// Why it is failing.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum BusStatus {
    Connected,
    Disconnected,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectionState {
    pub position: i64,
    /// Why it stopped (it cannot fold an event: fix and rebuild it; readiness fails), or why it
    /// is failing while it retries (the store is away).
    pub error: Option<String>,
}

/// Ready when the store answers (within 800 ms) and no read model has stopped; the body says
/// which dependency is down and why, and how far behind the bus publisher is (which does not
/// fail readiness).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the store is down, or a read model stopped", body = Readiness),
    ),
)]
pub async fn readyz<B: Backend>(State(state): State<AppState<B>>) -> (StatusCode, Json<Readiness>) {
    let head = match tokio::time::timeout(READY_STORE_WAIT, state.engine.backend.head()).await {
        Ok(Ok(head)) => Ok(head),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", READY_STORE_WAIT.as_millis())),
    };
    if let Err(e) = &head {
        tracing::warn!(error = %e, "readiness check: the store is down");
    }
    let store = match &head {
        Ok(head) => StoreState { status: StoreStatus::Up, head: Some(*head), error: None },
        Err(e) => StoreState { status: StoreStatus::Down, head: None, error: Some(e.clone()) },
    };
    let statuses = state.read.statuses();
    let projections: BTreeMap<String, ProjectionState> = statuses
        .iter()
        .map(|s| (s.name.to_owned(), ProjectionState { position: s.position(), error: s.error() }))
        .collect();
    let stopped = statuses.iter().any(|s| s.stopped());
    let bus = state.bus.as_ref().map(|bus| {
        let position = bus.position();
        let error = bus.error();
        BusState {
            status: if error.is_none() { BusStatus::Connected } else { BusStatus::Disconnected },
            position,
            lag: head.as_ref().ok().map(|head| (head - position).max(0)),
            error,
        }
    });
    let ready = head.is_ok() && !stopped;
    let status = if ready { Ready::Ready } else { Ready::Unavailable };
    let code = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Readiness { status, store, bus, projections }))
}
