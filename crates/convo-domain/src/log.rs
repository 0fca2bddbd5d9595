//! The global log's envelope: one stored event with its position, as readers (projections,
//! the bus, the HTTP log endpoints) receive it.

use std::sync::OnceLock;

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
    /// The payload decoded, once, by the first reader that asks (`Default::default()` when
    /// building one): each read model decodes the same shared event.
    #[serde(skip)]
    pub decoded: Decoded,
}

/// A [`LogEvent`]'s payload as its domain event, decoded on first use and kept: one decode
/// per event for all the read models that fold it, not one each. Derived from the payload, so
/// it takes no part in comparisons.
#[derive(Clone, Default)]
pub struct Decoded(OnceLock<DomainEvent>);

#[derive(Clone)]
enum DomainEvent {
    Conversation(Result<ConversationEvent, String>),
    Inbox(Result<InboxEvent, String>),
    Other,
}

impl PartialEq for Decoded {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Decoded(..)" } else { "Decoded(not yet)" })
    }
}

impl LogEvent {
    fn domain_event(&self) -> &DomainEvent {
        use cqrs_es::Aggregate;
        self.decoded.0.get_or_init(|| match self.aggregate_type.as_str() {
            Conversation::TYPE => {
                DomainEvent::Conversation(ConversationEvent::deserialize(&self.payload).map_err(|e| e.to_string()))
            }
            Inbox::TYPE => DomainEvent::Inbox(InboxEvent::deserialize(&self.payload).map_err(|e| e.to_string())),
            _ => DomainEvent::Other,
        })
    }

    /// The conversation event inside, if this is one (decoded once per event).
    pub fn conversation_event(&self) -> Option<Result<&ConversationEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Conversation(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The inbox event inside, if this is one (decoded once per event).
    pub fn inbox_event(&self) -> Option<Result<&InboxEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Inbox(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }
}
