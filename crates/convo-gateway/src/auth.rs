//! Authentication and per-key limits: every `/v1` request carries `Authorization: Bearer <key>`;
//! the key names the workspace every command and query is scoped to, its scopes what the
//! request may do, and its rate limit how often.
//!
//! The trust boundary: reads need `read`; key and webhook management `admin`; channel-side
//! facts (inbound messages, delivery reports, group activity, join requests: [`CHANNEL_FACTS`])
//! `connector`; every other command acts as someone, and who may be claimed follows the key
//! ([`Caller`]): a `contact` only by a `connector` key (what a member did on the channel,
//! recorded as reported), an agent, a bot or the system only by a `write` key. `admin` keeps
//! everything.
//! A command that names no actor acts as the key's default: the API (`system`, `api`) for a
//! write key, the channel (`system`, `channel`) for a connector key.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use convo_domain::{Actor, ActorKind};
use convo_store::Backend;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::Code;
use crate::tenancy::{ApiKey, Scope};
use crate::{ApiError, AppState};

/// The authenticated caller of a request, put in its extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub struct Principal(pub ApiKey);

/// Requests per second and burst allowed to one key.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

pub(crate) struct Limiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        Self { limiter: RateLimiter::keyed(quota) }
    }

    /// `Err(seconds to wait)` when the key is over its limit.
    fn check(&self, key_id: &str) -> Result<(), u32> {
        self.limiter.check_key(&key_id.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).max(1)
        })
    }
}

/// The commands that record what happened on the channel: only a `connector` (or `admin`) key
/// reports them.
pub const CHANNEL_FACTS: [(&str, &str); 4] = [
    ("POST", "/v1/inbound-messages"),
    ("POST", "/v1/conversations/{conversation_id}/messages/{message_id}/status"),
    ("POST", "/v1/conversations/{conversation_id}/activity"),
    ("POST", "/v1/conversations/{conversation_id}/join-requests"),
];

/// Whether `route` manages the workspace (its keys, its webhook endpoints and signing keys):
/// admin only. The webhooks' attempt log and the public signing keys are a read.
fn manages(route: &str) -> bool {
    let reads = [crate::webhooks::ATTEMPTS_PATH, crate::webhooks::SIGNING_KEYS_PATH];
    route.starts_with("/v1/keys") || (route.starts_with("/v1/webhooks") && !reads.contains(&route))
}

/// What a request needs at the door: key and webhook management admin, reads read, channel
/// facts connector; any other command `write` or `connector`, and then [`Caller::acts`] decides
/// by the actor it claims.
fn needed_scopes(request: &Request) -> &'static [Scope] {
    let route = request.extensions().get::<MatchedPath>().map_or_else(|| request.uri().path(), MatchedPath::as_str);
    if manages(route) {
        &[Scope::Admin]
    } else if matches!(*request.method(), Method::GET | Method::HEAD) {
        &[Scope::Read]
    } else if CHANNEL_FACTS.contains(&(request.method().as_str(), route)) {
        &[Scope::Connector]
    } else {
        &[Scope::Write, Scope::Connector]
    }
}

/// Authenticates the bearer key, checks its scope and rate limit, and records it as the
/// request's [`Principal`].
pub(crate) async fn authenticate<B: Backend>(
    State(state): State<AppState<B>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(token) = token else {
        return unauthorized("an API key is required: Authorization: Bearer <key>");
    };
    let key = match state.tenancy.authenticate(token).await {
        Ok(Some(key)) => key,
        Ok(None) => return unauthorized("the API key is unknown or revoked"),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let needed = needed_scopes(&request);
    if !needed.iter().any(|&scope| key.allows(scope)) {
        let scopes = needed.iter().map(|s| format!("\"{}\"", s.as_str())).collect::<Vec<_>>().join(" or ");
        return ApiError::new(Code::Forbidden, format!("this key lacks the {scopes} scope")).into_response();
    }
    if let Some(limiter) = &state.limiter
        && let Err(wait) = limiter.check(&key.key_id)
    {
        metrics::counter!("convo_rate_limited_total").increment(1);
        return ApiError::new(Code::RateLimited, "this key is over its rate limit").retry_after(wait).into_response();
    }
    request.extensions_mut().insert(Principal(key));
    next.run(request).await
}

/// The key [`authenticate`] recorded for the request. Missing only if a route were mounted
/// outside the authentication layer: then it is a 401, never a request without a workspace.
pub(crate) fn principal(extensions: &axum::http::Extensions) -> Result<&ApiKey, ApiError> {
    match extensions.get::<Principal>() {
        Some(Principal(key)) => Ok(key),
        None => Err(ApiError::new(Code::Unauthorized, "an API key is required")),
    }
}

/// The key a command came with, deciding who the command may say acted.
pub struct Caller(pub ApiKey);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        principal(&parts.extensions).map(|key| Self(key.clone()))
    }
}

impl Caller {
    /// The actor of an agent's action (send, assign, archive, …): `claimed` or the key's
    /// default, an agent, a bot or the system, which needs a `write` key.
    pub fn agent_action(&self, claimed: Option<Actor>) -> Result<Actor, ApiError> {
        let actor = claimed.unwrap_or_else(|| self.default_actor());
        if actor.kind == ActorKind::Contact {
            return Err(ApiError::validation("actor", "a contact cannot do this: name an agent, a bot or the system"));
        }
        self.may_act_as(actor)
    }

    /// The actor of a change either side may make (a reaction, a group's members and
    /// settings, …): a contact, what a member did on the channel, needs a `connector` key; an
    /// agent, a bot or the system a `write` key.
    pub fn member_or_agent(&self, claimed: Option<Actor>) -> Result<Actor, ApiError> {
        self.may_act_as(claimed.unwrap_or_else(|| self.default_actor()))
    }

    /// The actor of a channel-side fact (its route needs `connector` already): `claimed` (a
    /// contact, or the channel's side, `system`, e.g. the connector naming itself) or
    /// `default`; only a `write` key may also claim an agent or a bot.
    pub fn channel_fact(&self, claimed: Option<Actor>, default: Actor) -> Result<Actor, ApiError> {
        match claimed {
            Some(actor)
                if matches!(actor.kind, ActorKind::Contact | ActorKind::System) || self.0.allows(Scope::Write) =>
            {
                Ok(actor)
            }
            Some(_) => Err(refused(
                "a channel-side fact is reported by the channel (`system`) or a contact; only a key with the \
                 \"write\" scope acts as an agent or a bot",
            )),
            None => Ok(default),
        }
    }

    fn may_act_as(&self, actor: Actor) -> Result<Actor, ApiError> {
        let needed = if actor.kind == ActorKind::Contact { Scope::Connector } else { Scope::Write };
        if self.0.allows(needed) {
            return Ok(actor);
        }
        Err(refused(match needed {
            Scope::Connector => "only a key with the \"connector\" scope reports what a contact did",
            _ if actor == channel() => {
                "a connector key reports what happened on the channel: name the contact (`actor`), or use a key \
                 with the \"write\" scope"
            }
            _ => "only a key with the \"write\" scope acts as an agent, a bot or the system",
        }))
    }

    /// The actor of a change an agent's tools and a connector may both make (linking a
    /// contact's identity): the key's default, the API (`system`, `api`) for a `write` key,
    /// the channel for a `connector` key (the route takes no other scope).
    pub fn agent_or_channel(&self) -> Actor {
        self.default_actor()
    }

    fn default_actor(&self) -> Actor {
        if self.0.allows(Scope::Write) { Actor::system("api") } else { channel() }
    }
}

fn refused(detail: &str) -> ApiError {
    ApiError::new(Code::ActorNotAllowed, detail).with_field("actor")
}

/// The actor of what a connector reports without naming a contact.
pub fn channel() -> Actor {
    Actor::system("channel")
}

fn unauthorized(detail: &str) -> Response {
    let mut response = ApiError::new(Code::Unauthorized, detail).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

pub(crate) type SharedLimiter = Option<Arc<Limiter>>;
