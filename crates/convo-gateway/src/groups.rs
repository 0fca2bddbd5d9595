//! Groups (DOMAIN.md's table): create, members (with membership at a past position),
//! metadata and settings, join requests, the invite link, leaving, and activity. Commands go
//! through the `Conversation` aggregate (`convo_domain::conversation::group` holds the rules);
//! queries read the groups read model.

use axum::extract::State;
use chrono::{DateTime, Utc};
use convo_domain::Actor;
use convo_domain::conversation::{
    ConversationAction, ConversationKind, GroupAction, GroupRole, GroupSettings, JoinRequestOutcome, JoinedVia,
    NewMember, SettingsPatch,
};
use convo_projection_groups::{JoinRequest, Membership};
use convo_read::{JoinRequestCursor, MemberCursor};
use convo_store::Backend;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Caller;
use crate::command::{ActorOnly, AgentActorOnly, Answer, CommandResponse, answer, execute, run};
use crate::consistency::{ReadQuery, not_negative};
use crate::conversations::conversation;
use crate::extract::{ApiJson, ApiPath, OptionalJson, Workspace};
use crate::openapi::problems;
use crate::paging::{self, ListQuery, Listed, Page, Paginated, Paging};
use crate::{ApiError, AppState};

problems! {
    /// Creating a group.
    CreatingAGroup = [
        NotFound => "no such inbox in this workspace (`inbox_id`)",
        Conflict => "the group is already recorded",
        InboxRequired => "the inbox was deleted",
    ];
    /// A command or query on a group conversation.
    AGroup = [NotFound => "no such conversation in this workspace", NotAGroup];
    /// Adding members.
    AddingMembers = [
        NotGroupAdmin => "member-add mode is `admins` and the inbox is not an admin",
        NotFound => "no such conversation in this workspace",
        JoinApprovalRequired,
        InviteLinkRevoked,
        GroupLeft,
        NotAGroup,
    ];
    /// Changing a member's role or name.
    UpdatingAMember = [
        NotGroupAdmin => "only an admin changes roles",
        NotFound => "no such conversation, or no such current member (`member_id`)",
        CreatorProtected => "the creator cannot be demoted",
        GroupLeft,
        NotAGroup,
    ];
    /// Removing a member.
    RemovingAMember = [
        NotGroupAdmin => "only an admin removes members",
        NotFound => "no such conversation in this workspace",
        CreatorProtected => "the creator cannot be removed",
        GroupLeft,
        NotAGroup,
    ];
    /// Changing the group's metadata and settings.
    UpdatingTheGroup = [
        NotGroupAdmin => "only an admin changes settings",
        NotFound => "no such conversation in this workspace",
        GroupLeft,
        NotAGroup,
    ];
    /// Resetting the invite link.
    RotatingTheLink = [NotGroupAdmin, NotFound => "no such conversation in this workspace", GroupLeft, NotAGroup];
    /// Approving or rejecting a join request.
    ResolvingARequest = [
        NotGroupAdmin,
        NotFound => "no such conversation, or no such pending request (`request_id`)",
        GroupLeft,
        NotAGroup,
    ];
    /// Recording activity.
    RecordingActivity = [
        NotFound => "no such conversation in this workspace",
        NotAGroup,
        Validation => "the group keeps messages",
    ];
    /// The members, now or at a position.
    MembersAt = [
        NotFound => "no such conversation in this workspace",
        NotAGroup,
        Validation => "`at_position` is beyond the log's head",
    ];
}

fn group(action: GroupAction) -> ConversationAction {
    ConversationAction::Group(action)
}

/// Create a group conversation, or record a channel group that an inbound message already
/// started (its members and settings were unknown until now).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    pub inbox_id: Uuid,
    /// The group's id on the channel (e.g. a WhatsApp group JID): with the inbox, it names the
    /// conversation, so inbound messages with this `group_id` land in it.
    #[schema(value_type = convo_domain::text::Id)]
    pub group_id: String,
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub subject: String,
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub picture_url: Option<String>,
    /// The inbox's own member (its number on the channel).
    #[schema(value_type = convo_domain::text::Id)]
    pub self_member: String,
    /// Who created the group: an admin who can be neither demoted nor removed. By default the
    /// inbox's own member (the inbox creates it).
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub creator: Option<String>,
    /// The other initial members (1 to 256 per request; add more later).
    #[serde(default)]
    #[schema(max_items = 256)]
    pub members: Vec<NewMember>,
    #[serde(default)]
    pub settings: GroupSettings,
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub invite_code: Option<String>,
    /// Who does it; by default the API itself (`system`, `api`). A `contact` reports a group a
    /// member created on the channel.
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Create a group conversation (or record an existing channel group).
#[utoipa::path(
    post,
    path = "/v1/groups",
    tag = "groups",
    request_body = CreateGroup,
    responses(
        (status = 201, description = "The group conversation exists with its members: `conversation_id`, version and position", body = CommandResponse),
        CreatingAGroup,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn create_group<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiJson(body): ApiJson<CreateGroup>,
) -> Answer {
    let conversation_id = convo_domain::conversation_id(ws, body.inbox_id, &body.group_id);
    let action = group(GroupAction::Create {
        inbox_id: body.inbox_id,
        group_id: body.group_id,
        subject: body.subject,
        description: body.description,
        picture_url: body.picture_url,
        creator: body.creator.unwrap_or_else(|| body.self_member.clone()),
        self_member: body.self_member,
        members: body.members,
        settings: body.settings,
        invite_code: body.invite_code,
    });
    let actor = caller.member_or_agent(body.actor)?;
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Members joining: added, or through the invite link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMembers {
    /// 1 to 256 members; those already in the group are left as they are.
    #[schema(min_items = 1, max_items = 256)]
    pub members: Vec<NewMember>,
    /// `added` (default) or `invite_link` (they joined through the link: refused with
    /// `joinApprovalRequired` when the group approves joins).
    #[serde(default)]
    pub via: Option<JoinedVia>,
    /// With `invite_link`: the code they used; an old code is `inviteLinkRevoked`.
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub invite_code: Option<String>,
    /// By default the API (through the inbox's member, which must be an admin unless the
    /// member-add mode is `everyone`); a `contact` reports a member's change on the channel.
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Add members to a group.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/members",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = AddMembers,
    responses(
        (status = 200, description = "The members are in the group (those already in: unchanged)", body = CommandResponse),
        AddingMembers,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn add_members<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AddMembers>,
) -> Answer {
    let action = group(GroupAction::AddMembers {
        members: body.members,
        via: body.via.unwrap_or(JoinedVia::Added),
        invite_code: body.invite_code,
    });
    let actor = caller.member_or_agent(body.actor)?;
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Promote, demote and/or rename a member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMember {
    #[serde(default)]
    pub role: Option<GroupRole>,
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Promote or demote a member (an admin's), or rename them.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/members/{member_id}",
    tag = "groups",
    params(
        ("conversation_id" = Uuid, Path, description = "The group conversation"),
        ("member_id" = String, Path, description = "The member's id on the channel"),
    ),
    request_body = UpdateMember,
    responses(
        (status = 200, description = "The member has the role and name (unchanged ones: nothing written)", body = CommandResponse),
        UpdatingAMember,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn update_member<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, member_id)): ApiPath<(Uuid, String)>,
    ApiJson(body): ApiJson<UpdateMember>,
) -> Answer {
    let action = group(GroupAction::UpdateMember { member_id, role: body.role, display_name: body.display_name });
    let actor = caller.member_or_agent(body.actor)?;
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Remove a member (an admin's); with a `contact` actor naming the member themselves, they left.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}/members/{member_id}",
    tag = "groups",
    params(
        ("conversation_id" = Uuid, Path, description = "The group conversation"),
        ("member_id" = String, Path, description = "The member's id on the channel"),
    ),
    request_body = Option<ActorOnly>,
    responses(
        (status = 200, description = "The member is out of the group (removing again changes nothing); removing the inbox's own member marks the group left", body = CommandResponse),
        RemovingAMember,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn remove_member<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath((conversation_id, member_id)): ApiPath<(Uuid, String)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let actor = caller.member_or_agent(body.and_then(|b| b.actor))?;
    execute(&state, ws, conversation_id, actor, group(GroupAction::RemoveMember { member_id }), None).await
}

/// The group's subject, description, picture and settings; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroup {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 100)]
    pub subject: Option<String>,
    /// An empty string clears it.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    /// An empty string clears it.
    #[serde(default)]
    #[schema(max_length = 2048)]
    pub picture_url: Option<String>,
    /// Settings to change (an admin's): `announce`, `join_approval`, `member_add_mode`, `activity_only`.
    #[serde(default)]
    pub settings: Option<SettingsPatch>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Update the group's subject, description, picture and settings.
#[utoipa::path(
    patch,
    path = "/v1/conversations/{conversation_id}/group",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = UpdateGroup,
    responses(
        (status = 200, description = "The group has the given values (unchanged ones: nothing written)", body = CommandResponse),
        UpdatingTheGroup,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn update_group<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateGroup>,
) -> Answer {
    let action = group(GroupAction::Update {
        subject: body.subject,
        description: body.description,
        picture_url: body.picture_url,
        settings: body.settings.unwrap_or_default(),
    });
    let actor = caller.member_or_agent(body.actor)?;
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Someone asks to join.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestToJoin {
    #[schema(value_type = convo_domain::text::Id)]
    pub member_id: String,
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub display_name: Option<String>,
    /// The request's id; generated when absent.
    #[serde(default)]
    pub request_id: Option<Uuid>,
    /// By default the member asking (`contact`, `member_id`).
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Ask to join a group: with join approval on, the request waits for an admin; otherwise the
/// member joins at once (through the invite link).
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/join-requests",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = RequestToJoin,
    responses(
        (status = 201, description = "The request waits for an admin (`request_id`)", body = CommandResponse),
        (status = 200, description = "No approval needed: the member joined; or they were already in or waiting", body = CommandResponse),
        AGroup,
    ),
    security(("apiKey" = ["connector"])),
)]
pub async fn request_to_join<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RequestToJoin>,
) -> Answer {
    let request_id = body.request_id.unwrap_or_else(|| crate::idempotency::mint_id(ws, "join_request"));
    let actor = caller.channel_fact(body.actor.clone(), Actor::contact(body.member_id.clone()))?;
    let action =
        group(GroupAction::RequestToJoin { request_id, member_id: body.member_id, display_name: body.display_name });
    let (committed, outcome) = run(&state, ws, conversation_id, actor, action).await?;
    // Named while it waits, also when it was already waiting (nothing written).
    let pending = committed.state.group.as_ref().is_some_and(|g| g.pending.contains_key(&request_id));
    let request_id = pending.then_some(request_id);
    answer(&outcome, CommandResponse { request_id, ..CommandResponse::of(conversation_id, &committed) })
}

async fn resolve<B: Backend>(
    state: AppState<B>,
    ws: Uuid,
    caller: Caller,
    (conversation_id, request_id): (Uuid, Uuid),
    body: Option<ActorOnly>,
    outcome: JoinRequestOutcome,
) -> Answer {
    let actor = caller.member_or_agent(body.and_then(|b| b.actor))?;
    let action = group(GroupAction::ResolveJoinRequest { request_id, outcome });
    execute(&state, ws, conversation_id, actor, action, None).await
}

/// Approve a pending join request (an admin's): the member joins.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/join-requests/{request_id}/approve",
    tag = "groups",
    params(
        ("conversation_id" = Uuid, Path, description = "The group conversation"),
        ("request_id" = Uuid, Path, description = "The pending request"),
    ),
    request_body = Option<ActorOnly>,
    responses(
        (status = 200, description = "Approved: the member is in the group", body = CommandResponse),
        ResolvingARequest,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn approve_join_request<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    resolve(state, ws, caller, ids, body, JoinRequestOutcome::Approved).await
}

/// Reject a pending join request (an admin's).
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/join-requests/{request_id}/reject",
    tag = "groups",
    params(
        ("conversation_id" = Uuid, Path, description = "The group conversation"),
        ("request_id" = Uuid, Path, description = "The pending request"),
    ),
    request_body = Option<ActorOnly>,
    responses(
        (status = 200, description = "Rejected", body = CommandResponse),
        ResolvingARequest,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn reject_join_request<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(ids): ApiPath<(Uuid, Uuid)>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    resolve(state, ws, caller, ids, body, JoinRequestOutcome::Rejected).await
}

/// A new invite code.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateInviteLink {
    /// The channel's new code (a connector reporting a reset); generated when absent.
    #[serde(default)]
    #[schema(value_type = Option<convo_domain::text::Id>)]
    pub invite_code: Option<String>,
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Reset the invite link (an admin's): the old code no longer admits anyone.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/invite-link/rotate",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = Option<RotateInviteLink>,
    responses(
        (status = 200, description = "The group's invite code is `invite_code`", body = CommandResponse),
        RotatingTheLink,
    ),
    security(("apiKey" = ["write"]), ("apiKey" = ["connector"])),
)]
pub async fn rotate_invite_link<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<RotateInviteLink>,
) -> Answer {
    let body = body.unwrap_or_default();
    // Random even under an Idempotency-Key: an invite code must not be derivable from one.
    let invite_code = body.invite_code.unwrap_or_else(|| Uuid::new_v4().simple().to_string());
    let actor = caller.member_or_agent(body.actor)?;
    let (committed, outcome) =
        run(&state, ws, conversation_id, actor, group(GroupAction::RotateInviteLink { invite_code })).await?;
    // The code in force, also when it was already this one (nothing written).
    let invite_code = committed.state.group.as_ref().and_then(|g| g.invite_code.clone());
    answer(&outcome, CommandResponse { invite_code, ..CommandResponse::of(conversation_id, &committed) })
}

/// The inbox leaves the group: the conversation stays readable, nothing can be sent.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/leave",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = Option<AgentActorOnly>,
    responses(
        (status = 200, description = "The group is left (leaving again changes nothing)", body = CommandResponse),
        AGroup,
    ),
    security(("apiKey" = ["write"])),
)]
pub async fn leave_group<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    OptionalJson(body): OptionalJson<ActorOnly>,
) -> Answer {
    let actor = caller.agent_action(body.and_then(|b| b.actor))?;
    execute(&state, ws, conversation_id, actor, group(GroupAction::Leave), None).await
}

/// Activity in an activity-only group (connectors): messages happened, their bodies not kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordActivity {
    /// When the latest of them was sent; at most 5 minutes ahead of the server's clock.
    pub at: DateTime<Utc>,
    /// How many messages (default 1).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub messages: Option<u32>,
    /// By default the connector (`system`, `connector`).
    #[serde(default)]
    pub actor: Option<Actor>,
}

/// Record activity in an activity-only group: it moves up the inbox and shows an unread dot.
#[utoipa::path(
    post,
    path = "/v1/conversations/{conversation_id}/activity",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation")),
    request_body = RecordActivity,
    responses(
        (status = 200, description = "The activity is recorded", body = CommandResponse),
        RecordingActivity,
    ),
    security(("apiKey" = ["connector"])),
)]
pub async fn record_activity<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RecordActivity>,
) -> Answer {
    let action = group(GroupAction::RecordActivity { at: body.at, messages: body.messages.unwrap_or(1) });
    let actor = caller.channel_fact(body.actor, crate::auth::channel())?;
    execute(&state, ws, conversation_id, actor, action, None).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MembersParams {
    /// The members at this global position (e.g. a message's `position`: who was in the group
    /// when it was sent), with their role then; absent: the current members.
    #[param(minimum = 0)]
    pub at_position: Option<i64>,
}

/// One page of members (the inbox's own member first, then admins, then by when they joined),
/// and what they are members as of.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembersPage {
    #[serde(flatten)]
    pub page: Page<Membership>,
    /// The inbox's own member in the group, when known.
    pub self_member: Option<String>,
    /// The position the members are as of, when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_position: Option<i64>,
}

impl Paginated for MembersPage {
    fn next_cursor(&self) -> Option<&str> {
        self.page.next_cursor()
    }
}

/// A group conversation's view, or 404 / `notAGroup`.
async fn group_view<B: Backend>(
    state: &AppState<B>,
    ws: Uuid,
    conversation_id: Uuid,
) -> Result<convo_projection_inbox::ConversationSummary, ApiError> {
    let summary = conversation(state, ws, conversation_id).await?;
    if summary.kind != ConversationKind::Group {
        return Err(ApiError::from(convo_domain::ConversationError::NotAGroup));
    }
    Ok(summary)
}

/// List a group's members with role, joining time and how they joined: now, or at a past position.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/members",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation"), ReadQuery<MembersParams>, Paging<paging::Members>),
    responses(
        (status = 200, description = "One page of members", body = MembersPage),
        MembersAt,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_members<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(p, token)): ListQuery<paging::Members, ReadQuery<MembersParams>>,
) -> Result<Listed<MembersPage>, ApiError> {
    let at_position = not_negative("at_position", p.at_position)?;
    let read = &state.read;
    token.at_least(at_position, "at_position").wait(&state, &[&read.inbox_status, &read.groups_status]).await?;
    let summary = group_view(&state, ws, conversation_id).await?;
    let rows = read.groups.members(ws, conversation_id, at_position, paging.cursor.as_ref(), paging.fetch()).await?;
    let page = paging.page(rows, MemberCursor::of);
    let self_member = summary.group.and_then(|g| g.self_member);
    Ok(paging.answer(MembersPage { page, self_member, at_position }))
}

/// List a group's pending join requests.
#[utoipa::path(
    get,
    path = "/v1/conversations/{conversation_id}/join-requests",
    tag = "groups",
    params(("conversation_id" = Uuid, Path, description = "The group conversation"), ReadQuery, Paging<paging::JoinRequests>),
    responses(
        (status = 200, description = "One page of the pending join requests, oldest first", body = Page<JoinRequest>),
        AGroup,
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn list_join_requests<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    ApiPath(conversation_id): ApiPath<Uuid>,
    ListQuery(paging, ReadQuery(_, token)): ListQuery<paging::JoinRequests, ReadQuery>,
) -> Result<Listed<Page<JoinRequest>>, ApiError> {
    let read = &state.read;
    token.wait(&state, &[&read.inbox_status, &read.groups_status]).await?;
    group_view(&state, ws, conversation_id).await?;
    let rows = read.groups.join_requests(ws, conversation_id, paging.cursor.as_ref(), paging.fetch()).await?;
    Ok(paging.answer(paging.page(rows, JoinRequestCursor::of)))
}
