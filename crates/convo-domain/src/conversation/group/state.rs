//! What the aggregate knows of a group, folded from its events, and the values group events
//! carry (roles, how a member joined or left, settings).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::SettingsPatch;
use crate::conversation::ConversationChange as C;

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

impl GroupSettings {
    pub(super) fn patched(mut self, patch: SettingsPatch) -> Self {
        self.announce = patch.announce.unwrap_or(self.announce);
        self.join_approval = patch.join_approval.unwrap_or(self.join_approval);
        self.member_add_mode = patch.member_add_mode.unwrap_or(self.member_add_mode);
        self.activity_only = patch.activity_only.unwrap_or(self.activity_only);
        self
    }
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
    /// Pending join requests: request id → who asks.
    pub pending: BTreeMap<Uuid, PendingRequest>,
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
    pub(in crate::conversation) fn apply(&mut self, change: &C) {
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
            C::GroupJoinRequested { request_id, member_id, display_name } => {
                let request = PendingRequest { member_id: member_id.clone(), display_name: display_name.clone() };
                self.pending.insert(*request_id, request);
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
}

/// Folds one field of a `GroupInfoUpdated`: absent leaves it, an empty string clears it.
pub fn info_update(current: &mut Option<String>, update: &Option<String>) {
    if let Some(value) = update {
        *current = (!value.is_empty()).then(|| value.clone());
    }
}

/// A pending join request: the member asking, with the name the channel showed (which they
/// join with once approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    pub member_id: String,
    pub display_name: Option<String>,
}
