//! Conversation commands: what a caller asks for. Each carries its workspace and actor.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::group::GroupAction;
use crate::window::{ChannelPolicy, Window, WindowActor, WindowState};
use crate::{Actor, DeliveryStatus, MessageContent};

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationCommand {
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub action: ConversationAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

impl ConversationKind {
    /// The messaging window of a conversation of this kind under `policy`, for `actor` at
    /// `now`. Groups have none: the window is a 1:1 customer-care rule (a contact's last
    /// message), so a group is always open.
    pub fn window(
        self,
        policy: &ChannelPolicy,
        actor: WindowActor,
        last_inbound_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Window {
        match self {
            Self::Group => Window { state: WindowState::Open, for_actor: actor, expires_at: None, failure_code: None },
            Self::Direct => policy.window(actor, last_inbound_at, now),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    Open,
    Pending,
    Snoozed,
    Closed,
}

/// A delivery failure as the connector reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryFailure {
    /// The channel's error code.
    #[schema(value_type = crate::text::Id)]
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConversationAction {
    /// An inbound message from the contact (or a group member); starts the conversation if new,
    /// reopens and unarchives it otherwise.
    ReceiveInboundMessage {
        inbox_id: Uuid,
        /// The contact id (direct) or group id (group): with the inbox, it names the thread.
        thread_key: String,
        kind: ConversationKind,
        display_name: Option<String>,
        message_id: Uuid,
        channel_message_id: Option<String>,
        /// When the contact sent it, as reported by the connector: the window counts from here.
        sent_at: DateTime<Utc>,
        content: MessageContent,
        /// The group member who wrote it (groups only).
        sender: Option<String>,
        /// The contact the group member resolved to (groups only).
        sender_contact_id: Option<Uuid>,
        /// Members the message mentions (groups only), as the channel reported them.
        mentions: Vec<String>,
        /// The contact the sender resolved to (direct conversations), recorded when the
        /// conversation starts (decision 0005).
        contact_id: Option<Uuid>,
    },
    SendMessage {
        message_id: Uuid,
        /// `message_id` was minted for this command (a new UUIDv7 the caller never gave out):
        /// it cannot be in use, so it is not checked, and a conversation past the messages it
        /// remembers does not look it up in the store. False for an id a client chose.
        minted_id: bool,
        content: MessageContent,
        /// Members to mention (groups only): each must be a current member.
        mentions: Vec<String>,
    },
    RecordDeliveryStatus {
        message_id: Uuid,
        status: DeliveryStatus,
        failure: Option<DeliveryFailure>,
        /// When the channel reported it.
        reported_at: DateTime<Utc>,
    },
    /// An empty emoji removes the actor's reaction.
    React {
        message_id: Uuid,
        emoji: String,
    },
    EditMessage {
        message_id: Uuid,
        content: MessageContent,
    },
    DeleteMessage {
        message_id: Uuid,
    },
    AssignAgent {
        agent_id: String,
    },
    UnassignAgent,
    AssignTeam {
        team_id: String,
    },
    UnassignTeam,
    /// A private note for the team, which may mention agents of the workspace.
    AddNote {
        message_id: Uuid,
        /// As for [`Self::SendMessage`]: the id was minted for this command.
        minted_id: bool,
        body: String,
        /// Agent ids, each an active agent of the workspace.
        mentions: Vec<String>,
    },
    /// Sets custom attributes (a `null` value removes one); each key must be defined for
    /// conversations, each value meet its definition. Values as they are change nothing.
    SetAttributes {
        attributes: std::collections::BTreeMap<String, serde_json::Value>,
    },
    /// Puts a label on the conversation (nothing if it is on).
    AddLabel {
        label: String,
    },
    /// Takes a label off (nothing if it is not on).
    RemoveLabel {
        label: String,
    },
    Archive,
    Unarchive,
    /// Up to `message_id`, or (none given) everything so far: the latest message and, in an
    /// activity-only group, its latest activity.
    MarkRead {
        user_id: String,
        message_id: Option<Uuid>,
    },
    ChangeStatus {
        status: ConversationStatus,
        snoozed_until: Option<DateTime<Utc>>,
    },
    /// A group command (see [`super::group`]).
    Group(GroupAction),
}

impl ConversationAction {
    /// A stable name for logs and metrics.
    pub const fn name(&self) -> &'static str {
        match self {
            Self::ReceiveInboundMessage { .. } => "receive_inbound_message",
            Self::SendMessage { .. } => "send_message",
            Self::RecordDeliveryStatus { .. } => "record_delivery_status",
            Self::React { .. } => "react",
            Self::EditMessage { .. } => "edit_message",
            Self::DeleteMessage { .. } => "delete_message",
            Self::AssignAgent { .. } => "assign_agent",
            Self::UnassignAgent => "unassign_agent",
            Self::AssignTeam { .. } => "assign_team",
            Self::UnassignTeam => "unassign_team",
            Self::AddNote { .. } => "add_note",
            Self::SetAttributes { .. } => "set_attributes",
            Self::AddLabel { .. } => "add_label",
            Self::RemoveLabel { .. } => "remove_label",
            Self::Archive => "archive",
            Self::Unarchive => "unarchive",
            Self::MarkRead { .. } => "mark_read",
            Self::ChangeStatus { .. } => "change_status",
            Self::Group(action) => action.name(),
        }
    }
}
