//! Group commands: what a caller asks of a group conversation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{GroupRole, GroupSettings, JoinRequestOutcome, JoinedVia, MemberAddMode};

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
