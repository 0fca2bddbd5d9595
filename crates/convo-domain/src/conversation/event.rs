//! Conversation events: immutable, past-tense facts. Stored as
//! `{"type": "...", "occurred_at": ..., "actor": {...}, ...fields}` with an explicit
//! event_type and event_version; the serde names are pinned so renaming Rust code never
//! breaks stored events. A changed shape is a new version: its upcaster from the old one is
//! written here, beside the event, and listed in [`crate::versions::UPCASTERS`].

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::command::{ConversationKind, ConversationStatus, DeliveryFailure};
use super::group::{GroupRole, GroupSettings, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason};
use crate::{Actor, ChannelType, DeliveryStatus, MessageContent};

/// A conversation event as stored and published: the envelope (`occurred_at`, `actor`) beside
/// the fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: ConversationChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum ConversationChange {
    /// The first inbound message of a thread opened the conversation (status open).
    #[serde(rename = "ConversationStarted")]
    Started {
        /// UUIDv5 of (workspace, inbox, thread key): one conversation per thread.
        conversation_id: Uuid,
        workspace_id: Uuid,
        inbox_id: Uuid,
        /// The inbox's channel type when the conversation started.
        channel: ChannelType,
        kind: ConversationKind,
        /// The contact id (direct) or group id (group) on the channel.
        thread_key: String,
        /// The contact's or group's name, as the connector reported it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        /// The contact of a direct conversation (`/v1/contacts`), when its sender resolved to
        /// one; absent for groups and for conversations started before contacts existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact_id: Option<Uuid>,
    },
    /// A message from the contact (or a group member) arrived through a connector.
    #[serde(rename = "InboundMessageReceived")]
    InboundMessageReceived {
        message_id: Uuid,
        /// 1-based position of the message in its conversation.
        seq: u64,
        /// Inbound messages in the conversation so far, this one included.
        inbound_count: u64,
        /// The channel's own id of the message (e.g. a WhatsApp `wamid`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel_message_id: Option<String>,
        /// When the contact sent it, as the connector reported it: the window counts from here.
        sent_at: DateTime<Utc>,
        content: MessageContent,
        /// The group member who wrote it (groups only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
        /// The contact the group member resolved to (`/v1/contacts`), found or created by the
        /// identity the member id is on the inbox's channel; absent for direct messages (the
        /// conversation's contact wrote them) and for senders with no such identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_contact_id: Option<Uuid>,
        /// Member ids the message mentions (groups only).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
    },
    /// An agent or a bot sent a message; connectors deliver it (status accepted).
    #[serde(rename = "MessageSent")]
    MessageSent {
        /// Connectors report delivery statuses for this id.
        message_id: Uuid,
        /// 1-based position of the message in its conversation.
        seq: u64,
        /// Inbound messages in the conversation before this one.
        inbound_count: u64,
        content: MessageContent,
        /// Member ids the message mentions (groups only); each was a member when it was sent.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
    },
    /// A private note: an agent's or a bot's words for the team, in the timeline beside the
    /// messages (direction `note`). Never sent to the channel (it is no `MessageSent`), it needs
    /// no messaging window and opens none, and it is not unread for anyone.
    #[serde(rename = "NoteAdded")]
    NoteAdded {
        /// The note's id in the timeline (the message ids' space: no message has it).
        message_id: Uuid,
        /// 1-based position in the conversation's timeline, which messages and notes share.
        seq: u64,
        /// Inbound messages in the conversation before it.
        inbound_count: u64,
        /// The text, trimmed.
        body: String,
        /// Agent ids the note mentions (`GET /v1/agents/{id}/mentions`); each was an active
        /// agent of the workspace when it was written.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mentions: Vec<String>,
    },
    /// A connector reported an outbound message's delivery status; only reports that move it forward are recorded.
    #[serde(rename = "DeliveryStatusRecorded")]
    DeliveryStatusRecorded {
        message_id: Uuid,
        status: DeliveryStatus,
        /// Only with `failed`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<DeliveryFailure>,
        /// When the channel reported it.
        reported_at: DateTime<Utc>,
    },
    /// The actor reacted to a message, replacing any earlier reaction of theirs.
    #[serde(rename = "ReactionSet")]
    ReactionSet {
        message_id: Uuid,
        /// The reactor is the event's `actor`.
        emoji: String,
    },
    /// The actor removed their reaction from a message.
    #[serde(rename = "ReactionRemoved")]
    ReactionRemoved { message_id: Uuid },
    /// A message's content was replaced (text only).
    #[serde(rename = "MessageEdited")]
    MessageEdited {
        message_id: Uuid,
        /// The new content, replacing the old.
        content: MessageContent,
    },
    /// A message was deleted; views keep a tombstone.
    #[serde(rename = "MessageDeleted")]
    MessageDeleted { message_id: Uuid },
    /// An agent was assigned, replacing the previous assignee if any (since 2.0.0 an
    /// `Assignee`; 1.0.0 had a bare `agent_id`).
    #[serde(rename = "AgentAssigned")]
    AgentAssigned {
        /// Who the conversation is assigned to now.
        assignee: Assignee,
        /// The assignee it replaced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Assignee>,
    },
    /// The assigned agent was removed.
    #[serde(rename = "AgentUnassigned")]
    AgentUnassigned { agent_id: String },
    /// A team was assigned, replacing the previous one if any.
    #[serde(rename = "TeamAssigned")]
    TeamAssigned {
        team_id: String,
        /// The team it replaced.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    /// The assigned team was removed.
    #[serde(rename = "TeamUnassigned")]
    TeamUnassigned { team_id: String },
    /// A label was put on the conversation (in its canonical spelling: lower case).
    #[serde(rename = "LabelAdded")]
    LabelAdded { label: String },
    /// A label was taken off the conversation.
    #[serde(rename = "LabelRemoved")]
    LabelRemoved { label: String },
    /// A custom attribute was set, its value meeting the workspace's definition of the key then.
    #[serde(rename = "ConversationAttributeSet")]
    AttributeSet {
        key: String,
        /// Its new value, never `null`.
        value: Value,
    },
    /// A custom attribute was removed.
    #[serde(rename = "ConversationAttributeRemoved")]
    AttributeRemoved { key: String },
    /// The conversation left the default inbox view.
    #[serde(rename = "ConversationArchived")]
    Archived {},
    /// The conversation came back to the inbox view (explicitly, or by a new inbound message).
    #[serde(rename = "ConversationUnarchived")]
    Unarchived {},
    /// A user's read marker moved forward to a message.
    #[serde(rename = "ReadMarkerMoved")]
    ReadMarkerMoved {
        user_id: String,
        /// The last message the user has read.
        message_id: Uuid,
        /// That message's seq.
        seq: u64,
        /// Inbound messages up to the marker: the user has read this many, and
        /// `inbound_count - inbound_read` are unread.
        inbound_read: u64,
    },
    /// The conversation's status changed (explicitly, or back to open by a new inbound message).
    #[serde(rename = "StatusChanged")]
    StatusChanged {
        from: ConversationStatus,
        to: ConversationStatus,
        /// When a snoozed conversation wakes up (only with `to: snoozed`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snoozed_until: Option<DateTime<Utc>>,
    },
    /// A group was created, or an existing channel group recorded: its metadata, settings and
    /// initial members (the creator first, an admin).
    #[serde(rename = "GroupCreated")]
    GroupCreated {
        /// The group's id on the channel (the conversation's thread key).
        group_id: String,
        subject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        picture_url: Option<String>,
        /// The member who created the group: can be neither demoted nor removed.
        creator: String,
        /// The inbox's own member.
        self_member: String,
        members: Vec<InitialMember>,
        settings: GroupSettings,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        invite_code: Option<String>,
    },
    /// A member joined: added, through the invite link, or by an approved request.
    #[serde(rename = "GroupMemberAdded")]
    GroupMemberAdded {
        member_id: String,
        role: GroupRole,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
        via: JoinedVia,
    },
    /// A member (other than the inbox's own) left or was removed.
    #[serde(rename = "GroupMemberRemoved")]
    GroupMemberRemoved { member_id: String, reason: LeftReason },
    /// A member was promoted or demoted.
    #[serde(rename = "GroupMemberRoleChanged")]
    GroupMemberRoleChanged { member_id: String, from: GroupRole, to: GroupRole },
    /// A member's display name changed; mentions of them still resolve (they name the id).
    #[serde(rename = "GroupMemberRenamed")]
    GroupMemberRenamed { member_id: String, display_name: String },
    /// The group's subject, description or picture changed (only the changed ones; an empty
    /// description or picture url clears it).
    #[serde(rename = "GroupInfoUpdated")]
    GroupInfoUpdated {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subject: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        picture_url: Option<String>,
    },
    /// The group's settings changed: all of them, as they are now.
    #[serde(rename = "GroupSettingsChanged")]
    GroupSettingsChanged { settings: GroupSettings },
    /// Someone asked to join a group that approves joins.
    #[serde(rename = "GroupJoinRequested")]
    GroupJoinRequested {
        request_id: Uuid,
        member_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    /// A pending join request was approved (a `GroupMemberAdded` follows) or rejected.
    #[serde(rename = "GroupJoinRequestResolved")]
    GroupJoinRequestResolved { request_id: Uuid, member_id: String, outcome: JoinRequestOutcome },
    /// The invite link was reset: the old code no longer admits anyone.
    #[serde(rename = "GroupInviteLinkRotated")]
    GroupInviteLinkRotated { invite_code: String },
    /// The inbox's own member left or was removed: the conversation stays readable, nothing can
    /// be sent.
    #[serde(rename = "GroupLeft")]
    GroupLeft {
        /// The inbox's member, when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        member_id: Option<String>,
        reason: LeftReason,
    },
    /// Messages happened in an activity-only group; their bodies are not kept.
    #[serde(rename = "GroupActivityRecorded")]
    GroupActivityRecorded {
        /// When the latest of them was sent.
        at: DateTime<Utc>,
        messages: u32,
    },
    /// A user saw an activity-only group's activity up to `at` (their unread dot clears).
    #[serde(rename = "ActivitySeen")]
    ActivitySeen { user_id: String, at: DateTime<Utc> },
}

impl ConversationChange {
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "ConversationStarted",
            Self::InboundMessageReceived { .. } => "InboundMessageReceived",
            Self::MessageSent { .. } => "MessageSent",
            Self::NoteAdded { .. } => "NoteAdded",
            Self::DeliveryStatusRecorded { .. } => "DeliveryStatusRecorded",
            Self::ReactionSet { .. } => "ReactionSet",
            Self::ReactionRemoved { .. } => "ReactionRemoved",
            Self::MessageEdited { .. } => "MessageEdited",
            Self::MessageDeleted { .. } => "MessageDeleted",
            Self::AgentAssigned { .. } => "AgentAssigned",
            Self::AgentUnassigned { .. } => "AgentUnassigned",
            Self::TeamAssigned { .. } => "TeamAssigned",
            Self::TeamUnassigned { .. } => "TeamUnassigned",
            Self::LabelAdded { .. } => "LabelAdded",
            Self::LabelRemoved { .. } => "LabelRemoved",
            Self::AttributeSet { .. } => "ConversationAttributeSet",
            Self::AttributeRemoved { .. } => "ConversationAttributeRemoved",
            Self::Archived {} => "ConversationArchived",
            Self::Unarchived {} => "ConversationUnarchived",
            Self::ReadMarkerMoved { .. } => "ReadMarkerMoved",
            Self::StatusChanged { .. } => "StatusChanged",
            Self::GroupCreated { .. } => "GroupCreated",
            Self::GroupMemberAdded { .. } => "GroupMemberAdded",
            Self::GroupMemberRemoved { .. } => "GroupMemberRemoved",
            Self::GroupMemberRoleChanged { .. } => "GroupMemberRoleChanged",
            Self::GroupMemberRenamed { .. } => "GroupMemberRenamed",
            Self::GroupInfoUpdated { .. } => "GroupInfoUpdated",
            Self::GroupSettingsChanged { .. } => "GroupSettingsChanged",
            Self::GroupJoinRequested { .. } => "GroupJoinRequested",
            Self::GroupJoinRequestResolved { .. } => "GroupJoinRequestResolved",
            Self::GroupInviteLinkRotated { .. } => "GroupInviteLinkRotated",
            Self::GroupLeft { .. } => "GroupLeft",
            Self::GroupActivityRecorded { .. } => "GroupActivityRecorded",
            Self::ActivitySeen { .. } => "ActivitySeen",
        }
    }

    /// The message this event is about, if any.
    pub const fn message_id(&self) -> Option<Uuid> {
        match self {
            Self::InboundMessageReceived { message_id, .. }
            | Self::MessageSent { message_id, .. }
            | Self::NoteAdded { message_id, .. }
            | Self::DeliveryStatusRecorded { message_id, .. }
            | Self::ReactionSet { message_id, .. }
            | Self::ReactionRemoved { message_id }
            | Self::MessageEdited { message_id, .. }
            | Self::MessageDeleted { message_id } => Some(*message_id),
            _ => None,
        }
    }
}

impl DomainEvent for ConversationEvent {
    fn event_type(&self) -> String {
        self.change.event_type().to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(self.change.event_type()).to_owned()
    }
}

/// Who a conversation is assigned to: the kind says which directory the id names, so that
/// another kind of assignee is a new kind, not another version of `AgentAssigned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Assignee {
    pub kind: AssigneeKind,
    /// The assignee's id in the directory its kind names.
    pub id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeKind {
    /// A human agent: `PUT /v1/conversations/{id}/assignee`'s `agent_id`.
    Agent,
}

impl Assignee {
    pub fn agent(id: impl Into<String>) -> Self {
        Self { kind: AssigneeKind::Agent, id: id.into() }
    }
}

/// `AgentAssigned` 1.0.0 to 2.0.0: `agent_id` (and `previous`, an agent id too) become
/// assignees of kind `agent`, the only assignees 1.0.0 had.
pub(crate) fn agent_assigned_names_its_assignee(event: &mut Map<String, Value>) -> Result<(), String> {
    let agent = |id: Value| -> Result<Value, String> {
        match id {
            Value::String(id) => Ok(json!({"kind": "agent", "id": id})),
            other => Err(format!("an agent id is a string, not {other}")),
        }
    };
    let agent_id = event.remove("agent_id").ok_or("missing field `agent_id`")?;
    event.insert("assignee".to_owned(), agent(agent_id)?);
    match event.remove("previous") {
        None | Some(Value::Null) => {}
        Some(previous) => {
            event.insert("previous".to_owned(), agent(previous)?);
        }
    }
    Ok(())
}
