//! Business-rule rejections of conversation commands. A rejection writes nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{ChannelType, WindowActor};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("conversation not found")]
    NotFound,
    #[error("message {0} not found in this conversation")]
    MessageNotFound(Uuid),
    #[error("message {0} was deleted")]
    MessageDeleted(Uuid),
    #[error("message id {0} is already used in this conversation")]
    DuplicateMessage(Uuid),
    #[error("the messaging window for {actor:?} is closed")]
    MessagingWindowClosed { actor: WindowActor, expired_at: Option<DateTime<Utc>> },
    #[error("the conversation's inbox is missing or deleted")]
    InboxRequired,
    #[error("a {channel:?} inbox cannot carry a {content} message from this actor")]
    UnsupportedChannel { channel: ChannelType, content: &'static str },
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
    /// A lookup service failed (the store is unreachable): not a business rule, nothing written.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

impl ConversationError {
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), reason: reason.into() }
    }
}
