//! Request extractors whose rejections are problem+json, never axum's plain-text defaults.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::ApiError;
use crate::auth::Principal;

/// JSON body; malformed JSON is 400, a body of the wrong shape (or with a NUL in a string)
/// 422 naming the field, a wrong content type 415, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupportedMediaType",
                "expected a body with `Content-Type: application/json`",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse(&bytes).map(Self)
    }
}

/// An optional JSON body: absent (no content type and no bytes) or `null` is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() && !has_type {
            return Ok(Self(None));
        }
        parse::<Option<T>>(&bytes).map(Self)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(axum::http::header::CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), "payloadTooLarge", e.body_text()),
        _ => ApiError::bad_request(e.body_text()),
    })
}

/// The one way a body becomes a command's input: NUL refused, then parsed with the path of
/// whatever does not fit.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::input::refuse_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(ApiError::from_json)?;
    deserializer.end().map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The request's workspace: the one its API key belongs to.
pub struct Workspace(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Principal>() {
            Some(Principal(key)) => Ok(Self(key.workspace_id)),
            // Only reachable if a route were mounted outside the authentication layer.
            None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "an API key is required")),
        }
    }
}

/// Path parameters; a malformed id is a 400 validation error.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| ApiError::parameter("path", e.body_text()))
    }
}
