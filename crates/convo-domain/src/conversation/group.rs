//! Group conversations: members and their roles over time, the group's metadata and settings,
//! join requests, the invite link, the inbox leaving, and activity-only groups.
//!
//! Who does a change decides which rules apply:
//! - an `agent`, a `bot` or the API (`system`) asks the engine to do it through the inbox's own
//!   member (`self_member`): the group's rules are checked (only admins manage; in member-add mode
//!   `admins` only admins add; nothing once the inbox has left);
//! - a `contact` reports what a member did on the channel (actor id = that member's id): a fact
//!   that already happened, recorded as reported (the channel enforced its rules), except what
//!   no channel allows (removing or demoting the creator).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{ConversationChange as C, ConversationError, MAX_ID_CHARS, required_id};
use crate::{Actor, ActorKind};

/// Most members a group keeps (WhatsApp allows 1 024; other channels more).
pub const MAX_GROUP_MEMBERS: usize = 5_000;
/// Most members one command adds.
pub const MAX_MEMBERS_PER_COMMAND: usize = 256;
/// Most join requests waiting at once.
pub const MAX_PENDING_REQUESTS: usize = 1_000;
/// Longest subject, in characters (WhatsApp: 100).
pub const MAX_SUBJECT_CHARS: usize = 100;
/// Longest description or picture url, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_048;
/// Most members one message mentions.
pub const MAX_MENTIONS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupRole {
    Admin,
    Member,
}

/// How a member came into the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinedVia {
    /// Created the group.
    Created,
    /// Added by an admin (or, in member-add mode `everyone`, by a member), or listed at creation.
    Added,
    /// Joined through the invite link.
    InviteLink,
    /// Asked to join and was approved.
    JoinRequest,
}

/// Who may add members.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberAddMode {
    #[default]
    Admins,
    Everyone,
}

/// A group's settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupSettings {
    /// Only admins may send.
    #[serde(default)]
    pub announce: bool,
    /// Joins through the invite link wait for an admin's approval.
    #[serde(default)]
    pub join_approval: bool,
    #[serde(default)]
    pub member_add_mode: MemberAddMode,
    /// Activity-only (soft-disabled): no message bodies are kept, only activity, which still
    /// moves the conversation up the inbox and shows an unread dot.
    #[serde(default)]
    pub activity_only: bool,
}

/// A change to some settings; absent fields stay as they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default)]
    pub announce: Option<bool>,
    #[serde(default)]
    pub join_approval: Option<bool>,
    #[serde(default)]
    pub member_add_mode: Option<MemberAddMode>,
    #[serde(default)]
    pub activity_only: Option<bool>,
}

impl GroupSettings {
    fn patched(mut self, patch: SettingsPatch) -> Self {
        self.announce = patch.announce.unwrap_or(self.announce);
        self.join_approval = patch.join_approval.unwrap_or(self.join_approval);
        self.member_add_mode = patch.member_add_mode.unwrap_or(self.member_add_mode);
        self.activity_only = patch.activity_only.unwrap_or(self.activity_only);
        self
    }
}

/// A member to add: their id on the channel (e.g. a phone number), role and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    #[schema(value_type = crate::text::Id)]
    pub member_id: String,
    #[serde(default = "member_role")]
    pub role: GroupRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

fn member_role() -> GroupRole {
    GroupRole::Member
}

/// A member as the group's creation recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InitialMember {
    pub member_id: String,
    pub role: GroupRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub via: JoinedVia,
}

/// Why a member is no longer in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// They left.
    Left,
    /// Someone removed them.
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JoinRequestOutcome {
    Approved,
    Rejected,
}

/// A group command.
#[derive(Debug, Clone, PartialEq)]
pub enum GroupAction {
    /// Create the group conversation, or record an existing channel group whose conversation an
    /// inbound message already started.
    Create {
        inbox_id: Uuid,
        /// The group's id on the channel: with the inbox, it names the conversation.
        group_id: String,
        subject: String,
        description: Option<String>,
        picture_url: Option<String>,
        /// The member who created the group: an admin who can be neither demoted nor removed.
        creator: String,
        /// The inbox's own member in the group (its number).
        self_member: String,
        /// The other initial members.
        members: Vec<NewMember>,
        settings: GroupSettings,
        invite_code: Option<String>,
    },
    AddMembers {
        members: Vec<NewMember>,
        /// `added`, or `invite_link` for members who joined through the link.
        via: JoinedVia,
        /// With `invite_link`: the code used, checked against the current one when known.
        invite_code: Option<String>,
    },
    RemoveMember {
        member_id: String,
    },
    /// Promote, demote and/or rename a member.
    UpdateMember {
        member_id: String,
        role: Option<GroupRole>,
        display_name: Option<String>,
    },
    Update {
        subject: Option<String>,
        description: Option<String>,
        picture_url: Option<String>,
        settings: SettingsPatch,
    },
    RequestToJoin {
        request_id: Uuid,
        member_id: String,
        display_name: Option<String>,
    },
    ResolveJoinRequest {
        request_id: Uuid,
        outcome: JoinRequestOutcome,
    },
    RotateInviteLink {
        invite_code: String,
    },
    /// The inbox's own member leaves the group.
    Leave,
    /// Activity in an activity-only group: `messages` messages up to `at`, bodies not kept.
    RecordActivity {
        at: DateTime<Utc>,
        messages: u32,
    },
}

impl GroupAction {
    pub const fn name(&self) -> &'static str {
        match self {
            Self::Create { .. } => "create_group",
            Self::AddMembers { .. } => "add_group_members",
            Self::RemoveMember { .. } => "remove_group_member",
            Self::UpdateMember { .. } => "update_group_member",
            Self::Update { .. } => "update_group",
            Self::RequestToJoin { .. } => "request_to_join_group",
            Self::ResolveJoinRequest { .. } => "resolve_group_join_request",
            Self::RotateInviteLink { .. } => "rotate_group_invite_link",
            Self::Leave => "leave_group",
            Self::RecordActivity { .. } => "record_group_activity",
        }
    }
}

/// A current member, as the aggregate remembers them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    pub role: GroupRole,
    pub display_name: Option<String>,
}

/// What the aggregate knows of a group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupState {
    /// A `GroupCreated` was recorded (a group started by an inbound message has none yet).
    pub created: bool,
    pub subject: Option<String>,
    pub description: Option<String>,
    pub picture_url: Option<String>,
    pub creator: Option<String>,
    pub self_member: Option<String>,
    pub members: BTreeMap<String, MemberState>,
    pub settings: GroupSettings,
    pub invite_code: Option<String>,
    /// Pending join requests: request id → member id.
    pub pending: BTreeMap<Uuid, String>,
    /// The inbox's member left or was removed: readable, nothing can be sent.
    pub left: bool,
    /// Latest activity in an activity-only group.
    pub last_activity_at: Option<DateTime<Utc>>,
}

impl GroupState {
    fn is_admin(&self, member: &str) -> bool {
        self.members.get(member).is_some_and(|m| m.role == GroupRole::Admin)
    }

    /// The inbox's own member is an admin.
    pub fn inbox_is_admin(&self) -> bool {
        self.self_member.as_deref().is_some_and(|m| self.is_admin(m))
    }

    /// Folds a group event.
    pub(super) fn apply(&mut self, change: &C) {
        match change {
            C::GroupCreated {
                subject,
                description,
                picture_url,
                creator,
                self_member,
                members,
                settings,
                invite_code,
                ..
            } => {
                self.created = true;
                self.subject = Some(subject.clone());
                self.description.clone_from(description);
                self.picture_url.clone_from(picture_url);
                self.creator = Some(creator.clone());
                self.self_member = Some(self_member.clone());
                self.members = members
                    .iter()
                    .map(|m| (m.member_id.clone(), MemberState { role: m.role, display_name: m.display_name.clone() }))
                    .collect();
                self.settings = *settings;
                self.invite_code.clone_from(invite_code);
                self.left = !self.members.contains_key(self_member);
            }
            C::GroupMemberAdded { member_id, role, display_name, .. } => {
                self.members.insert(member_id.clone(), MemberState { role: *role, display_name: display_name.clone() });
                if self.self_member.as_ref() == Some(member_id) {
                    self.left = false;
                }
            }
            C::GroupMemberRemoved { member_id, .. } => {
                self.members.remove(member_id);
            }
            C::GroupMemberRoleChanged { member_id, to, .. } => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.role = *to;
                }
            }
            C::GroupMemberRenamed { member_id, display_name } => {
                if let Some(m) = self.members.get_mut(member_id) {
                    m.display_name = Some(display_name.clone());
                }
            }
            C::GroupInfoUpdated { subject, description, picture_url } => {
                info_update(&mut self.subject, subject);
                info_update(&mut self.description, description);
                info_update(&mut self.picture_url, picture_url);
            }
            C::GroupSettingsChanged { settings } => self.settings = *settings,
            C::GroupJoinRequested { request_id, member_id, .. } => {
                self.pending.insert(*request_id, member_id.clone());
            }
            C::GroupJoinRequestResolved { request_id, .. } => {
                self.pending.remove(request_id);
            }
            C::GroupInviteLinkRotated { invite_code } => self.invite_code = Some(invite_code.clone()),
            C::GroupLeft { member_id, .. } => {
                self.left = true;
                if let Some(m) = member_id {
                    self.members.remove(m);
                }
            }
            C::GroupActivityRecorded { at, .. } => {
                self.last_activity_at = Some(self.last_activity_at.map_or(*at, |t| t.max(*at)));
            }
            _ => {}
        }
    }

    /// Who performs a change: the reporting member (a `contact` actor), or the inbox's own member.
    fn performer<'a>(&self, actor: &'a Actor) -> Performer<'a> {
        match actor.kind {
            ActorKind::Contact => Performer::Channel(&actor.id),
            _ => Performer::Inbox,
        }
    }

    /// Management through the inbox needs the inbox to be in the group and an admin.
    fn check_manage(&self, performer: Performer<'_>) -> Result<(), ConversationError> {
        match performer {
            Performer::Channel(_) => Ok(()),
            Performer::Inbox if self.left => Err(ConversationError::GroupLeft),
            Performer::Inbox if self.inbox_is_admin() => Ok(()),
            Performer::Inbox => Err(ConversationError::NotGroupAdmin),
        }
    }

    /// The rules of a send by the inbox: not after leaving, not into an activity-only group, only
    /// admins in announce mode, mentions only of current members.
    pub fn check_send(&self, mentions: &[String]) -> Result<(), ConversationError> {
        if self.left {
            return Err(ConversationError::GroupLeft);
        }
        if self.settings.activity_only {
            return Err(ConversationError::ActivityOnly);
        }
        if self.settings.announce && !self.inbox_is_admin() {
            return Err(ConversationError::AnnounceOnly);
        }
        if let Some(missing) = mentions.iter().find(|m| !self.members.contains_key(*m)) {
            return Err(ConversationError::MentionNotMember(missing.clone()));
        }
        Ok(())
    }

    /// The events of a group command on an existing group conversation.
    pub(super) fn decide(
        &self,
        actor: &Actor,
        action: GroupAction,
        now: DateTime<Utc>,
    ) -> Result<Vec<C>, ConversationError> {
        use GroupAction as A;
        let performer = self.performer(actor);
        let changes = match action {
            A::Create { .. } => unreachable!("creation is decided by the conversation"),
            A::AddMembers { members, via, invite_code } => {
                validate_new_members(&members)?;
                match via {
                    JoinedVia::Added => {
                        if self.settings.member_add_mode == MemberAddMode::Admins {
                            self.check_manage(performer)?;
                        } else if let Performer::Inbox = performer
                            && self.left
                        {
                            return Err(ConversationError::GroupLeft);
                        }
                    }
                    JoinedVia::InviteLink => {
                        if self.settings.join_approval {
                            return Err(ConversationError::JoinApprovalRequired);
                        }
                        if let (Some(used), Some(current)) = (&invite_code, &self.invite_code)
                            && used != current
                        {
                            return Err(ConversationError::InviteLinkRevoked);
                        }
                    }
                    JoinedVia::Created | JoinedVia::JoinRequest => {
                        return Err(ConversationError::validation(
                            "via",
                            "members are added `added` or through the `invite_link`",
                        ));
                    }
                }
                let new: Vec<_> = members.into_iter().filter(|m| !self.members.contains_key(&m.member_id)).collect();
                if self.members.len() + new.len() > MAX_GROUP_MEMBERS {
                    return Err(ConversationError::validation(
                        "members",
                        format!("a group has at most {MAX_GROUP_MEMBERS} members"),
                    ));
                }
                new.into_iter()
                    .map(|m| C::GroupMemberAdded {
                        member_id: m.member_id,
                        role: m.role,
                        display_name: m.display_name,
                        via,
                    })
                    .collect()
            }
            A::RemoveMember { member_id } => {
                required_id("member_id", &member_id)?;
                let leaving = matches!(performer, Performer::Channel(who) if who == member_id);
                if !leaving {
                    self.check_manage(performer)?;
                    if self.creator.as_ref() == Some(&member_id) {
                        return Err(ConversationError::CreatorProtected);
                    }
                }
                let reason = if leaving { LeftReason::Left } else { LeftReason::Removed };
                if self.self_member.as_ref() == Some(&member_id) {
                    if self.left {
                        return Ok(vec![]);
                    }
                    vec![C::GroupLeft { member_id: Some(member_id), reason }]
                } else if !self.members.contains_key(&member_id) {
                    vec![] // not (or no longer) a member: removing again changes nothing
                } else {
                    vec![C::GroupMemberRemoved { member_id, reason }]
                }
            }
            A::UpdateMember { member_id, role, display_name } => {
                required_id("member_id", &member_id)?;
                if role.is_none() && display_name.is_none() {
                    return Err(ConversationError::validation("role", "give a role and/or a display_name"));
                }
                let Some(current) = self.members.get(&member_id) else {
                    return Err(ConversationError::MemberNotFound(member_id));
                };
                let mut changes = Vec::new();
                if let Some(to) = role.filter(|r| *r != current.role) {
                    self.check_manage(performer)?;
                    if self.creator.as_ref() == Some(&member_id) {
                        return Err(ConversationError::CreatorProtected);
                    }
                    changes.push(C::GroupMemberRoleChanged { member_id: member_id.clone(), from: current.role, to });
                }
                if let Some(name) = display_name {
                    let name = name.trim().to_owned();
                    required_id("display_name", &name)?;
                    if current.display_name.as_ref() != Some(&name) {
                        changes.push(C::GroupMemberRenamed { member_id, display_name: name });
                    }
                }
                changes
            }
            A::Update { subject, description, picture_url, settings } => {
                if let Performer::Inbox = performer
                    && self.left
                {
                    return Err(ConversationError::GroupLeft);
                }
                let mut changes = Vec::new();
                let subject = subject.map(|s| s.trim().to_owned());
                if let Some(s) = &subject {
                    limited("subject", s, 1, MAX_SUBJECT_CHARS)?;
                }
                for (field, value) in [("description", &description), ("picture_url", &picture_url)] {
                    if let Some(v) = value {
                        limited(field, v, 0, MAX_DESCRIPTION_CHARS)?;
                    }
                }
                let subject = subject.filter(|s| self.subject.as_ref() != Some(s));
                let description = description.filter(|d| self.description.as_deref().unwrap_or("") != d);
                let picture_url = picture_url.filter(|p| self.picture_url.as_deref().unwrap_or("") != p);
                if subject.is_some() || description.is_some() || picture_url.is_some() {
                    changes.push(C::GroupInfoUpdated { subject, description, picture_url });
                }
                let new_settings = self.settings.patched(settings);
                if new_settings != self.settings {
                    self.check_manage(performer)?;
                    changes.push(C::GroupSettingsChanged { settings: new_settings });
                }
                changes
            }
            A::RequestToJoin { request_id, member_id, display_name } => {
                required_id("member_id", &member_id)?;
                if self.members.contains_key(&member_id) {
                    return Ok(vec![]); // already in: nothing to ask
                }
                if self.pending.values().any(|m| *m == member_id) {
                    return Ok(vec![]); // already waiting
                }
                if self.settings.join_approval {
                    if self.pending.len() >= MAX_PENDING_REQUESTS {
                        return Err(ConversationError::validation(
                            "member_id",
                            format!("at most {MAX_PENDING_REQUESTS} join requests wait at once"),
                        ));
                    }
                    vec![C::GroupJoinRequested { request_id, member_id, display_name }]
                } else {
                    // No approval needed: asking is joining.
                    vec![C::GroupMemberAdded {
                        member_id,
                        role: GroupRole::Member,
                        display_name,
                        via: JoinedVia::InviteLink,
                    }]
                }
            }
            A::ResolveJoinRequest { request_id, outcome } => {
                let Some(member_id) = self.pending.get(&request_id) else {
                    return Err(ConversationError::JoinRequestNotFound(request_id));
                };
                self.check_manage(performer)?;
                let mut changes =
                    vec![C::GroupJoinRequestResolved { request_id, member_id: member_id.clone(), outcome }];
                if outcome == JoinRequestOutcome::Approved && !self.members.contains_key(member_id) {
                    changes.push(C::GroupMemberAdded {
                        member_id: member_id.clone(),
                        role: GroupRole::Member,
                        display_name: None,
                        via: JoinedVia::JoinRequest,
                    });
                }
                changes
            }
            A::RotateInviteLink { invite_code } => {
                required_id("invite_code", &invite_code)?;
                self.check_manage(performer)?;
                if self.invite_code.as_ref() == Some(&invite_code) {
                    return Ok(vec![]);
                }
                vec![C::GroupInviteLinkRotated { invite_code }]
            }
            A::Leave => {
                if self.left {
                    return Ok(vec![]);
                }
                vec![C::GroupLeft { member_id: self.self_member.clone(), reason: LeftReason::Left }]
            }
            A::RecordActivity { at, messages } => {
                if !self.settings.activity_only {
                    return Err(ConversationError::validation(
                        "at",
                        "activity is recorded for activity-only groups; this group keeps messages",
                    ));
                }
                if at > now + super::MAX_CLOCK_SKEW {
                    return Err(ConversationError::validation("at", "must not be in the future"));
                }
                if messages == 0 {
                    return Err(ConversationError::validation("messages", "must be at least 1"));
                }
                vec![C::GroupActivityRecorded { at, messages }]
            }
        };
        Ok(changes)
    }
}

/// Folds one field of a `GroupInfoUpdated`: absent leaves it, an empty string clears it.
pub fn info_update(current: &mut Option<String>, update: &Option<String>) {
    if let Some(value) = update {
        *current = (!value.is_empty()).then(|| value.clone());
    }
}

#[derive(Debug, Clone, Copy)]
enum Performer<'a> {
    /// A member, on the channel.
    Channel(&'a str),
    /// The engine, through the inbox's own member.
    Inbox,
}

fn limited(field: &str, value: &str, min: usize, max: usize) -> Result<(), ConversationError> {
    let n = value.chars().count();
    if n < min || n > max || (min > 0 && value.trim().is_empty()) {
        return Err(ConversationError::validation(field, format!("must be {min} to {max} characters")));
    }
    Ok(())
}

/// 1 to [`MAX_MEMBERS_PER_COMMAND`] distinct members with valid ids and names.
pub(super) fn validate_new_members(members: &[NewMember]) -> Result<(), ConversationError> {
    if members.is_empty() || members.len() > MAX_MEMBERS_PER_COMMAND {
        return Err(ConversationError::validation("members", format!("give 1 to {MAX_MEMBERS_PER_COMMAND} members")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in members.iter().enumerate() {
        required_id(&format!("members[{i}].member_id"), &m.member_id)?;
        if !seen.insert(m.member_id.as_str()) {
            return Err(ConversationError::validation(format!("members[{i}].member_id"), "is listed twice"));
        }
        if let Some(name) = &m.display_name {
            required_id(&format!("members[{i}].display_name"), name)?;
        }
    }
    Ok(())
}

/// The `GroupCreated` of a create command, checked.
#[allow(clippy::too_many_arguments)]
pub(super) fn created(
    group_id: String,
    subject: String,
    description: Option<String>,
    picture_url: Option<String>,
    creator: String,
    self_member: String,
    members: Vec<NewMember>,
    settings: GroupSettings,
    invite_code: Option<String>,
) -> Result<C, ConversationError> {
    let subject = subject.trim().to_owned();
    limited("subject", &subject, 1, MAX_SUBJECT_CHARS)?;
    for (field, value) in [("description", &description), ("picture_url", &picture_url)] {
        if let Some(v) = value {
            limited(field, v, 0, MAX_DESCRIPTION_CHARS)?;
        }
    }
    required_id("creator", &creator)?;
    required_id("self_member", &self_member)?;
    if let Some(code) = &invite_code {
        required_id("invite_code", code)?;
    }
    if !members.is_empty() {
        validate_new_members(&members)?;
    }
    // The creator first (an admin), then the inbox's own member (an admin when it created the
    // group), then the others; each once.
    let mut initial = vec![InitialMember {
        member_id: creator.clone(),
        role: GroupRole::Admin,
        display_name: None,
        via: JoinedVia::Created,
    }];
    let mut listed = members.into_iter();
    let self_listed = listed.clone().find(|m| m.member_id == self_member);
    if self_member != creator {
        initial.push(InitialMember {
            member_id: self_member.clone(),
            role: self_listed.as_ref().map_or(GroupRole::Member, |m| m.role),
            display_name: self_listed.and_then(|m| m.display_name),
            via: JoinedVia::Added,
        });
    }
    for m in listed.by_ref() {
        match initial.iter_mut().find(|i| i.member_id == m.member_id) {
            Some(i) => i.display_name = i.display_name.take().or(m.display_name),
            None => initial.push(InitialMember {
                member_id: m.member_id,
                role: m.role,
                display_name: m.display_name,
                via: JoinedVia::Added,
            }),
        }
    }
    if initial.len() > MAX_GROUP_MEMBERS {
        return Err(ConversationError::validation(
            "members",
            format!("a group has at most {MAX_GROUP_MEMBERS} members"),
        ));
    }
    Ok(C::GroupCreated {
        group_id,
        subject,
        description: description.filter(|d| !d.is_empty()),
        picture_url: picture_url.filter(|p| !p.is_empty()),
        creator,
        self_member,
        members: initial,
        settings,
        invite_code,
    })
}

/// Mentions: at most [`MAX_MENTIONS`], distinct, valid member ids.
pub(super) fn validate_mentions(mentions: &[String]) -> Result<(), ConversationError> {
    if mentions.len() > MAX_MENTIONS {
        return Err(ConversationError::validation("mentions", format!("at most {MAX_MENTIONS} mentions")));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, m) in mentions.iter().enumerate() {
        if m.trim().is_empty() || m.chars().count() > MAX_ID_CHARS || !seen.insert(m) {
            return Err(ConversationError::validation(
                format!("mentions[{i}]"),
                format!("must be a distinct member id of 1 to {MAX_ID_CHARS} characters"),
            ));
        }
    }
    Ok(())
}
