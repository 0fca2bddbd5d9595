//! API key management for admins of a workspace: create (the token is shown once), list,
//! revoke. Keys of other workspaces are invisible: revoking one is 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use convo_store::Backend;
use serde::Deserialize;

use crate::extract::{ApiJson, ApiPath, Workspace};
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::tenancy::{ApiKey, IssuedKey, Scope, TenancyError};
use crate::{ApiError, AppState};

problems! {
    /// Creating a key.
    Scopes = [Validation => "no scope, or an unknown one"];
    /// A command on a key.
    AKey = [NotFound => "no live key with this id in this workspace"];
}

/// A new API key of the caller's workspace.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name to recognise the key by (default: its id).
    #[serde(default)]
    pub name: String,
    /// What the key may do (at least one scope); `admin` includes `write`, which includes `read`.
    #[schema(min_items = 1)]
    pub scopes: Vec<Scope>,
}

/// Create an API key; its token is in this answer and nowhere else.
#[utoipa::path(
    post,
    path = "/v1/keys",
    tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with its token (shown this once)", body = IssuedKey),
        Scopes,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn create_key<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    let issued = state.tenancy.create_key(ws, &body.name, &body.scopes).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// List the workspace's live API keys, never their secrets.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    params(Paging<paging::Keys>),
    responses((status = 200, description = "One page of the live keys, by id", body = Page<ApiKey>)),
    security(("apiKey" = ["admin"])),
)]
pub async fn list_keys<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ListQuery(paging, _): ListQuery<paging::Keys>,
) -> Result<Listed<Page<ApiKey>>, ApiError> {
    let rows = state.tenancy.keys(ws, paging.cursor.as_deref(), paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |key| key.key_id.clone())))
}

/// Revoke an API key of the workspace: it stops working at once on this gateway, within 10
/// seconds on others.
#[utoipa::path(
    delete,
    path = "/v1/keys/{key_id}",
    tag = "keys",
    params(("key_id" = String, Path, description = "The key's id (after `cvk_`, before the next `_`)")),
    responses(
        (status = 204, description = "Revoked"),
        AKey,
    ),
    security(("apiKey" = ["admin"])),
)]
pub async fn revoke_key<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(key_id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    if state.tenancy.revoke(Some(ws), &key_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such key"))
    }
}

impl From<TenancyError> for ApiError {
    fn from(err: TenancyError) -> Self {
        match err {
            TenancyError::UnknownWorkspace => Self::not_found(err.to_string()),
            TenancyError::Validation { field, reason } => Self::validation(field, reason),
            TenancyError::Store(e) => e.into(),
        }
    }
}
