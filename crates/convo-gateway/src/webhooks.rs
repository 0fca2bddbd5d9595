//! Webhook endpoints of a workspace, for its admins: create (the signing secret is shown once),
//! list, show, delete; and the attempt log of their deliveries, for any reader. Endpoints of
//! other workspaces are invisible: showing or deleting one is 404. Kept by `convo-webhooks`
//! beside the log, which the endpoints and attempts are not part of.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use convo_domain::webhook::{DisabledReason, WebhookEndpointAction};
use convo_domain::{ConversationError, Inbox};
use convo_store::Backend;
use convo_webhooks::{Attempt, AttemptFilter, Endpoint, NewEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::extract::{ApiJson, ApiPath, QueryParams, Workspace, params};
use crate::idempotency::SealAnswer;
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Creating a webhook.
    CreateAWebhook = [
        Validation => "`url` is not an absolute `http` or `https` URL with a host and without \
                       credentials, or `event_types` names an unknown event type",
        NotFound => "`inbox_id` names no inbox of this workspace",
        SecretsKeyMismatch => "a retry with the `Idempotency-Key` of a creation answered by a node with another \
                               secrets key, whose answer (with the secret) this node cannot open",
    ];
    /// A webhook by id.
    AWebhook = [NotFound => "no webhook with this id in this workspace"];
    /// Testing a webhook.
    VerifyAWebhook = [
        NotFound => "no webhook with this id in this workspace",
        SecretsKeyMismatch => "the webhook's secret, or its workspace's signing key, was sealed with another \
                               secrets key than this node's: it cannot sign",
    ];
    /// Rotating a webhook's secret.
    RotateAWebhookSecret = [
        NotFound => "no webhook with this id in this workspace",
        SecretsKeyMismatch => "a retry with the `Idempotency-Key` of a rotation answered by a node with another \
                               secrets key, whose answer (with the secret) this node cannot open",
    ];
    /// Changing a webhook.
    ChangeAWebhook = [
        Validation => "`url` is not an absolute `http` or `https` URL with a host and without \
                       credentials, or `event_types` names an unknown event type",
        NotFound => "no webhook with this id in this workspace, or `inbox_id` names no inbox of it",
    ];
    /// Replaying events to a webhook.
    ReplayToAWebhook = [
        Validation => "not exactly one of `position`, `since_position` and `since`",
        NotFound => "no webhook with this id in this workspace, or no event of the workspace at `position`",
    ];
}

/// The path of the attempt log: a literal segment, which axum prefers to `{webhook_id}`.
pub const ATTEMPTS_PATH: &str = "/v1/webhooks/attempts";
/// The workspace's public signing keys: a read, like the attempt log.
pub const SIGNING_KEYS_PATH: &str = "/v1/webhooks/signing-keys";

/// A new webhook endpoint of the caller's workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// Where events are POSTed: an absolute `http` or `https` URL with a host and without
    /// credentials (`user:pass@`). Kept as given.
    #[schema(pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+([/?#].*)?$")]
    pub url: String,
    /// What it is for (default empty).
    #[serde(default)]
    pub description: String,
    /// Whether it gets events (default true); a disabled endpoint gets nothing, and what it
    /// matched meanwhile is not delivered later.
    #[serde(default = "enabled_by_default")]
    #[schema(default = true)]
    pub enabled: bool,
    /// The event types it gets, by name, whatever their version (default empty: every type).
    #[serde(default)]
    pub event_types: Vec<String>,
    /// Only events of this inbox and its conversations (default: every inbox).
    #[serde(default)]
    pub inbox_id: Option<Uuid>,
}

fn enabled_by_default() -> bool {
    true
}

/// A webhook just created: its signing secret is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhook {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    /// The signing secret (`whsec_…`) of its deliveries' `webhook-signature` (Standard
    /// Webhooks). Shown only in this answer.
    pub secret: String,
}

/// Create a webhook endpoint: it gets the events appended from now on that its filter matches.
/// Its signing secret is in this answer and nowhere else (a retry with the same
/// `Idempotency-Key` answers it again, kept sealed meanwhile).
#[utoipa::path(
    post,
    path = "/v1/webhooks",
    tag = "webhooks",
    request_body = CreateWebhook,
    responses(
        (status = 201, description = "The endpoint, with its signing secret (shown this once)", body = CreatedWebhook),
        CreateAWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn create_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiJson(body): ApiJson<CreateWebhook>,
) -> Result<(StatusCode, Extension<SealAnswer>, Json<CreatedWebhook>), ApiError> {
    check_url(&body.url)?;
    let event_types = known_event_types(body.event_types)?;
    if let Some(inbox_id) = body.inbox_id {
        check_inbox(&state, ws, inbox_id).await?;
    }
    let new = NewEndpoint {
        url: body.url,
        description: body.description,
        enabled: body.enabled,
        event_types,
        inbox_id: body.inbox_id,
    };
    // A retry with the same Idempotency-Key names the same endpoint.
    let endpoint_id = crate::idempotency::mint_id(ws, "webhook");
    let after_position = state.engine.log.head().await?;
    let now = state.engine.clock.now();
    let (endpoint, secret) = state.webhooks.create(ws, endpoint_id, new, after_position, now).await?;
    Ok((StatusCode::CREATED, Extension(SealAnswer), Json(CreatedWebhook { endpoint, secret })))
}

/// List the workspace's webhook endpoints, never their secrets.
#[utoipa::path(
    get,
    path = "/v1/webhooks",
    tag = "webhooks",
    params(Paging<paging::Webhooks>),
    responses((status = 200, description = "One page of the endpoints, by id (oldest first)", body = Page<Endpoint>)),
    security(("apiKey" = ["admin"])),
)]
pub async fn list_webhooks<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ListQuery(paging, _): ListQuery<paging::Webhooks>,
) -> Result<Listed<Page<Endpoint>>, ApiError> {
    // A workspace has a handful: the page is cut from all of them.
    let mut rows = state.webhooks.list(ws).await?;
    rows.sort_by_key(|endpoint| endpoint.endpoint_id);
    let rows = rows
        .into_iter()
        .filter(|endpoint| paging.cursor.is_none_or(|after| endpoint.endpoint_id > after))
        .take(paging.fetch() as usize)
        .collect();
    Ok(paging.answer(paging.page(rows, |endpoint| endpoint.endpoint_id)))
}

/// Show a webhook endpoint of the workspace, never its secret.
#[utoipa::path(
    get,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    responses(
        (status = 200, description = "The endpoint", body = Endpoint),
        AWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn get_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(webhook_id): ApiPath<Uuid>,
) -> Result<Json<Endpoint>, ApiError> {
    match state.webhooks.get(ws, webhook_id).await? {
        Some(endpoint) => Ok(Json(endpoint)),
        None => Err(ApiError::not_found("no such webhook")),
    }
}

/// Delete a webhook endpoint of the workspace: it gets nothing more, and what it had yet to be
/// delivered is dropped (its attempts stay in the attempt log).
#[utoipa::path(
    delete,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    responses(
        (status = 204, description = "Deleted"),
        AWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn delete_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(webhook_id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if state.webhooks.delete(ws, webhook_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such webhook"))
    }
}

/// What to change of an endpoint: the fields given (`inbox_id: null`: every inbox again).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeWebhook {
    #[schema(pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+([/?#].*)?$")]
    pub url: Option<String>,
    pub description: Option<String>,
    /// Enabling an endpoint clears why the engine disabled it (a 410); it gets the events from
    /// now on, and what it missed meanwhile by a replay.
    pub enabled: Option<bool>,
    pub event_types: Option<Vec<String>>,
    /// An inbox of the workspace, or `null` for every inbox.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub inbox_id: Option<Option<Uuid>>,
}

/// A field given, even as `null` (`Some(None)`), apart from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(deserializer).map(Some)
}

/// Change a webhook endpoint of the workspace: the events fanned out from now on go by the new
/// settings.
#[utoipa::path(
    patch,
    path = "/v1/webhooks/{webhook_id}",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    request_body = ChangeWebhook,
    responses(
        (status = 200, description = "The endpoint as it is now", body = Endpoint),
        ChangeAWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn change_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(webhook_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ChangeWebhook>,
) -> Result<Json<Endpoint>, ApiError> {
    if let Some(url) = &body.url {
        check_url(url)?;
    }
    let event_types = body.event_types.map(known_event_types).transpose()?;
    if let Some(Some(inbox_id)) = body.inbox_id {
        check_inbox(&state, ws, inbox_id).await?;
    }
    // Turned on or off: in the log first (`WebhookEndpointEnabled` or `…Disabled`, nothing
    // when the log has it so already), then in its row, so a retry of a PATCH whose answer was
    // lost writes the row only.
    if let Some(enabled) = body.enabled {
        if state.webhooks.get(ws, webhook_id).await?.is_none() {
            return Err(ApiError::not_found("no such webhook"));
        }
        let action = if enabled {
            WebhookEndpointAction::Enable
        } else {
            WebhookEndpointAction::Disable { reason: DisabledReason::Requested, detail: "disabled on request".into() }
        };
        let metadata = crate::idempotency::command_metadata(ws, "");
        let actor = caller.agent_action(None)?;
        convo_webhooks::switch(&state.engine.webhook_endpoints, ws, webhook_id, actor, action, metadata).await?;
    }
    let change = convo_webhooks::EndpointChange {
        url: body.url,
        description: body.description,
        enabled: body.enabled,
        event_types,
        inbox_id: body.inbox_id,
    };
    match state.webhooks.update(ws, webhook_id, change).await? {
        Some(endpoint) => Ok(Json(endpoint)),
        None => Err(ApiError::not_found("no such webhook")),
    }
}

/// Send a webhook endpoint a signed test delivery now (event type `WebhookVerification`,
/// position 0, a `webhook-id` of its own), and answer with its attempt, whatever came of it;
/// it is in the attempt log as `manual`. A disabled endpoint is tested too.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/verify",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    responses(
        (status = 200, description = "The test delivery's attempt: `succeeded` says how it went", body = Attempt),
        VerifyAWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn verify_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(webhook_id): ApiPath<Uuid>,
) -> Result<Json<Attempt>, ApiError> {
    let endpoint = state.webhooks.get(ws, webhook_id).await?.ok_or_else(|| ApiError::not_found("no such webhook"))?;
    // A secret sealed with another key is a `secretsKeyMismatch`, not the store's error.
    state.webhooks.check_signing(&endpoint).await?;
    let tester = state.tester.as_ref().ok_or_else(|| {
        ApiError::from(convo_store::StoreError::Connection("no HTTP client for webhook deliveries".into()))
    })?;
    Ok(Json(tester.verify(&state.webhooks, &endpoint).await?))
}

/// The workspace's signing keys, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeys {
    /// The keys that sign now: the current one (no `retires_at`) and any rotated one still in
    /// its overlap. Each delivery carries a `v1a` signature (ed25519 over
    /// `{webhook-id}.{webhook-timestamp}.{body}`) with each.
    pub keys: Vec<convo_webhooks::SigningKey>,
}

/// The workspace's ed25519 public keys, which verify the `v1a` signatures of its deliveries:
/// a receiver needs no secret to check that a delivery is the engine's.
#[utoipa::path(
    get,
    path = "/v1/webhooks/signing-keys",
    tag = "webhooks",
    responses((status = 200, description = "The keys that sign now, newest first", body = SigningKeys)),
    security(("apiKey" = ["read"])),
)]
pub async fn signing_keys<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
) -> Result<Json<SigningKeys>, ApiError> {
    Ok(Json(SigningKeys { keys: state.webhooks.signing_keys(ws, chrono::Utc::now()).await? }))
}

/// Rotate the workspace's signing key: a new one signs from now on, and the one before beside
/// it for the overlap (24 h by default); answered with the keys that sign now.
#[utoipa::path(
    post,
    path = "/v1/webhooks/signing-keys/rotate",
    tag = "webhooks",
    responses((status = 200, description = "The keys that sign now, the new one first", body = SigningKeys)),
    security(("apiKey" = ["admin"])),
)]
pub async fn rotate_signing_key<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
) -> Result<Json<SigningKeys>, ApiError> {
    let keys = state.webhooks.rotate_signing_key(ws, state.webhook_overlap, chrono::Utc::now()).await?;
    Ok(Json(SigningKeys { keys }))
}

/// A rotated signing secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedSecret {
    /// The new signing secret (`whsec_…`), shown only in this answer.
    pub secret: String,
    /// Until when the secret before it keeps signing beside it: every delivery until then
    /// carries a `v1` signature with each, so receivers switch over without missing one.
    pub previous_until: chrono::DateTime<chrono::Utc>,
}

/// Rotate a webhook endpoint's signing secret: a new one, shown in this answer only; the one
/// before keeps signing beside it for the overlap (24 h by default), then only the new one does.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/secret/rotate",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    responses(
        (status = 200, description = "The new secret (shown this once) and the end of the overlap", body = RotatedSecret),
        RotateAWebhookSecret,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn rotate_secret<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(webhook_id): ApiPath<Uuid>,
) -> Result<(Extension<SealAnswer>, Json<RotatedSecret>), ApiError> {
    // Wall-clock time, as the sender's: the overlap is a span of real deliveries.
    let now = chrono::Utc::now();
    let overlap = state.webhook_overlap;
    let rotated = state.webhooks.rotate_secret(ws, webhook_id, overlap, now).await?;
    let secret = rotated.ok_or_else(|| ApiError::not_found("no such webhook"))?;
    let previous_until = now + chrono::Duration::from_std(overlap).unwrap_or(chrono::Duration::zero());
    Ok((Extension(SealAnswer), Json(RotatedSecret { secret, previous_until })))
}

/// What to deliver to an endpoint again: exactly one of the three.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhook {
    /// The event at this position of the log.
    #[serde(default)]
    pub position: Option<i64>,
    /// Every event after this position.
    #[serde(default)]
    pub since_position: Option<i64>,
    /// Every event recorded at or after this time.
    #[serde(default)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// How many events were made pending again.
#[derive(Debug, Serialize, ToSchema)]
pub struct Replayed {
    /// Events of the workspace that the endpoint's filter takes, now on their way (those
    /// already pending stay as they are); their attempts say `replay`.
    pub replayed: u64,
}

/// Deliver events to an endpoint again: one (`position`), or every one since a position or a
/// time that its filter takes, whether or not the endpoint existed then. They go in each
/// conversation's order, with the same `webhook-id` as before, and their attempts say `replay`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{webhook_id}/replay",
    tag = "webhooks",
    params(("webhook_id" = Uuid, Path, description = "The endpoint's id (`endpoint_id`)")),
    request_body = ReplayWebhook,
    responses(
        (status = 202, description = "The events are on their way", body = Replayed),
        ReplayToAWebhook,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn replay_webhook<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(webhook_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<ReplayWebhook>,
) -> Result<(StatusCode, Json<Replayed>), ApiError> {
    use convo_webhooks::Replay;
    let replay = match (body.position, body.since_position, body.since) {
        (Some(position), None, None) => Replay::One(position),
        (None, Some(position), None) => Replay::SincePosition(position),
        (None, None, Some(time)) => Replay::Since(time),
        _ => return Err(ApiError::validation("position", "give exactly one of position, since_position and since")),
    };
    let endpoint = state.webhooks.get(ws, webhook_id).await?.ok_or_else(|| ApiError::not_found("no such webhook"))?;
    match convo_webhooks::replay(&state.webhooks, &state.engine.log, &endpoint, replay).await? {
        Some(replayed) => Ok((StatusCode::ACCEPTED, Json(Replayed { replayed }))),
        None => Err(ApiError::not_found("no event of this workspace at that position")),
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AttemptStatus {
    /// The receiver answered 2xx.
    Succeeded,
    /// Anything else: another status, a timeout, no connection.
    Failed,
}

/// Which attempts to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AttemptsParams {
    /// Only the attempts of this endpoint (its `endpoint_id`).
    #[serde(default)]
    pub webhook_id: Option<Uuid>,
    /// Only attempts that succeeded, or only those that failed.
    #[serde(default)]
    #[param(inline)]
    pub status: Option<AttemptStatus>,
    /// Only the attempts to deliver the event at this log position.
    #[serde(default)]
    pub position: Option<i64>,
}

impl QueryParams for AttemptsParams {
    fn from_query(query: &str, _: &axum::http::HeaderMap) -> Result<Self, ApiError> {
        params(query)
    }
}

/// Read the workspace's webhook attempt log, newest first: every attempt to deliver an event to
/// one of its endpoints, with the receiver's answer.
#[utoipa::path(
    get,
    path = "/v1/webhooks/attempts",
    tag = "webhooks",
    params(AttemptsParams, Paging<paging::WebhookAttempts>),
    responses(
        (status = 200, description = "One page of the attempts, newest first (an endpoint or filter that matches nothing, another workspace's included, is an empty page)", body = Page<Attempt>),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_attempts<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ListQuery(paging, filter): ListQuery<paging::WebhookAttempts, AttemptsParams>,
) -> Result<Listed<Page<Attempt>>, ApiError> {
    let filter = AttemptFilter {
        endpoint_id: filter.webhook_id,
        position: filter.position,
        succeeded: filter.status.map(|status| status == AttemptStatus::Succeeded),
        before: paging.cursor,
        limit: paging.fetch(),
    };
    let rows = state.webhooks.attempts(ws, &filter).await?;
    let page = paging.page(rows, |(attempt_id, _)| *attempt_id);
    let page =
        Page { items: page.items.into_iter().map(|(_, attempt)| attempt).collect(), next_cursor: page.next_cursor };
    Ok(paging.answer(page))
}

/// An endpoint's URL: absolute, `http` or `https`, with a host and without credentials. Which
/// hosts may be called (private addresses, plain `http`) is the sender's to decide.
fn check_url(text: &str) -> Result<(), ApiError> {
    // Exactly the document's pattern, `^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@]+([/?#].*)?$`: what it
    // takes, the gateway takes (a URL no HTTP client can use then fails its attempts, which
    // say why).
    let refuse = |reason: &str| Err(ApiError::validation("url", reason));
    let scheme = |prefix: &str| text.get(..prefix.len()).is_some_and(|s| s.eq_ignore_ascii_case(prefix));
    let rest = if scheme("https://") {
        &text[8..]
    } else if scheme("http://") {
        &text[7..]
    } else {
        return refuse("must be an absolute http or https URL, such as https://example.com/hooks");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(end);
    if authority.is_empty() {
        return refuse("must name a host");
    }
    if authority.contains('@') {
        return refuse("must not carry credentials (user:pass@)");
    }
    if after.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
        return refuse("must not hold a line break");
    }
    Ok(())
}

/// The event types of an endpoint's filter, each known (by name, whatever its version), each once.
fn known_event_types(requested: Vec<String>) -> Result<Vec<String>, ApiError> {
    static KNOWN: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| crate::openapi::event_types().collect());
    let mut types: Vec<String> = Vec::with_capacity(requested.len());
    for (i, event_type) in requested.into_iter().enumerate() {
        if !known.contains(event_type.as_str()) {
            return Err(ApiError::validation(
                &format!("event_types.{i}"),
                "not an event type of the catalogue (docs/EVENTS.md)",
            ));
        }
        if !types.contains(&event_type) {
            types.push(event_type);
        }
    }
    Ok(types)
}

/// 404 unless `inbox_id` is an inbox of the workspace (deleted or not), answered as a command
/// naming an inbox answers it: another workspace's inbox looks like one that exists nowhere.
async fn check_inbox<B: Backend>(state: &AppState<B>, ws: Uuid, inbox_id: Uuid) -> Result<(), ApiError> {
    let (_, inbox): (usize, Inbox) = state.engine.inboxes.load(&inbox_id.to_string()).await?;
    match inbox.facts() {
        Some(facts) if facts.workspace_id == ws => Ok(()),
        _ => Err(ConversationError::InboxNotFound(inbox_id).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_url_is_absolute_http_with_a_host_and_no_credentials() {
        for good in [
            "https://example.com/hooks",
            "http://127.0.0.1:8080",
            "HTTPS://Example.com/a?b=c#d",
            "http://[::1]:9/x",
            "https://example.com/a@b",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "not a url",
            "",
            "/hooks",
            "example.com/hooks",
            "ftp://x",
            "mailto:a@example.com",
            "file:///etc/passwd",
            "https://user:pass@example.com/hook",
            "https://user@example.com/hook",
            "https://:pass@example.com/hook",
            "http://",
        ] {
            let refused = check_url(bad).expect_err(bad);
            assert_eq!(refused.errors[0].pointer.as_deref(), Some("/url"), "{bad}");
        }
    }

    #[test]
    fn event_types_are_the_catalogues_each_once() {
        let catalogue: BTreeSet<String> = crate::openapi::event_schemas().into_iter().map(|e| e.event_type).collect();
        let listed: BTreeSet<String> = crate::openapi::event_types().map(str::to_owned).collect();
        assert_eq!(listed, catalogue);
        let types = known_event_types(vec!["MessageSent".into(), "AgentAssigned".into(), "MessageSent".into()]);
        assert_eq!(types.expect("known"), ["MessageSent", "AgentAssigned"]);
        let refused = known_event_types(vec!["MessageSent".into(), "messagesent".into()]).expect_err("unknown");
        assert_eq!(refused.errors[0].pointer.as_deref(), Some("/event_types/1"));
    }
}
