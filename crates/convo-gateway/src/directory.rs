//! The directory (#18): agents, teams, an inbox's default team, and who may take a
//! conversation. Agents are known by the caller's own user id; assigning one that is not the
//! workspace's answers 404 and a deactivated one 422 `agentDeactivated` (the conversation asks
//! the directory, see `convo_domain::directory`). Every view reads the directory's read models;
//! an agent's view carries their open, pending and unread counts.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use convo_domain::Outcome;
use convo_domain::directory::{
    AgentAction, AgentChange, AgentCommand, AgentRole, Availability, TeamAction, TeamChange, TeamCommand,
    agent_stream_id,
};
use convo_domain::inbox::InboxAction;
use convo_projection_directory::{AgentView, TeamView};
use convo_projection_timeline::MentionView;
use convo_read::{AgentCounts, AgentFilter};
use convo_store::{Backend, ProjectionStatus};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{Answer, CommandResponse, answer, execute_inbox};
use crate::consistency::{MinPosition, ReadQuery};
use crate::conversations::GetParams;
use crate::extract::{ApiJson, ApiPath, Workspace};
use crate::idempotency::command_metadata;
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Registering an agent.
    CreateAnAgent = [Conflict => "an agent with this id exists in the workspace"];
    /// Changing an agent.
    ChangeAnAgent = [
        NotFound => "no such agent in this workspace",
        AgentDeactivated => "a deactivated agent cannot go online or busy: reactivate them (`active: true`)",
    ];
    /// Reading one agent, now or then.
    AnAgent = [
        NotFound => "no such agent in this workspace (then, with `at_position` or `at`)",
        Validation => "both `at_position` and `at`, or an `at_position` beyond the log's head",
    ];
    /// A query on an agent.
    OnAnAgent = [NotFound => "no such agent in this workspace"];
    /// A command or query on a team.
    OnATeam = [NotFound => "no such team in this workspace"];
    /// A team's membership.
    ATeamsAgent = [NotFound => "no such team, or no such agent in this workspace"];
    /// Setting an inbox's team.
    AnInboxTeam = [NotFound => "no such inbox, or no such team in this workspace (`team_id`)"];
    /// Who may take a conversation.
    Assignable = [NotFound => "no such conversation in this workspace"];
}

// ---------------------------------------------------------------------------------------------
// Agents
// ---------------------------------------------------------------------------------------------

/// An agent as the directory shows them, with the conversations they hold now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Agent {
    #[serde(flatten)]
    pub agent: AgentView,
    /// Their assigned conversations open and pending, and those with messages they have not
    /// read, now (also in a time-travel view, which shows the rest as it was then).
    pub counts: AgentCounts,
}

/// Register an agent of the workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// The caller's own user id for them: 1 to 200 characters without spaces. The id
    /// assignments, read markers and mentions name them by.
    #[schema(value_type = convo_domain::text::AgentId)]
    pub agent_id: String,
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = convo_domain::text::Id)]
    pub name: String,
    /// Where to reach them.
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Email>)]
    pub email: Option<String>,
    /// `agent` by default.
    #[serde(default)]
    pub role: AgentRole,
}

/// Register an agent of the workspace, active and offline.
#[utoipa::path(
    post,
    path = "/v1/agents",
    tag = "directory",
    request_body = CreateAgent,
    responses(
        (status = 201, description = "The agent was registered: `agent_id`, its version and position", body = CommandResponse),
        CreateAnAgent,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn create_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<CreateAgent>,
) -> Answer {
    let agent_id = body.agent_id.clone();
    let action = AgentAction::Create { agent_id: body.agent_id, name: body.name, email: body.email, role: body.role };
    execute_agent(&state, ws, &caller, agent_id, action, "create_agent").await
}

/// What to change of an agent: the fields given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeAgent {
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub name: Option<String>,
    /// The new email; `null` clears it.
    #[serde(default, deserialize_with = "crate::contacts::present")]
    #[schema(value_type = Option<convo_domain::text::Email>)]
    pub email: Option<Option<String>>,
    pub role: Option<AgentRole>,
    /// Online, busy or offline; a deactivated agent stays offline.
    pub availability: Option<Availability>,
    /// `false` deactivates them (offline; cannot be assigned), `true` reactivates them
    /// (offline until they say otherwise). Applied before `availability`.
    pub active: Option<bool>,
}

/// Change an agent: their profile, availability, or whether they are active.
#[utoipa::path(
    patch,
    path = "/v1/agents/{agent_id}",
    tag = "directory",
    params(("agent_id" = String, Path, description = "The agent")),
    request_body = ChangeAgent,
    responses(
        (status = 200, description = "The agent's version and position after the change (the same when nothing changed)", body = CommandResponse),
        ChangeAnAgent,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn change_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeAgent>,
) -> Answer {
    let action = AgentAction::Update {
        name: body.name,
        email: body.email,
        role: body.role,
        availability: body.availability,
        active: body.active,
    };
    execute_agent(&state, ws, &caller, agent_id, action, "change_agent").await
}

/// Runs an agent command (`name` for its metadata) and answers it.
async fn execute_agent<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    caller: &Caller,
    agent_id: String,
    action: AgentAction,
    name: &str,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let meta = command_metadata(workspace_id, name);
    let command = AgentCommand { workspace_id, actor, action };
    let stream = agent_stream_id(workspace_id, &agent_id).to_string();
    let committed = state.engine.agents.execute(&stream, command, &meta).await?;
    let created = committed.events.iter().any(|e| matches!(e.payload.change, AgentChange::Created { .. }));
    let outcome = Outcome { created, ..Outcome::default() };
    let response =
        CommandResponse { agent_id: Some(agent_id), ..CommandResponse::bare(committed.version, committed.position) };
    answer(&outcome, response)
}

/// Show an agent of the workspace with their counts. With `at_position` or `at`, their
/// profile, availability and activity as they were then.
#[utoipa::path(
    get,
    path = "/v1/agents/{agent_id}",
    tag = "directory",
    params(("agent_id" = String, Path, description = "The agent"), ReadQuery<GetParams>),
    responses((status = 200, description = "The agent, now or as they were then", body = Agent), AnAgent),
    security(("apiKey" = ["read"])),
)]
pub async fn get_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(agent_id): ApiPath<String>,
    ReadQuery(p, token): ReadQuery<GetParams>,
) -> Result<Json<Agent>, ApiError> {
    let read = &state.read;
    let as_of = crate::conversations::as_of(&state, &p).await?;
    token.wait(&state, &[&read.agents_status, &read.agent_load_status]).await?;
    let agent = match as_of {
        Some(as_of) => convo_read::agent_at(&state.engine.log, workspace_id, &agent_id, as_of).await?,
        None => read.agents.get(workspace_id, &agent_id).await?,
    };
    let agent = agent.ok_or_else(|| ApiError::not_found("no such agent in this workspace"))?;
    let mut agents = with_counts(&state, workspace_id, vec![agent]).await?;
    agents.pop().map(Json).ok_or_else(|| ApiError::not_found("no such agent in this workspace"))
}

/// The private notes that mention an agent, newest first, each marked `read` once the agent's
/// read marker in its conversation (`POST /v1/conversations/{id}/read`) reaches the note.
#[utoipa::path(
    get,
    path = "/v1/agents/{agent_id}/mentions",
    tag = "directory",
    params(("agent_id" = String, Path, description = "The agent"), ReadQuery, Paging<paging::Mentions>),
    responses(
        (status = 200, description = "One page of the notes mentioning the agent, newest first", body = Page<MentionView>),
        OnAnAgent,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn agent_mentions<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(agent_id): ApiPath<String>,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::Mentions, ReadQuery>,
) -> Result<Listed<Page<MentionView>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.agents_status, &read.mentions_status]).await?;
    if read.agents.get(workspace_id, &agent_id).await?.is_none() {
        return Err(ApiError::not_found("no such agent in this workspace"));
    }
    let rows = read.mentions.page(workspace_id, &agent_id, paging.cursor, paging.fetch()).await?;
    let page = paging.page(rows, |m| m.position);
    Ok(paging.answer(page))
}

/// The agents with their counts now (the agents' load read model waited for).
async fn with_counts<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    agents: Vec<AgentView>,
) -> Result<Vec<Agent>, ApiError> {
    let read = &state.read;
    let ids: Vec<String> = agents.iter().map(|a| a.agent_id.clone()).collect();
    let mut counts: HashMap<String, AgentCounts> = read.agent_load.counts(workspace_id, &ids).await?;
    Ok(agents
        .into_iter()
        .map(|agent| Agent { counts: counts.remove(&agent.agent_id).unwrap_or_default(), agent })
        .collect())
}

/// Which agents to list: any of these, together.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentsParams {
    /// Only active (`true`) or deactivated (`false`) agents.
    pub active: Option<bool>,
    /// Only agents who are online, busy or offline.
    pub availability: Option<Availability>,
    /// Only the agents of this team.
    pub team_id: Option<Uuid>,
}

/// List the workspace's agents by id, with their counts.
#[utoipa::path(
    get,
    path = "/v1/agents",
    tag = "directory",
    params(ReadQuery<AgentsParams>, Paging<paging::Agents>),
    responses((status = 200, description = "One page of the agents that match, by id", body = Page<Agent>)),
    security(("apiKey" = ["read"])),
)]
pub async fn list_agents<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Agents, ReadQuery<AgentsParams>>,
) -> Result<Listed<Page<Agent>>, ApiError> {
    wait_for_agents(&state, token, &[]).await?;
    let filter = AgentFilter { active: p.active, availability: p.availability, team_id: p.team_id };
    agents_page(&state, workspace_id, &filter, paging).await
}

/// Waits for the read models a page of agents comes from, and `more`.
async fn wait_for_agents<B: Backend>(
    state: &AppState<B>,
    token: MinPosition,
    more: &[&ProjectionStatus],
) -> Result<(), ApiError> {
    let read = &state.read;
    let mut models: Vec<&ProjectionStatus> =
        vec![&read.agents_status, &read.team_agents_status, &read.agent_load_status];
    models.extend_from_slice(more);
    token.wait(state, &models).await
}

/// One page of the agents `filter` selects, with their counts ([`wait_for_agents`] first).
async fn agents_page<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    filter: &AgentFilter,
    paging: Paging<paging::Agents>,
) -> Result<Listed<Page<Agent>>, ApiError> {
    let rows = state.read.agents.list(workspace_id, filter, paging.cursor.as_deref(), paging.fetch()).await?;
    let page = paging.page(rows, |agent| agent.agent_id.clone());
    let items = with_counts(state, workspace_id, page.items).await?;
    Ok(paging.answer(Page { items, next_cursor: page.next_cursor }))
}

/// List who may take a conversation: the active agents of its inbox's team, or every active
/// agent of the workspace when the inbox has none; by id, with their counts.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/assignable-agents",
    tag = "directory",
    params(("conversation_id" = Uuid, Path, description = "The conversation"), ReadQuery, Paging<paging::Agents>),
    responses((status = 200, description = "One page of the agents who may take it, by id", body = Page<Agent>), Assignable),
    security(("apiKey" = ["read"])),
)]
pub async fn assignable_agents<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::Agents, ReadQuery>,
) -> Result<Listed<Page<Agent>>, ApiError> {
    let read = &state.read;
    wait_for_agents(&state, token, &[&read.inbox_status, &read.inboxes_status]).await?;
    let conversation = read
        .inbox
        .get(workspace_id, conversation_id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such conversation in this workspace"))?;
    let team_id = read.inboxes.get(workspace_id, conversation.inbox_id).await?.and_then(|inbox| inbox.team_id);
    let filter = AgentFilter { active: Some(true), availability: None, team_id };
    agents_page(&state, workspace_id, &filter, paging).await
}

// ---------------------------------------------------------------------------------------------
// Teams
// ---------------------------------------------------------------------------------------------

/// A team's name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamName {
    /// Trimmed; 1 to 200 characters.
    #[schema(value_type = convo_domain::text::Id)]
    pub name: String,
}

/// Create a team of the workspace, without agents.
#[utoipa::path(
    post,
    path = "/v1/teams",
    tag = "directory",
    request_body = TeamName,
    responses((status = 201, description = "The team was created: `team_id`, its version and position", body = CommandResponse)),
    security(("apiKey" = ["write"])),
)]
pub async fn create_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<TeamName>,
) -> Answer {
    // A retry with the same Idempotency-Key names the same team.
    let team_id = crate::idempotency::mint_id(ws, "team");
    execute_team(&state, ws, &caller, team_id, TeamAction::Create { team_id, name: body.name }, "create_team").await
}

/// Rename a team.
#[utoipa::path(
    patch,
    path = "/v1/teams/{team_id}",
    tag = "directory",
    params(("team_id" = Uuid, Path, description = "The team")),
    request_body = TeamName,
    responses(
        (status = 200, description = "The team's version and position after the change (the same when nothing changed)", body = CommandResponse),
        OnATeam,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn rename_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(team_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<TeamName>,
) -> Answer {
    execute_team(&state, ws, &caller, team_id, TeamAction::Rename { name: body.name }, "rename_team").await
}

/// Add an agent of the workspace to a team.
#[utoipa::path(
    put,
    path = "/v1/teams/{team_id}/agents/{agent_id}",
    tag = "directory",
    params(("team_id" = Uuid, Path, description = "The team"), ("agent_id" = String, Path, description = "The agent")),
    responses(
        (status = 200, description = "The agent is in the team (adding them again changes nothing)", body = CommandResponse),
        ATeamsAgent,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn add_team_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((team_id, agent_id)): ApiPath<(Uuid, String)>,
) -> Answer {
    execute_team(&state, ws, &caller, team_id, TeamAction::AddAgent { agent_id }, "add_team_agent").await
}

/// Take an agent out of a team.
#[utoipa::path(
    delete,
    path = "/v1/teams/{team_id}/agents/{agent_id}",
    tag = "directory",
    params(("team_id" = Uuid, Path, description = "The team"), ("agent_id" = String, Path, description = "The agent")),
    responses(
        (status = 200, description = "The agent is not in the team (removing them again changes nothing)", body = CommandResponse),
        OnATeam,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn remove_team_agent<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((team_id, agent_id)): ApiPath<(Uuid, String)>,
) -> Answer {
    execute_team(&state, ws, &caller, team_id, TeamAction::RemoveAgent { agent_id }, "remove_team_agent").await
}

/// Runs a team command (`name` for its metadata) and answers it.
async fn execute_team<B: Backend>(
    state: &AppState<B>,
    workspace_id: Uuid,
    caller: &Caller,
    team_id: Uuid,
    action: TeamAction,
    name: &str,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let meta = command_metadata(workspace_id, name);
    let command = TeamCommand { workspace_id, actor, action };
    let committed = state.engine.teams.execute(&team_id.to_string(), command, &meta).await?;
    let created = committed.events.iter().any(|e| matches!(e.payload.change, TeamChange::Created { .. }));
    let outcome = Outcome { created, ..Outcome::default() };
    let response =
        CommandResponse { team_id: Some(team_id), ..CommandResponse::bare(committed.version, committed.position) };
    answer(&outcome, response)
}

/// Show a team of the workspace.
#[utoipa::path(
    get,
    path = "/v1/teams/{team_id}",
    tag = "directory",
    params(("team_id" = Uuid, Path, description = "The team"), ReadQuery),
    responses((status = 200, description = "The team", body = TeamView), OnATeam),
    security(("apiKey" = ["read"])),
)]
pub async fn get_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(team_id): ApiPath<Uuid>,
    ReadQuery(_, token): ReadQuery,
) -> Result<Json<TeamView>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.teams_status]).await?;
    let team = read.teams.get(workspace_id, team_id).await?;
    team.map(Json).ok_or_else(|| ApiError::not_found("no such team in this workspace"))
}

/// List the workspace's teams, by id.
#[utoipa::path(
    get,
    path = "/v1/teams",
    tag = "directory",
    params(ReadQuery, Paging<paging::Teams>),
    responses((status = 200, description = "One page of the workspace's teams, by id", body = Page<TeamView>)),
    security(("apiKey" = ["read"])),
)]
pub async fn list_teams<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::Teams, ReadQuery>,
) -> Result<Listed<Page<TeamView>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.teams_status]).await?;
    let rows = read.teams.list(workspace_id, paging.cursor, paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, |team| team.team_id)))
}

/// List a team's agents by id, with their counts.
#[utoipa::path(
    get,
    path = "/v1/teams/{team_id}/agents",
    tag = "directory",
    params(("team_id" = Uuid, Path, description = "The team"), ReadQuery, Paging<paging::Agents>),
    responses((status = 200, description = "One page of the team's agents, by id", body = Page<Agent>), OnATeam),
    security(("apiKey" = ["read"])),
)]
pub async fn team_agents<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(workspace_id): Workspace,
    ApiPath(team_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::Agents, ReadQuery>,
) -> Result<Listed<Page<Agent>>, ApiError> {
    let read = &state.read;
    wait_for_agents(&state, token, &[&read.teams_status]).await?;
    if read.teams.get(workspace_id, team_id).await?.is_none() {
        return Err(ApiError::not_found("no such team in this workspace"));
    }
    let filter = AgentFilter { team_id: Some(team_id), ..AgentFilter::default() };
    agents_page(&state, workspace_id, &filter, paging).await
}

// ---------------------------------------------------------------------------------------------
// An inbox's team
// ---------------------------------------------------------------------------------------------

/// The team to set.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxTeam {
    /// A team of the workspace.
    pub team_id: Uuid,
}

/// Set an inbox's default team: its active agents are who may take the inbox's conversations.
#[utoipa::path(
    put,
    path = "/v1/inboxes/{inbox_id}/team",
    tag = "inboxes",
    params(("inbox_id" = Uuid, Path, description = "The inbox")),
    request_body = InboxTeam,
    responses(
        (status = 200, description = "The inbox has this team (setting it again changes nothing)", body = CommandResponse),
        AnInboxTeam,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn set_inbox_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(inbox_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<InboxTeam>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    let action = InboxAction::SetTeam { team_id: Some(body.team_id) };
    execute_inbox(&state, ws, inbox_id, actor, action, "set_inbox_team").await
}

/// Clear an inbox's default team: every active agent may take its conversations.
#[utoipa::path(
    delete,
    path = "/v1/inboxes/{inbox_id}/team",
    tag = "inboxes",
    params(("inbox_id" = Uuid, Path, description = "The inbox")),
    responses(
        (status = 200, description = "The inbox has no team (clearing it again changes nothing)", body = CommandResponse),
        AnInboxTeam,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn clear_inbox_team<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(inbox_id): ApiPath<Uuid>,
) -> Answer {
    let actor = caller.agent_action(None)?;
    execute_inbox(&state, ws, inbox_id, actor, InboxAction::SetTeam { team_id: None }, "clear_inbox_team").await
}
