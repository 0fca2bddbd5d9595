//! What a command did, read from the events it wrote: whether it created something (its answer
//! is 201 Created rather than 200), which ids its answer names, and when each event happened.
//! The gateway answers a command from this, and rebuilds the answer of one that committed but
//! never answered (an `Idempotency-Key` retry) from the same events in the log, so that it
//! knows neither event names nor payload fields.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::conversation::ConversationChange;
use crate::inbox::InboxChange;
use crate::{ConversationEvent, InboxEvent, LogEvent};

/// An event a command wrote, of either aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Written<'a> {
    Conversation(&'a ConversationEvent),
    Inbox(&'a InboxEvent),
}

impl<'a> Written<'a> {
    /// The domain event of a logged one; `None` when its payload does not decode, or it is of
    /// no aggregate of the domain.
    pub fn of(event: &'a LogEvent) -> Option<Self> {
        match event.conversation_event() {
            Some(decoded) => decoded.ok().map(Self::Conversation),
            None => event.inbox_event().and_then(Result::ok).map(Self::Inbox),
        }
    }

    /// When it happened, by the engine's clock (not when the store recorded it).
    pub fn occurred_at(self) -> DateTime<Utc> {
        match self {
            Self::Conversation(event) => event.occurred_at,
            Self::Inbox(event) => event.occurred_at,
        }
    }

    /// Whether it brought something into being: an inbox, a conversation, a message, a group,
    /// or a join request that now waits for an admin.
    pub fn creates(self) -> bool {
        use ConversationChange as C;
        match self {
            Self::Inbox(event) => matches!(event.change, InboxChange::Created { .. }),
            Self::Conversation(event) => matches!(
                event.change,
                C::Started { .. }
                    | C::InboundMessageReceived { .. }
                    | C::MessageSent { .. }
                    | C::NoteAdded { .. }
                    | C::GroupCreated { .. }
                    | C::GroupJoinRequested { .. }
            ),
        }
    }
}

impl<'a> From<&'a ConversationEvent> for Written<'a> {
    fn from(event: &'a ConversationEvent) -> Self {
        Self::Conversation(event)
    }
}

impl<'a> From<&'a InboxEvent> for Written<'a> {
    fn from(event: &'a InboxEvent) -> Self {
        Self::Inbox(event)
    }
}

/// The name of the command that records an inbound message (`ConversationAction::name`).
const RECEIVE_INBOUND_MESSAGE: &str = "receive_inbound_message";

/// What a command did, as its answer tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// It created something ([`Written::creates`]), or recorded an inbound message: one that an
    /// activity-only group keeps as activity only was received all the same.
    pub created: bool,
    /// The message its events are about (received, sent, reported on, reacted to, edited,
    /// deleted): the first that names one.
    pub message_id: Option<Uuid>,
    /// The join request that now waits for an admin.
    pub request_id: Option<Uuid>,
    /// The group's new invite code.
    pub invite_code: Option<String>,
}

impl Outcome {
    /// What the command named `command` (as `ConversationAction::name` names it, and the log's
    /// metadata keeps it) did by writing `events`, in order; none when it changed nothing.
    pub fn of<'a>(command: &str, events: impl IntoIterator<Item = Written<'a>>) -> Self {
        let mut outcome = Self::default();
        let mut wrote = false;
        for event in events {
            wrote = true;
            outcome.created |= event.creates();
            let Written::Conversation(event) = event else { continue };
            outcome.message_id = outcome.message_id.or(event.change.message_id());
            match &event.change {
                ConversationChange::GroupJoinRequested { request_id, .. } => {
                    outcome.request_id.get_or_insert(*request_id);
                }
                ConversationChange::GroupInviteLinkRotated { invite_code } => {
                    outcome.invite_code.get_or_insert_with(|| invite_code.clone());
                }
                _ => {}
            }
        }
        outcome.created |= wrote && command == RECEIVE_INBOUND_MESSAGE;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{ConversationAction, ConversationKind};
    use crate::{Actor, MessageContent};

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-01-01T00:{minute:02}:00Z").parse().expect("a time")
    }

    fn event(minute: u32, change: ConversationChange) -> ConversationEvent {
        ConversationEvent { occurred_at: at(minute), actor: Actor::contact("+100"), change }
    }

    fn outcome(command: &str, events: &[ConversationEvent]) -> Outcome {
        Outcome::of(command, events.iter().map(Written::from))
    }

    #[test]
    fn a_new_message_is_created_and_named() {
        let id = Uuid::from_u128(7);
        let sent = event(
            1,
            ConversationChange::MessageSent {
                message_id: id,
                seq: 1,
                inbound_count: 0,
                content: MessageContent::Text { body: "hi".into() },
                mentions: vec![],
            },
        );
        assert_eq!(
            outcome("send_message", &[sent]),
            Outcome { created: true, message_id: Some(id), ..Outcome::default() }
        );
    }

    #[test]
    fn a_change_creates_nothing_and_nothing_written_created_nothing() {
        let archived = event(1, ConversationChange::Archived {});
        assert_eq!(outcome("archive", &[archived]), Outcome::default());
        assert_eq!(outcome(RECEIVE_INBOUND_MESSAGE, &[]), Outcome::default());
    }

    #[test]
    fn an_inbound_message_kept_as_activity_only_was_received_and_recorded_activity_was_not() {
        let activity = event(1, ConversationChange::GroupActivityRecorded { at: at(0), messages: 1 });
        assert!(outcome(RECEIVE_INBOUND_MESSAGE, std::slice::from_ref(&activity)).created);
        assert!(!outcome("record_group_activity", &[activity]).created);
    }

    #[test]
    fn a_waiting_join_request_and_a_new_invite_code_are_named() {
        let request_id = Uuid::from_u128(9);
        let asked = event(
            1,
            ConversationChange::GroupJoinRequested { request_id, member_id: "+200".into(), display_name: None },
        );
        let asked = outcome("request_to_join_group", &[asked]);
        assert_eq!((asked.created, asked.request_id), (true, Some(request_id)));
        let rotated = event(1, ConversationChange::GroupInviteLinkRotated { invite_code: "new".into() });
        let rotated = outcome("rotate_group_invite_link", &[rotated]);
        assert_eq!((rotated.created, rotated.invite_code.as_deref()), (false, Some("new")));
    }

    #[test]
    fn a_read_marker_names_no_message() {
        let read = event(
            1,
            ConversationChange::ReadMarkerMoved {
                user_id: "ada".into(),
                message_id: Uuid::from_u128(3),
                seq: 1,
                inbound_read: 1,
            },
        );
        assert_eq!(outcome("mark_read", &[read]).message_id, None);
    }

    #[test]
    fn an_event_happened_when_the_clock_said() {
        let archived = event(5, ConversationChange::Archived {});
        assert_eq!(Written::from(&archived).occurred_at(), at(5));
    }

    #[test]
    fn the_inbound_message_command_is_named_as_its_action_names_itself() {
        let action = ConversationAction::ReceiveInboundMessage {
            contact_id: None,
            inbox_id: Uuid::from_u128(1),
            thread_key: "+100".into(),
            kind: ConversationKind::Direct,
            display_name: None,
            message_id: Uuid::from_u128(2),
            channel_message_id: None,
            sent_at: at(0),
            content: MessageContent::Text { body: "hi".into() },
            sender: None,
            sender_contact_id: None,
            mentions: vec![],
        };
        assert_eq!(action.name(), RECEIVE_INBOUND_MESSAGE);
    }
}
