//! The global log's envelope: one stored event with its position, as readers (projections,
//! the bus, the HTTP log endpoints) receive it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Conversation, ConversationEvent, Inbox, InboxEvent};

/// One event as the global log serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEvent {
    /// Position in the global log: increasing in commit order, unique, not dense.
    pub position: i64,
    pub workspace_id: Option<String>,
    /// `conversation` or `inbox`.
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version after this event.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The event as stored: a `ConversationEvent` or an `InboxEvent`, described per type and
    /// version by `schemas/events/<event_type>.<event_version>.json`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The command's metadata: `workspace_id`, the `command` name, and more.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub metadata: Value,
    /// When the store recorded it (the database's clock at insert).
    pub recorded_at: DateTime<Utc>,
}

impl LogEvent {
    /// The conversation event inside, if this is one.
    pub fn conversation_event(&self) -> Option<Result<ConversationEvent, serde_json::Error>> {
        use cqrs_es::Aggregate;
        (self.aggregate_type == Conversation::TYPE).then(|| ConversationEvent::deserialize(&self.payload))
    }

    /// The inbox event inside, if this is one.
    pub fn inbox_event(&self) -> Option<Result<InboxEvent, serde_json::Error>> {
        use cqrs_es::Aggregate;
        (self.aggregate_type == Inbox::TYPE).then(|| InboxEvent::deserialize(&self.payload))
    }
}
