//! Request extractors whose rejections are problem+json, never axum's plain-text defaults.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use uuid::Uuid;

use crate::ApiError;
use crate::auth::Principal;

/// JSON body; malformed JSON is 400, a body of the wrong shape 422, a wrong content type 415.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::from(rejection)),
        }
    }
}

/// An optional JSON body: absent (no content type and no bytes) or `null` is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(e.status(), "payloadTooLarge", e.body_text()),
            _ => ApiError::bad_request(e.body_text()),
        })?;
        if bytes.is_empty() && !has_type {
            return Ok(Self(None));
        }
        serde_json::from_slice::<Option<T>>(&bytes).map(Self).map_err(ApiError::from_json)
    }
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
            .map_err(|e| ApiError::validation("path", e.body_text()))
    }
}
