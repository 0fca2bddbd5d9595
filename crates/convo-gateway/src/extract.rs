//! Request extractors whose rejections are problem+json, never axum's plain-text defaults.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use uuid::Uuid;

use crate::ApiError;

/// The header naming the workspace of a request, until API keys (which carry it) arrive.
pub const WORKSPACE_HEADER: &str = "x-convo-workspace";
/// The workspace of requests that name none: the embedded default's single tenant.
pub const DEFAULT_WORKSPACE: Uuid = Uuid::nil();

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

/// An optional JSON body: absent (no content type and no bytes) is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let bytes =
            axum::body::Bytes::from_request(req, state).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
        if bytes.is_empty() && !has_type {
            return Ok(Self(None));
        }
        serde_json::from_slice(&bytes).map(|v| Self(Some(v))).map_err(ApiError::from_json)
    }
}

/// The request's workspace.
pub struct Workspace(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match parts.headers.get(WORKSPACE_HEADER) {
            None => Ok(Self(DEFAULT_WORKSPACE)),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| Uuid::parse_str(v.trim()).ok())
                .map(Self)
                .ok_or_else(|| ApiError::validation(WORKSPACE_HEADER, "must be a UUID")),
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
