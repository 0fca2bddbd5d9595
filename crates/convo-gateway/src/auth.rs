//! Authentication and per-key limits: every `/v1` request carries `Authorization: Bearer <key>`;
//! the key names the workspace every command and query is scoped to, its scopes what the
//! request may do (reads need `read`, commands `write`, key management `admin`), and its rate
//! limit how often.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use convo_store::{ApiKey, Backend, Scope};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

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

/// The scope a request needs: key management is admin, reads are read, the rest write.
fn needed_scope(request: &Request) -> Scope {
    if request.uri().path().starts_with("/v1/keys") {
        Scope::Admin
    } else if matches!(*request.method(), Method::GET | Method::HEAD) {
        Scope::Read
    } else {
        Scope::Write
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
    let needed = needed_scope(&request);
    if !key.allows(needed) {
        let scope = needed.as_str();
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this key lacks the \"{scope}\" scope"))
            .into_response();
    }
    if let Some(limiter) = &state.limiter
        && let Err(wait) = limiter.check(&key.key_id)
    {
        metrics::counter!("convo_rate_limited_total").increment(1);
        return ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rateLimited", "this key is over its rate limit")
            .retry_after(wait)
            .into_response();
    }
    request.extensions_mut().insert(Principal(key));
    next.run(request).await
}

fn unauthorized(detail: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", detail).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

pub(crate) type SharedLimiter = Option<Arc<Limiter>>;
