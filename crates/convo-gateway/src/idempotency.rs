//! `Idempotency-Key` on commands: the same key with the same request answers the first
//! response again without writing; with another request it is 422; while the first request
//! runs it is 409. Keys are per workspace and kept 24 hours. Responses worth retrying (409
//! contention, 429, 5xx) are not kept, so a retry with the same key runs again, but a key is
//! released only when nothing was written: after a failure that may have committed (the
//! connection broke during the commit, the request timed out) it stays claimed until its short
//! lease runs out, and the retry that takes it over answers what the log holds for the key.
//! Ids a command mints (a message, an inbox, a join request) are derived from its key, so even
//! a command run twice under one key names the same thing twice, which the domain refuses.
//! An answer that shows a secret (a webhook's, created or rotated: marked [`SealAnswer`]) is
//! kept sealed with the node's secrets key, and opened for the retry that repeats it.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use convo_domain::{Outcome, Written};
use convo_store::{Backend, LogEvent};
use uuid::Uuid;

use crate::command::CommandResponse;
use crate::error::Code;
use crate::tenancy::sha256;
use crate::{ApiError, AppState};

mod claims;

pub use claims::{Claim, IDEMPOTENCY_LEASE_MS, Idempotency, StoredResponse};

pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// Set on an answer that repeats an earlier one.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// Marks an answer that shows a secret (a response extension): it is kept for retries sealed
/// with the node's secrets key, never in clear.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealAnswer;

/// What a kept answer is sealed for: its workspace and key (it opens for them only).
fn answer_context(ws: Uuid, key: &str) -> String {
    format!("idempotent answer {ws} {key}")
}

tokio::task_local! {
    /// The idempotency key of the request this task answers, if it has one, for the command's
    /// metadata (so that a takeover finds what the command wrote).
    static REQUEST_KEY: String;
}

/// The metadata of a command: its workspace, its name and the request's idempotency key.
pub(crate) fn command_metadata(workspace: Uuid, command: &str) -> std::collections::HashMap<String, String> {
    let mut extra = vec![("command".to_owned(), command.to_owned())];
    if let Ok(key) = REQUEST_KEY.try_with(Clone::clone) {
        extra.push(("idempotency_key".to_owned(), key));
    }
    convo_store::metadata(workspace, extra)
}

/// An id for something a command creates: derived from the request's idempotency key when it
/// has one (so a second run of the command names the same message, inbox, …), new otherwise.
pub(crate) fn mint_id(workspace: Uuid, purpose: &str) -> Uuid {
    match REQUEST_KEY.try_with(Clone::clone) {
        Ok(key) => Uuid::new_v5(&Uuid::NAMESPACE_OID, format!("convo:{workspace}:{purpose}:{key}").as_bytes()),
        Err(_) => Uuid::now_v7(),
    }
}

pub(crate) async fn idempotent<B: Backend>(State(state): State<AppState<B>>, request: Request, next: Next) -> Response {
    // Commands only (an unsupported method goes on to its 405).
    if !matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        return next.run(request).await;
    }
    let Some(key) = request.headers().get(IDEMPOTENCY_KEY_HEADER) else {
        return next.run(request).await;
    };
    let key = match key.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => k.to_owned(),
        _ => {
            return ApiError::parameter(IDEMPOTENCY_KEY_HEADER, "1 to 255 visible ASCII characters").into_response();
        }
    };
    let ws = match crate::auth::principal(request.extensions()) {
        Ok(key) => key.workspace_id,
        Err(e) => return e.into_response(),
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, state.body_limit).await {
        Ok(bytes) => bytes,
        Err(_) => return ApiError::payload_too_large(state.body_limit).into_response(),
    };
    let hash = request_fingerprint(parts.method.as_str(), &parts.uri.to_string(), &bytes);
    let now = state.engine.clock.now().timestamp_millis();
    let claim = match state.idempotency.claim(ws, &key, &hash, now).await {
        Ok(claim) => claim,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match claim {
        Claim::Replay(stored) => replay(&state, ws, &key, stored),
        Claim::Mismatch => {
            ApiError::new(Code::IdempotencyKeyReused, "this Idempotency-Key was used with a different request")
                .into_response()
        }
        Claim::InFlight => {
            // The first request may have committed and not answered yet (or lost its answer):
            // what the log holds is the answer either way.
            match written(&state, ws, &key).await {
                Ok(Some(stored)) => replay(&state, ws, &key, stored),
                Ok(None) => ApiError::new(
                    Code::IdempotencyKeyInFlight,
                    "a request with this Idempotency-Key is still being processed; retry later",
                )
                .into_response(),
                Err(e) => e.into_response(),
            }
        }
        Claim::Run { took_over } => {
            if took_over {
                // The first request ended without an answer: if its command committed, answer
                // what it wrote rather than writing again.
                match written(&state, ws, &key).await {
                    Ok(Some(stored)) => return keep(&state, ws, &key, stored).await,
                    Ok(None) => {}
                    Err(e) => return e.into_response(),
                }
            }
            let run = REQUEST_KEY.scope(key.clone(), next.run(Request::from_parts(parts, Body::from(bytes))));
            let response = renewing(&state, ws, &key, run).await;
            if took_over && !response.status().is_success() {
                // The first run committed after we looked (it was still finishing): its ids are
                // ours, so this one was refused; answer what it wrote.
                if let Ok(Some(stored)) = written(&state, ws, &key).await {
                    return keep(&state, ws, &key, stored).await;
                }
            }
            finish(&state, ws, &key, response).await
        }
    }
}

/// What the log holds for `key`: the answer its command gave, rebuilt, if it committed.
async fn written<B: Backend>(state: &AppState<B>, ws: Uuid, key: &str) -> Result<Option<StoredResponse>, ApiError> {
    let events = state.engine.backend.idempotent_events(&ws.to_string(), key).await?;
    Ok((!events.is_empty()).then(|| recovered(&events)))
}

/// Stores a recovered answer for later replays, and answers it.
async fn keep<B: Backend>(state: &AppState<B>, ws: Uuid, key: &str, stored: StoredResponse) -> Response {
    match state.idempotency.complete(ws, key, &stored).await {
        Ok(()) => replay(state, ws, key, stored),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Runs the request while renewing its lease, so a long request keeps its key and one that
/// ended (or whose process died) lets it go within a lease.
async fn renewing<B: Backend>(
    state: &AppState<B>,
    ws: Uuid,
    key: &str,
    run: impl std::future::Future<Output = Response>,
) -> Response {
    /// Stops renewing when the request ends, or is dropped (timed out).
    struct Renewal(tokio::task::JoinHandle<()>);
    impl Drop for Renewal {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let lease_ms = state.idempotency.lease_ms();
    let every = std::time::Duration::from_millis(u64::try_from(lease_ms / 4).unwrap_or(500).max(1));
    let (idempotency, clock, key_owned) = (state.idempotency.clone(), state.engine.clock.clone(), key.to_owned());
    let _renewal = Renewal(tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let until = clock.now().timestamp_millis() + lease_ms;
            if let Err(e) = idempotency.renew(ws, &key_owned, until).await {
                tracing::warn!(error = %e, "could not renew an idempotency lease");
            }
        }
    }));
    run.await
}

/// What makes two requests "the same" for an idempotency key: method, path and query, body.
pub fn request_fingerprint(method: &str, uri: &str, body: &[u8]) -> String {
    sha256(&format!("{method} {uri}\n{}", String::from_utf8_lossy(body)))
}

/// Keeps the answer for replays (or forgets the key when the answer is worth a retry).
async fn finish<B: Backend>(state: &AppState<B>, ws: Uuid, key: &str, response: Response) -> Response {
    let status = response.status();
    let retryable =
        status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::CONFLICT;
    if retryable {
        // Released only when nothing was written; otherwise the lease runs out and the retry
        // looks in the log. (A release that fails, the database being away, ends the same way.)
        if response.extensions().get::<crate::error::MaybeWritten>().is_none()
            && let Err(e) = state.idempotency.release(ws, key).await
        {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let stored = if parts.extensions.get::<SealAnswer>().is_some() {
        // The body shows a secret: kept sealed, as text.
        let sealed = state.webhooks.secrets_key().seal(&answer_context(ws, key), &String::from_utf8_lossy(&bytes));
        StoredResponse { status: status.as_u16(), body: serde_json::Value::String(sealed), sealed: true }
    } else {
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        StoredResponse { status: status.as_u16(), body, sealed: false }
    };
    if let Err(e) = state.idempotency.complete(ws, key, &stored).await {
        // The command's outcome stands; a retry will find it through the events' metadata.
        tracing::warn!(error = %e, "could not store an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// The kept answer `stored` of `key`, again (opened if it was sealed: an answer sealed with
/// another key than this node's is a `secretsKeyMismatch`).
fn replay<B: Backend>(state: &AppState<B>, ws: Uuid, key: &str, stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let body = if stored.sealed {
        let sealed = stored.body.as_str().unwrap_or_default();
        let opened = match state.webhooks.secrets_key().open(&answer_context(ws, key), sealed) {
            Ok(opened) => opened,
            Err(e) => return ApiError::from(e).into_response(),
        };
        match serde_json::from_str(&opened) {
            Ok(body) => body,
            Err(e) => return ApiError::internal(&e).into_response(),
        }
    } else {
        stored.body
    };
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    if status.is_client_error() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// The answer a command gave, rebuilt from the events it wrote: what they name, as the domain
/// reads them (`Outcome`), and where they left its conversation or inbox.
fn recovered(events: &[LogEvent]) -> StoredResponse {
    let last = &events[events.len() - 1];
    // The command's name, as `command_metadata` recorded it.
    let command = last.metadata.get("command").and_then(|c| c.as_str()).unwrap_or_default();
    let outcome = Outcome::of(command, events.iter().filter_map(Written::of));
    let id = Uuid::parse_str(&last.aggregate_id).unwrap_or_default();
    let version = usize::try_from(last.sequence).unwrap_or_default();
    let response = CommandResponse {
        message_id: outcome.message_id,
        request_id: outcome.request_id,
        invite_code: outcome.invite_code.clone(),
        ..CommandResponse::new(&last.aggregate_type, id, version, Some(last.position))
    };
    let body = serde_json::to_value(response).unwrap_or_default();
    StoredResponse { status: crate::command::status(&outcome).as_u16(), body, sealed: false }
}
