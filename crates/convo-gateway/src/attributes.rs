//! Custom attributes (#18): the workspace's definitions, for contacts or for conversations, and
//! a conversation's attributes. A value for a defined key must meet its definition (422 naming
//! `attributes.<key>` and why); a conversation takes only defined keys, a contact any key (see
//! `convo_domain::attribute`). Definitions are read from their read model.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use convo_domain::Actor;
use convo_domain::Outcome;
use convo_domain::attribute::{
    AttributeAction, AttributeChange, AttributeCommand, AttributeModel, AttributeType, attribute_stream_id, valid_key,
};
use convo_domain::conversation::ConversationAction;
use convo_projection_directory::AttributeDefinitionView;
use convo_store::Backend;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{AgentActor, Answer, CommandResponse, answer, execute};
use crate::consistency::ReadQuery;
use crate::extract::{ApiJson, ApiPath, Workspace};
use crate::idempotency::command_metadata;
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Defining an attribute.
    DefineAnAttribute = [Conflict => "the key is already defined for this model"];
    /// A command or query on one definition.
    OnADefinition = [NotFound => "no such attribute definition in this workspace"];
    /// Setting a conversation's attributes.
    SettingAttributes = [
        NotFound => "no such conversation in this workspace",
        Validation => "a key not defined for conversations, or a value not of its definition's type (`attributes.<key>`)",
    ];
}

/// Define a custom attribute for the workspace's contacts or conversations.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineAttribute {
    pub model: AttributeModel,
    /// The key values are set under: 1 to 64 characters of `a-z`, `0-9` and `_`.
    #[schema(pattern = "^[a-z0-9_]{1,64}$")]
    pub key: String,
    /// Its name, for people: 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The type of its values.
    #[serde(rename = "type")]
    pub attribute_type: AttributeType,
    /// A list's options (1 to 100 distinct strings of 1 to 100 characters); no other type has any.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub options: Vec<String>,
}

/// Define a custom attribute: its values are then checked against it.
#[utoipa::path(
    post,
    path = "/v1/attribute-definitions",
    tag = "attributes",
    request_body = DefineAttribute,
    responses(
        (status = 201, description = "The attribute is defined", body = CommandResponse),
        DefineAnAttribute,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn define_attribute<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<DefineAttribute>,
) -> Answer {
    valid_key(&body.key).map_err(|reason| ApiError::validation("key", reason))?;
    let (model, key) = (body.model, body.key.clone());
    let action = AttributeAction::Define {
        model,
        key: body.key,
        name: body.name,
        attribute_type: body.attribute_type,
        options: body.options,
    };
    execute_definition(&state, ws, &caller, (model, &key), action, "define_attribute").await
}

/// What to change of a definition: the fields given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAttribute {
    /// 1 to 200 characters, trimmed.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    /// A list's new options, in order (values already set stay as they are).
    #[schema(max_items = 100)]
    pub options: Option<Vec<String>>,
}

/// Rename a definition, or give a list new options.
#[utoipa::path(
    patch,
    path = "/v1/attribute-definitions/{model}/{key}",
    tag = "attributes",
    params(
        ("model" = AttributeModel, Path, description = "What the attribute is defined for"),
        ("key" = String, Path, description = "The attribute's key"),
    ),
    request_body = ChangeAttribute,
    responses(
        (status = 200, description = "The definition's version and position (the same when nothing changed)", body = CommandResponse),
        OnADefinition,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn change_attribute<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((model, key)): ApiPath<(AttributeModel, String)>,
    ApiJson(body): ApiJson<ChangeAttribute>,
) -> Answer {
    let action = AttributeAction::Change { name: body.name, options: body.options };
    execute_definition(&state, ws, &caller, (model, &key), action, "change_attribute").await
}

/// Delete a definition: no new value is taken for its key (a contact's is free again); values
/// already set stay, and history keeps them.
#[utoipa::path(
    delete,
    path = "/v1/attribute-definitions/{model}/{key}",
    tag = "attributes",
    params(
        ("model" = AttributeModel, Path, description = "What the attribute is defined for"),
        ("key" = String, Path, description = "The attribute's key"),
    ),
    responses(
        (status = 200, description = "The definition is deleted (deleting it again changes nothing)", body = CommandResponse),
        OnADefinition,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn delete_attribute<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((model, key)): ApiPath<(AttributeModel, String)>,
) -> Answer {
    execute_definition(&state, ws, &caller, (model, &key), AttributeAction::Delete, "delete_attribute").await
}

/// Runs a definition command (`name` for its metadata) and answers it.
async fn execute_definition<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    caller: &Caller,
    (model, key): (AttributeModel, &str),
    action: AttributeAction,
    name: &str,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let meta = command_metadata(workspace_id, name);
    let command = AttributeCommand { workspace_id, actor, action };
    let stream = attribute_stream_id(workspace_id, model, key).to_string();
    let committed = state.engine.attributes.execute(&stream, command, &meta).await?;
    let created = committed.events.iter().any(|e| matches!(e.payload.change, AttributeChange::Defined { .. }));
    let outcome = Outcome { created, ..Outcome::default() };
    answer(&outcome, CommandResponse::bare(committed.version, committed.position))
}

/// Which definitions to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DefinitionsParams {
    /// Only those for contacts, or only those for conversations.
    pub model: Option<AttributeModel>,
}

/// List the workspace's attribute definitions, by model, then key.
#[utoipa::path(
    get,
    path = "/v1/attribute-definitions",
    tag = "attributes",
    params(ReadQuery<DefinitionsParams>, Paging<paging::AttributeDefinitions>),
    responses((status = 200, description = "One page of definitions, by model, then key", body = Page<AttributeDefinitionView>)),
    security(("apiKey" = ["read"])),
)]
pub async fn list_attributes<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::AttributeDefinitions, ReadQuery<DefinitionsParams>>,
) -> Result<Listed<Page<AttributeDefinitionView>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.attribute_definitions_status]).await?;
    let rows = read.attribute_definitions.list(workspace_id, p.model, paging.cursor.clone(), paging.fetch()).await?;
    let page = paging.page(rows, |d| (d.model, d.key.clone()));
    Ok(paging.answer(page))
}

/// Show one attribute definition.
#[utoipa::path(
    get,
    path = "/v1/attribute-definitions/{model}/{key}",
    tag = "attributes",
    params(
        ("model" = AttributeModel, Path, description = "What the attribute is defined for"),
        ("key" = String, Path, description = "The attribute's key"),
        ReadQuery,
    ),
    responses((status = 200, description = "The definition", body = AttributeDefinitionView), OnADefinition),
    security(("apiKey" = ["read"])),
)]
pub async fn get_attribute<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath((model, key)): ApiPath<(AttributeModel, String)>,
    ReadQuery(_, token): ReadQuery,
) -> Result<Json<AttributeDefinitionView>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.attribute_definitions_status]).await?;
    let definition = read.attribute_definitions.get(workspace_id, model, &key).await?;
    definition.map(Json).ok_or_else(|| ApiError::not_found("no such attribute definition in this workspace"))
}

/// Custom attributes to set on a conversation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAttributes {
    /// By key: each defined for conversations, its value of the definition's type; `null`
    /// removes the attribute. Keys not named stay as they are.
    pub attributes: BTreeMap<String, Value>,
    /// Who does it; by default the key's.
    #[serde(default)]
    #[schema(value_type = Option<AgentActor>)]
    pub actor: Option<Actor>,
}

/// Set or remove custom attributes of a conversation.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/attributes",
    tag = "conversations",
    params(("conversation_id" = Uuid, Path, description = "The conversation")),
    request_body = SetAttributes,
    responses(
        (status = 200, description = "The attributes are as asked (values as they were change nothing)", body = CommandResponse),
        SettingAttributes,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn set_conversation_attributes<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<SetAttributes>,
) -> Answer {
    let action = ConversationAction::SetAttributes { attributes: body.attributes };
    execute(&state, ws, conversation_id, caller.agent_action(body.actor)?, action, None).await
}
