//! Inboxes: connected channel accounts, each with its channel type and the messaging policy in
//! force. Created and deleted through the `Inbox` aggregate, listed from the inboxes read model.

use axum::extract::State;
use convo_domain::inbox::InboxAction;
use convo_domain::{Actor, ChannelPolicy, ChannelType};
use convo_projection_inboxes::InboxView;
use convo_store::Backend;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{ActorOnly, AgentActor, AgentActorOnly, Answer, CommandResponse, execute_inbox};
use crate::consistency::ReadQuery;
use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// A command on an inbox.
    OnAnInbox = [NotFound => "no such inbox in this workspace"];
}

/// Connect a channel account as an inbox.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInbox {
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = convo_domain::text::Id)]
    pub name: String,
    pub channel_type: ChannelType,
    #[serde(default)]
    pub policy: Option<ChannelPolicy>,
    /// Who does it; by default the API itself (`system`, `api`).
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Create an inbox: a connected channel account with its channel type and optional policy override.
#[utoipa::path(
    post,
    path = "/v1/inboxes",
    tag = "inboxes",
    request_body = CreateInbox,
    responses(
        (status = 201, description = "The inbox was created; `inbox_id`, its version and position", body = CommandResponse),
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn create_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<CreateInbox>,
) -> Answer {
    // The engine mints inbox ids: a caller-chosen one could collide with another workspace's
    // inbox, and the refusal would tell that it exists. Retry safely with an Idempotency-Key.
    let inbox_id = crate::idempotency::mint_id(ws, "inbox");
    let actor = caller.agent_action(body.actor)?;
    let action = InboxAction::Create { inbox_id, name: body.name, channel: body.channel_type, policy: body.policy };
    execute_inbox(&state, ws, inbox_id, actor, action, "create_inbox").await
}

/// Delete an inbox; its conversations stay readable but can no longer send.
#[utoipa::path(
    delete,
    path = "/v1/inboxes/{inbox_id}",
    tag = "inboxes",
    params(("inbox_id" = Uuid, Path, description = "The inbox")),
    request_body = Option<AgentActorOnly>,
    responses(
        (status = 200, description = "The inbox is deleted (deleting it again changes nothing)", body = CommandResponse),
        OnAnInbox,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn delete_inbox<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(inbox_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let actor = caller.agent_action(body.and_then(|b| b.actor))?;
    execute_inbox(&state, ws, inbox_id, actor, InboxAction::Delete, "delete_inbox").await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxesParams {
    /// Include deleted inboxes (default false).
    #[serde(default)]
    pub include_deleted: bool,
}

/// List the workspace's inboxes.
#[utoipa::path(
    get,
    path = "/v1/inboxes",
    tag = "inboxes",
    params(ReadQuery<InboxesParams>, Paging<paging::Inboxes>),
    responses(
        (status = 200, description = "One page of the workspace's inboxes with the policy in force, by id", body = Page<InboxView>),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_inboxes<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Inboxes, ReadQuery<InboxesParams>>,
) -> Result<Listed<Page<InboxView>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.inboxes_status]).await?;
    let rows = read.inboxes.list(workspace_id, p.include_deleted, paging.cursor, paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |inbox| inbox.inbox_id)))
}
