//! The conversation domain of convo: aggregates, commands, events and policies, with no I/O.
//!
//! Everything a command needs from the outside world (the inbox it lands on, an old message it
//! refers to, the time) comes in through the command itself or through [`ConversationServices`],
//! so the rules here are pure and testable with cqrs-es's `TestFramework`.

pub mod actor;
pub mod attribute;
pub mod channel;
pub mod clock;
pub mod contact;
pub mod conversation;
pub mod directory;
pub mod identity;
pub mod inbox;
pub mod log;
pub mod message;
pub mod outcome;
pub mod text;
pub mod versions;
pub mod webhook;
pub mod window;

pub use actor::{Actor, ActorKind};
pub use channel::ChannelType;
pub use clock::{Clock, ManualClock, SystemClock};
pub use conversation::{
    Conversation, ConversationCommand, ConversationError, ConversationEvent, ConversationServices, InboxLookup,
    MessageLookup,
};
pub use identity::{Identity, IdentityError, IdentityKind};
pub use inbox::{Inbox, InboxCommand, InboxError, InboxEvent, InboxFacts};
pub use log::LogEvent;
pub use message::{DeliveryStatus, Direction, MessageContent, MessageFacts};
pub use outcome::{Outcome, Written};
pub use versions::{DecodeError, EVENT_VERSION_1, decode, upcast};
pub use webhook::{WebhookEndpoint, WebhookEndpointCommand, WebhookEndpointEvent};
pub use window::{ChannelPolicy, Window, WindowActor, WindowFailure, WindowState};

/// Every aggregate type whose events the log holds: what [`LogEvent::upcast`] reads.
pub const AGGREGATE_TYPES: [&str; 8] = [
    <Conversation as cqrs_es::Aggregate>::TYPE,
    <Inbox as cqrs_es::Aggregate>::TYPE,
    <contact::Contact as cqrs_es::Aggregate>::TYPE,
    <contact::ContactIdentity as cqrs_es::Aggregate>::TYPE,
    <WebhookEndpoint as cqrs_es::Aggregate>::TYPE,
    <directory::Agent as cqrs_es::Aggregate>::TYPE,
    <directory::Team as cqrs_es::Aggregate>::TYPE,
    <attribute::AttributeDefinition as cqrs_es::Aggregate>::TYPE,
];

/// The namespace of deterministic conversation ids (UUIDv5).
pub const CONVERSATION_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6c0e_7f1a_2b3c_4d5e_8f90_a1b2_c3d4_e5f6);

/// The id of the one conversation per (workspace, inbox, thread key): a contact id for direct
/// conversations, a group id for groups. Deterministic, so find-or-create needs no lookup table.
pub fn conversation_id(workspace_id: uuid::Uuid, inbox_id: uuid::Uuid, thread_key: &str) -> uuid::Uuid {
    let mut name = Vec::with_capacity(32 + thread_key.len());
    name.extend_from_slice(workspace_id.as_bytes());
    name.extend_from_slice(inbox_id.as_bytes());
    name.extend_from_slice(thread_key.as_bytes());
    uuid::Uuid::new_v5(&CONVERSATION_NAMESPACE, &name)
}

/// The message id of an inbound message that names none, from the channel's own message id:
/// a connector's retry of the same channel message maps to the same message, which the
/// conversation then receives only once.
pub fn inbound_message_id(conversation_id: uuid::Uuid, channel_message_id: &str) -> uuid::Uuid {
    let mut name = Vec::with_capacity(16 + channel_message_id.len());
    name.extend_from_slice(conversation_id.as_bytes());
    name.extend_from_slice(channel_message_id.as_bytes());
    uuid::Uuid::new_v5(&CONVERSATION_NAMESPACE, &name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_deterministic_and_scoped_by_workspace_and_inbox() {
        let (w1, w2, i1, i2) =
            (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2), uuid::Uuid::from_u128(3), uuid::Uuid::from_u128(4));
        assert_eq!(conversation_id(w1, i1, "+100"), conversation_id(w1, i1, "+100"));
        assert_ne!(conversation_id(w1, i1, "+100"), conversation_id(w2, i1, "+100"));
        assert_ne!(conversation_id(w1, i1, "+100"), conversation_id(w1, i2, "+100"));
        assert_ne!(conversation_id(w1, i1, "+100"), conversation_id(w1, i1, "+101"));
    }
}
