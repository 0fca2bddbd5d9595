//! Conversation events: immutable, past-tense facts. Stored as
//! `{"type": "...", "occurred_at": ..., "actor": {...}, ...fields}` with an explicit
//! event_type and event_version; the serde names are pinned so renaming Rust code never
//! breaks stored events.

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::command::{ConversationKind, ConversationStatus, DeliveryFailure};
use crate::{Actor, ChannelType, DeliveryStatus, EVENT_VERSION_1, MessageContent};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: ConversationChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ConversationChange {
    #[serde(rename = "ConversationStarted")]
    Started {
        conversation_id: Uuid,
        workspace_id: Uuid,
        inbox_id: Uuid,
        channel: ChannelType,
        kind: ConversationKind,
        thread_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        display_name: Option<String>,
    },
    #[serde(rename = "InboundMessageReceived")]
    InboundMessageReceived {
        message_id: Uuid,
        seq: u64,
        /// Inbound messages in the conversation so far, this one included.
        inbound_count: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel_message_id: Option<String>,
        sent_at: DateTime<Utc>,
        content: MessageContent,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender: Option<String>,
    },
    #[serde(rename = "MessageSent")]
    MessageSent {
        message_id: Uuid,
        seq: u64,
        /// Inbound messages in the conversation before this one.
        inbound_count: u64,
        content: MessageContent,
    },
    #[serde(rename = "DeliveryStatusRecorded")]
    DeliveryStatusRecorded {
        message_id: Uuid,
        status: DeliveryStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<DeliveryFailure>,
        reported_at: DateTime<Utc>,
    },
    #[serde(rename = "ReactionSet")]
    ReactionSet { message_id: Uuid, emoji: String },
    #[serde(rename = "ReactionRemoved")]
    ReactionRemoved { message_id: Uuid },
    #[serde(rename = "MessageEdited")]
    MessageEdited { message_id: Uuid, content: MessageContent },
    #[serde(rename = "MessageDeleted")]
    MessageDeleted { message_id: Uuid },
    #[serde(rename = "AgentAssigned")]
    AgentAssigned {
        agent_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    #[serde(rename = "AgentUnassigned")]
    AgentUnassigned { agent_id: String },
    #[serde(rename = "TeamAssigned")]
    TeamAssigned {
        team_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    #[serde(rename = "TeamUnassigned")]
    TeamUnassigned { team_id: String },
    #[serde(rename = "ConversationArchived")]
    Archived {},
    #[serde(rename = "ConversationUnarchived")]
    Unarchived {},
    #[serde(rename = "ReadMarkerMoved")]
    ReadMarkerMoved {
        user_id: String,
        message_id: Uuid,
        seq: u64,
        /// Inbound messages up to the marker: the user has read this many, and
        /// `inbound_count - inbound_read` are unread.
        inbound_read: u64,
    },
    #[serde(rename = "StatusChanged")]
    StatusChanged {
        from: ConversationStatus,
        to: ConversationStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        snoozed_until: Option<DateTime<Utc>>,
    },
}

impl ConversationChange {
    pub const fn event_type(&self) -> &'static str {
        match self {
            Self::Started { .. } => "ConversationStarted",
            Self::InboundMessageReceived { .. } => "InboundMessageReceived",
            Self::MessageSent { .. } => "MessageSent",
            Self::DeliveryStatusRecorded { .. } => "DeliveryStatusRecorded",
            Self::ReactionSet { .. } => "ReactionSet",
            Self::ReactionRemoved { .. } => "ReactionRemoved",
            Self::MessageEdited { .. } => "MessageEdited",
            Self::MessageDeleted { .. } => "MessageDeleted",
            Self::AgentAssigned { .. } => "AgentAssigned",
            Self::AgentUnassigned { .. } => "AgentUnassigned",
            Self::TeamAssigned { .. } => "TeamAssigned",
            Self::TeamUnassigned { .. } => "TeamUnassigned",
            Self::Archived {} => "ConversationArchived",
            Self::Unarchived {} => "ConversationUnarchived",
            Self::ReadMarkerMoved { .. } => "ReadMarkerMoved",
            Self::StatusChanged { .. } => "StatusChanged",
        }
    }

    /// The message this event is about, if any.
    pub const fn message_id(&self) -> Option<Uuid> {
        match self {
            Self::InboundMessageReceived { message_id, .. }
            | Self::MessageSent { message_id, .. }
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
        EVENT_VERSION_1.to_owned()
    }
}
