//! convo-gateway: the HTTP door of the engine. It parses requests into commands, hands them to
//! the store, and maps every outcome to a response; business rules live in the domain.
//! Only this crate knows HTTP.

// `ApiError` is what every failed request answers, built once per failure and turned into a
// response at once: its size costs nothing, and boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

// The resources, each with its handlers and their request and response types (the routes are
// in `api`, one block per resource).
mod analytics;
mod app;
mod attributes;
mod contacts;
mod conversations;
mod directory;
mod groups;
mod inboxes;
mod keys;
mod log;
mod messages;
mod read_state;
mod stream;
mod webhooks;

// What they share.
mod auth;
mod command;
mod consistency;
mod edge;
mod error;
mod extract;
mod health;
mod idempotency;
mod input;
mod observe;
pub mod openapi;
mod paging;
pub mod tenancy;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::{MethodRouter, delete, get, patch, post, put};
use convo_read::ReadModels;
use convo_store::{Backend, Engine};

pub use auth::{Principal, RateLimit};
pub use error::{ApiError, Code};
pub use idempotency::{
    Claim, IDEMPOTENCY_KEY_HEADER, IDEMPOTENCY_LEASE_MS, Idempotency, REPLAYED_HEADER, StoredResponse,
    request_fingerprint,
};
pub use observe::{REQUEST_ID_HEADER, metrics_handle};
pub use openapi::openapi;
pub use tenancy::{ApiKey, IssuedKey, Scope, Tenancy, TenancyError};

/// The gateway's limits. Binaries fill it from their settings; tests use the defaults.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body, in bytes (413 above it).
    pub body_limit: usize,
    /// Longest a request may take before it is answered 503 (commands already committed stay).
    pub request_timeout: Duration,
    /// Per-key rate limit; `None` for none.
    pub rate_limit: Option<RateLimit>,
    /// Events a live-stream client may have pending.
    pub stream_buffer: usize,
    /// How long a live-stream client's buffer may stay full before it is disconnected as too
    /// slow (a client still reading its catch-up is not slow).
    pub stream_slow_after: Duration,
    /// How often an idle live stream sends a heartbeat.
    pub stream_heartbeat: Duration,
    /// Turns `true` when the server shuts down: live streams end, so a graceful shutdown only
    /// waits for in-flight commands and queries.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
    /// Whether this node serves the API (`/v1`, the OpenAPI document); a worker node
    /// (`convo serve --role worker`) serves only `/healthz`, `/readyz` and `/metrics`.
    pub serve_api: bool,
    /// The bus publisher's progress and state, for `/readyz`.
    pub bus: Option<Arc<convo_store::ProjectionStatus>>,
    /// How webhooks are delivered: a test delivery (`/v1/webhooks/{id}/verify`) goes as
    /// workers send the others. Its `secrets_key` seals the webhooks' secrets at rest, and the
    /// idempotent answers that show one.
    pub webhooks: convo_webhooks::WebhookConfig,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            rate_limit: Some(RateLimit {
                per_second: NonZeroU32::new(1000).expect("non-zero"),
                burst: NonZeroU32::new(2000).expect("non-zero"),
            }),
            stream_buffer: 1024,
            stream_slow_after: Duration::from_secs(2),
            stream_heartbeat: Duration::from_secs(15),
            shutdown: None,
            serve_api: true,
            bus: None,
            webhooks: convo_webhooks::WebhookConfig::default(),
        }
    }
}

/// What every handler shares.
pub struct AppState<B: Backend> {
    pub engine: Arc<Engine<B>>,
    pub read: Arc<ReadModels<B>>,
    pub tenancy: Arc<Tenancy<B::Sql>>,
    pub idempotency: Arc<Idempotency<B::Sql>>,
    pub webhooks: Arc<convo_webhooks::Webhooks<B::Sql>>,
    /// Test deliveries; `None` when no HTTP client could be made (the route then answers 503).
    pub tester: Option<Arc<convo_webhooks::Tester>>,
    /// How long a rotated webhook secret keeps signing beside the new one.
    webhook_overlap: Duration,
    limiter: auth::SharedLimiter,
    hub: Arc<stream::StreamHub>,
    body_limit: usize,
    bus: Option<Arc<convo_store::ProjectionStatus>>,
}

impl<B: Backend> Clone for AppState<B> {
    fn clone(&self) -> Self {
        Self {
            engine: self.engine.clone(),
            read: self.read.clone(),
            tenancy: self.tenancy.clone(),
            idempotency: self.idempotency.clone(),
            webhooks: self.webhooks.clone(),
            tester: self.tester.clone(),
            webhook_overlap: self.webhook_overlap,
            limiter: self.limiter.clone(),
            hub: self.hub.clone(),
            body_limit: self.body_limit,
            bus: self.bus.clone(),
        }
    }
}

/// The gateway's routes, with the paths fixed by DOMAIN.md.
pub fn router<B: Backend>(engine: Arc<Engine<B>>, read: Arc<ReadModels<B>>, config: &GatewayConfig) -> Router {
    let tenancy = Arc::new(Tenancy::new(engine.backend.sql()));
    let limiter = config.rate_limit.map(|limit| Arc::new(auth::Limiter::new(limit)));
    let idempotency = Arc::new(Idempotency::new(engine.backend.sql(), IDEMPOTENCY_LEASE_MS));
    let webhooks = Arc::new(convo_webhooks::Webhooks::new(engine.backend.sql(), config.webhooks.secrets_key.clone()));
    let tester = match convo_webhooks::Tester::new(&config.webhooks) {
        Ok(tester) => Some(Arc::new(tester)),
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client for webhook test deliveries");
            None
        }
    };
    let hub = Arc::new(stream::StreamHub::new(
        config.stream_buffer,
        config.stream_slow_after,
        config.stream_heartbeat,
        config.shutdown.clone(),
    ));
    let state = AppState {
        engine,
        read,
        tenancy,
        idempotency,
        webhooks,
        tester,
        webhook_overlap: config.webhooks.rotation_overlap,
        limiter,
        hub,
        body_limit: config.body_limit,
        bus: config.bus.clone(),
    };
    metrics_handle();
    let operations = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz::<B>))
        .route("/metrics", get(observe::render_metrics));
    let routes = if config.serve_api {
        operations.merge(openapi::routes()).merge(app::routes()).merge(api(state.clone()))
    } else {
        operations
    };
    routes
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::extract::DefaultBodyLimit::max(config.body_limit))
        .layer(axum::middleware::from_fn(input::refuse_nul_in_uri))
        .layer(axum::middleware::from_fn_with_state(config.request_timeout, timeout))
        .layer(axum::middleware::from_fn(edge::keep_connection))
        .layer(axum::middleware::from_fn(observe::observe))
        .with_state(state)
}

/// Answers 503 `timeout` to a request that runs longer than the limit. A command cancelled
/// this way either committed or wrote nothing; retrying with the same Idempotency-Key tells.
async fn timeout(
    State(limit): State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(Code::Timeout, "the request took too long; retry").into_response(),
    }
}

/// The `/v1` routes, resource by resource, behind authentication.
fn api<B: Backend>(state: AppState<B>) -> Router<AppState<B>> {
    // Idempotency inside authentication (it needs the workspace), on the handlers only, so an
    // unsupported method still answers 405.
    let idempotent = axum::middleware::from_fn_with_state(state.clone(), idempotency::idempotent::<B>);
    let c = |handlers: MethodRouter<AppState<B>>| handlers.route_layer(idempotent.clone());
    Router::new()
        // keys.rs
        .route("/v1/keys", c(post(keys::create_key::<B>).get(keys::list_keys::<B>)))
        .route("/v1/keys/{key_id}", c(delete(keys::revoke_key::<B>)))
        // inboxes.rs
        .route("/v1/inboxes", c(post(inboxes::create_inbox::<B>).get(inboxes::list_inboxes::<B>)))
        .route("/v1/inboxes/{inbox_id}", c(delete(inboxes::delete_inbox::<B>)))
        .route(
            "/v1/inboxes/{inbox_id}/team",
            c(put(directory::set_inbox_team::<B>).delete(directory::clear_inbox_team::<B>)),
        )
        // directory.rs
        .route("/v1/agents", c(post(directory::create_agent::<B>).get(directory::list_agents::<B>)))
        .route("/v1/agents/{agent_id}", c(get(directory::get_agent::<B>).patch(directory::change_agent::<B>)))
        .route("/v1/teams", c(post(directory::create_team::<B>).get(directory::list_teams::<B>)))
        .route("/v1/teams/{team_id}", c(get(directory::get_team::<B>).patch(directory::rename_team::<B>)))
        .route("/v1/teams/{team_id}/agents", c(get(directory::team_agents::<B>)))
        .route(
            "/v1/teams/{team_id}/agents/{agent_id}",
            c(put(directory::add_team_agent::<B>).delete(directory::remove_team_agent::<B>)),
        )
        .route("/v1/conversations/{conversation_id}/assignable-agents", c(get(directory::assignable_agents::<B>)))
        // contacts.rs
        .route("/v1/contacts", c(post(contacts::create_contact::<B>).get(contacts::list_contacts::<B>)))
        .route(
            "/v1/contacts/{contact_id}",
            c(get(contacts::get_contact::<B>)
                .patch(contacts::change_contact::<B>)
                .delete(contacts::delete_contact::<B>)),
        )
        .route("/v1/contacts/{contact_id}/conversations", c(get(contacts::contact_conversations::<B>)))
        .route("/v1/contacts/{contact_id}/merge", c(post(contacts::merge_contact::<B>)))
        .route(
            "/v1/contacts/{contact_id}/identities",
            c(post(contacts::link_identity::<B>).delete(contacts::unlink_identity::<B>)),
        )
        // messages.rs
        .route("/v1/inbound-messages", c(post(messages::receive_inbound::<B>)))
        .route(
            "/v1/conversations/{conversation_id}/messages",
            c(post(messages::send_message::<B>).get(messages::list_messages::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}",
            c(patch(messages::edit_message::<B>).delete(messages::delete_message::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/messages/{message_id}/status",
            c(post(messages::record_status::<B>)),
        )
        .route("/v1/conversations/{conversation_id}/messages/{message_id}/reactions", c(post(messages::react::<B>)))
        // conversations.rs
        .route("/v1/conversations", c(get(conversations::list_conversations::<B>)))
        .route(
            "/v1/conversations/{conversation_id}/labels/{label}",
            c(put(conversations::add_label::<B>).delete(conversations::remove_label::<B>)),
        )
        .route("/v1/labels", c(get(conversations::list_labels::<B>)))
        .route("/v1/conversations/{conversation_id}/notes", c(post(messages::add_note::<B>)))
        .route("/v1/conversations/{conversation_id}/attributes", c(patch(attributes::set_conversation_attributes::<B>)))
        .route(
            "/v1/attribute-definitions",
            c(post(attributes::define_attribute::<B>).get(attributes::list_attributes::<B>)),
        )
        .route(
            "/v1/attribute-definitions/{model}/{key}",
            c(get(attributes::get_attribute::<B>)
                .patch(attributes::change_attribute::<B>)
                .delete(attributes::delete_attribute::<B>)),
        )
        .route("/v1/agents/{agent_id}/mentions", c(get(directory::agent_mentions::<B>)))
        .route("/v1/conversations/{conversation_id}", c(get(conversations::get_conversation::<B>)))
        .route("/v1/conversations/{conversation_id}/window", c(get(conversations::get_window::<B>)))
        .route(
            "/v1/conversations/{conversation_id}/assignee",
            c(put(conversations::assign_agent::<B>).delete(conversations::unassign_agent::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/team",
            c(put(conversations::assign_team::<B>).delete(conversations::unassign_team::<B>)),
        )
        .route("/v1/conversations/{conversation_id}/archive", c(post(conversations::archive::<B>)))
        .route("/v1/conversations/{conversation_id}/unarchive", c(post(conversations::unarchive::<B>)))
        .route("/v1/conversations/{conversation_id}/status", c(post(conversations::change_status::<B>)))
        // analytics.rs
        .route("/v1/conversations/{conversation_id}/response-times", c(get(analytics::response_times::<B>)))
        // read_state.rs
        .route("/v1/conversations/{conversation_id}/read", c(post(read_state::mark_read::<B>)))
        .route("/v1/users/{user_id}/unread-summary", c(get(read_state::unread_summary::<B>)))
        // groups.rs
        .route("/v1/groups", c(post(groups::create_group::<B>)))
        .route(
            "/v1/conversations/{conversation_id}/members",
            c(post(groups::add_members::<B>).get(groups::list_members::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/members/{member_id}",
            c(patch(groups::update_member::<B>).delete(groups::remove_member::<B>)),
        )
        .route("/v1/conversations/{conversation_id}/group", c(patch(groups::update_group::<B>)))
        .route(
            "/v1/conversations/{conversation_id}/join-requests",
            c(post(groups::request_to_join::<B>).get(groups::list_join_requests::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/join-requests/{request_id}/approve",
            c(post(groups::approve_join_request::<B>)),
        )
        .route(
            "/v1/conversations/{conversation_id}/join-requests/{request_id}/reject",
            c(post(groups::reject_join_request::<B>)),
        )
        .route("/v1/conversations/{conversation_id}/invite-link/rotate", c(post(groups::rotate_invite_link::<B>)))
        .route("/v1/conversations/{conversation_id}/leave", c(post(groups::leave_group::<B>)))
        .route("/v1/conversations/{conversation_id}/activity", c(post(groups::record_activity::<B>)))
        // log.rs
        .route("/v1/events", c(get(log::list_events::<B>)))
        .route("/v1/conversations/{conversation_id}/events", c(get(log::conversation_events::<B>)))
        // stream.rs
        .route("/v1/stream", c(get(stream::stream::<B>)))
        // webhooks.rs (the attempt log's literal path is matched before `{webhook_id}`)
        .route("/v1/webhooks", c(post(webhooks::create_webhook::<B>).get(webhooks::list_webhooks::<B>)))
        .route("/v1/webhooks/attempts", c(get(webhooks::list_attempts::<B>)))
        .route("/v1/webhooks/signing-keys", c(get(webhooks::signing_keys::<B>)))
        .route("/v1/webhooks/signing-keys/rotate", c(post(webhooks::rotate_signing_key::<B>)))
        .route(
            "/v1/webhooks/{webhook_id}",
            c(get(webhooks::get_webhook::<B>)
                .patch(webhooks::change_webhook::<B>)
                .delete(webhooks::delete_webhook::<B>)),
        )
        .route("/v1/webhooks/{webhook_id}/replay", c(post(webhooks::replay_webhook::<B>)))
        .route("/v1/webhooks/{webhook_id}/verify", c(post(webhooks::verify_webhook::<B>)))
        .route("/v1/webhooks/{webhook_id}/secret/rotate", c(post(webhooks::rotate_secret::<B>)))
        // Set before the layers below, so that they wrap the 405 too (axum keeps it when
        // `router` sets the public routes' own).
        .method_not_allowed_fallback(method_not_allowed)
        // After the key is checked (a refused key learns nothing more) and before idempotency,
        // which reads the body.
        .route_layer(axum::middleware::from_fn_with_state(state.body_limit, edge::refuse_too_large))
        // Authentication around everything, unsupported methods (405) included.
        .route_layer(axum::middleware::from_fn_with_state(state, auth::authenticate::<B>))
}

/// 405, with the `Allow` header axum adds.
async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::method_not_allowed(&method)
}
