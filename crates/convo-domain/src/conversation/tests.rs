//! Given/when/then tests of the Conversation aggregate.
//!
//! Every scenario runs with fixed ids and a [`ManualClock`] starting at [`t0`], so the expected
//! events are written out exactly. The message lookup answers from the same history the
//! aggregate is given, as the event store would.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::test::{AggregateTestExecutor, TestFramework};
use cqrs_es::{Aggregate, DomainEvent};
use futures::FutureExt;
use futures::future::BoxFuture;
use uuid::Uuid;

use super::{
    Assignee, Conversation, ConversationAction as A, ConversationChange as C, ConversationCommand, ConversationError,
    ConversationEvent, ConversationKind, ConversationServices, ConversationStatus, DeliveryFailure, InboxLookup,
    MAX_CLOCK_SKEW, MessageLookup, RECENT_MESSAGES, message_facts,
};
use crate::message::InteractiveOption;
use crate::{
    Actor, ChannelType, Clock, DeliveryStatus, Direction, InboxFacts, ManualClock, MessageContent, MessageFacts,
    WindowActor,
};

// ---------------------------------------------------------------------------------------------
// Fixed ids and time
// ---------------------------------------------------------------------------------------------

const WS: Uuid = Uuid::from_u128(0x1000);
const OTHER_WS: Uuid = Uuid::from_u128(0x2000);

const WHATSAPP: Uuid = Uuid::from_u128(0x1001);
const MESSENGER: Uuid = Uuid::from_u128(0x1002);
const SMS: Uuid = Uuid::from_u128(0x1003);
const EMAIL: Uuid = Uuid::from_u128(0x1004);
const RCS: Uuid = Uuid::from_u128(0x1005);
const DELETED_INBOX: Uuid = Uuid::from_u128(0x1006);
const UNKNOWN_INBOX: Uuid = Uuid::from_u128(0x1007);
/// A live WhatsApp inbox of another workspace.
const FOREIGN_INBOX: Uuid = Uuid::from_u128(0x2001);

const THREAD: &str = "+15550100";
const MEMBER: &str = "+15550111";
const AGENT: &str = "agent-ada";
const OTHER_AGENT: &str = "agent-bob";
const BOT: &str = "bot-faq";
const TEAM: &str = "team-billing";
const OTHER_TEAM: &str = "team-sales";

const IN1: Uuid = Uuid::from_u128(0xa001);
const IN2: Uuid = Uuid::from_u128(0xa002);
const OUT1: Uuid = Uuid::from_u128(0xb001);
const OUT2: Uuid = Uuid::from_u128(0xb002);
const UNKNOWN_MESSAGE: Uuid = Uuid::from_u128(0xdead);

/// 2026-01-01T00:00:00Z: where every scenario's clock starts.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid timestamp")
}

fn agent() -> Actor {
    Actor::agent(AGENT)
}
fn bot() -> Actor {
    Actor::bot(BOT)
}
fn contact() -> Actor {
    Actor::contact(THREAD)
}

fn text(body: &str) -> MessageContent {
    MessageContent::Text { body: body.into() }
}
fn template() -> MessageContent {
    MessageContent::Template { name: "order_update".into(), language: "en".into(), parameters: vec!["42".into()] }
}
fn interactive() -> MessageContent {
    MessageContent::Interactive {
        body: "Was this helpful?".into(),
        buttons: vec![
            InteractiveOption { id: "yes".into(), title: "Yes".into() },
            InteractiveOption { id: "no".into(), title: "No".into() },
        ],
        list: vec![],
    }
}

// ---------------------------------------------------------------------------------------------
// In-memory services
// ---------------------------------------------------------------------------------------------

fn inbox_table() -> HashMap<Uuid, InboxFacts> {
    let inbox = |inbox_id: Uuid, workspace_id: Uuid, channel: ChannelType, deleted: bool| {
        (inbox_id, InboxFacts { inbox_id, workspace_id, channel, policy: channel.default_policy(), deleted })
    };
    HashMap::from([
        inbox(WHATSAPP, WS, ChannelType::Whatsapp, false),
        inbox(MESSENGER, WS, ChannelType::Messenger, false),
        inbox(SMS, WS, ChannelType::Sms, false),
        inbox(EMAIL, WS, ChannelType::Email, false),
        inbox(RCS, WS, ChannelType::Rcs, false),
        inbox(DELETED_INBOX, WS, ChannelType::Whatsapp, true),
        inbox(FOREIGN_INBOX, OTHER_WS, ChannelType::Whatsapp, false),
    ])
}

fn channel_of(inbox_id: Uuid) -> ChannelType {
    inbox_table().get(&inbox_id).map_or(ChannelType::Whatsapp, |inbox| inbox.channel)
}

struct InMemoryInboxes(HashMap<Uuid, InboxFacts>);

impl InboxLookup for InMemoryInboxes {
    fn inbox(&self, inbox_id: Uuid) -> BoxFuture<'_, Result<Option<InboxFacts>, String>> {
        futures::future::ready(Ok(self.0.get(&inbox_id).cloned())).boxed()
    }
}

/// The stored events of one conversation; answers like the event store would.
struct InMemoryMessages(Vec<ConversationEvent>);

impl MessageLookup for InMemoryMessages {
    fn message(&self, conversation_id: Uuid, message_id: Uuid) -> BoxFuture<'_, Result<Option<MessageFacts>, String>> {
        Box::pin(async move {
            let ours = self
                .0
                .iter()
                .any(|e| matches!(e.change, C::Started { conversation_id: id, .. } if id == conversation_id));
            Ok(if ours { message_facts(&self.0, message_id) } else { None })
        })
    }
}

/// A store that cannot be reached.
struct Unreachable;

impl InboxLookup for Unreachable {
    fn inbox(&self, _: Uuid) -> BoxFuture<'_, Result<Option<InboxFacts>, String>> {
        futures::future::ready(Err("store unreachable".to_owned())).boxed()
    }
}

impl MessageLookup for Unreachable {
    fn message(&self, _: Uuid, _: Uuid) -> BoxFuture<'_, Result<Option<MessageFacts>, String>> {
        futures::future::ready(Err("store unreachable".to_owned())).boxed()
    }
}

/// One scenario: a clock the test moves, and frameworks built over it.
struct Scenario {
    clock: Arc<ManualClock>,
}

impl Scenario {
    fn new() -> Self {
        Self { clock: Arc::new(ManualClock::new(t0())) }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    fn services(&self, history: &[ConversationEvent]) -> ConversationServices {
        ConversationServices {
            clock: self.clock.clone(),
            inboxes: Arc::new(InMemoryInboxes(inbox_table())),
            messages: Arc::new(InMemoryMessages(history.to_vec())),
        }
    }

    /// The aggregate folded from `events`, with a message lookup over the same events.
    fn given(&self, events: Vec<ConversationEvent>) -> AggregateTestExecutor<Conversation> {
        TestFramework::<Conversation>::with(self.services(&events)).given(events)
    }

    fn given_no_previous_events(&self) -> AggregateTestExecutor<Conversation> {
        TestFramework::<Conversation>::with(self.services(&[])).given_no_previous_events()
    }

    /// Runs a command that must succeed; returns the history followed by its events.
    fn run(&self, history: Vec<ConversationEvent>, command: ConversationCommand) -> Vec<ConversationEvent> {
        let name = command.action.name();
        let new = self
            .given(history.clone())
            .when(command)
            .inspect_result()
            .unwrap_or_else(|e| panic!("{name} should succeed, got {e}"));
        history.into_iter().chain(new).collect()
    }

    /// An event written now by `actor`: what a command is expected to produce.
    fn event(&self, actor: Actor, change: C) -> ConversationEvent {
        ConversationEvent { occurred_at: self.now(), actor, change }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands and past events
// ---------------------------------------------------------------------------------------------

fn command(actor: Actor, action: A) -> ConversationCommand {
    ConversationCommand { workspace_id: WS, actor, action }
}

fn send(actor: Actor, message_id: Uuid, content: MessageContent) -> ConversationCommand {
    command(actor, A::SendMessage { minted_id: false, mentions: vec![], message_id, content })
}

fn report(message_id: Uuid, status: DeliveryStatus, failure: Option<DeliveryFailure>) -> ConversationCommand {
    command(Actor::system("connector"), A::RecordDeliveryStatus { message_id, status, failure, reported_at: t0() })
}

fn recorded(message_id: Uuid, status: DeliveryStatus, failure: Option<DeliveryFailure>) -> C {
    C::DeliveryStatusRecorded { message_id, status, failure, reported_at: t0() }
}

fn failure(code: &str) -> DeliveryFailure {
    DeliveryFailure { code: code.into(), reason: Some("recipient unreachable".into()) }
}

fn change_status(status: ConversationStatus, snoozed_until: Option<DateTime<Utc>>) -> ConversationCommand {
    command(agent(), A::ChangeStatus { status, snoozed_until })
}

fn mark_read(user_id: &str, message_id: Uuid) -> ConversationCommand {
    command(agent(), A::MarkRead { user_id: user_id.into(), message_id: Some(message_id) })
}

fn react(message_id: Uuid, emoji: &str) -> ConversationCommand {
    command(agent(), A::React { message_id, emoji: emoji.into() })
}

/// An inbound message as a connector reports it; struct update syntax varies one field.
#[derive(Clone)]
struct Inbound {
    workspace_id: Uuid,
    inbox_id: Uuid,
    thread_key: String,
    kind: ConversationKind,
    message_id: Uuid,
    sent_at: DateTime<Utc>,
    content: MessageContent,
    sender: Option<String>,
}

impl Inbound {
    fn new(message_id: Uuid, sent_at: DateTime<Utc>) -> Self {
        Self {
            workspace_id: WS,
            inbox_id: WHATSAPP,
            thread_key: THREAD.into(),
            kind: ConversationKind::Direct,
            message_id,
            sent_at,
            content: text("hello"),
            sender: None,
        }
    }

    fn channel_message_id(&self) -> Option<String> {
        Some(format!("wamid.{:x}", self.message_id.as_u128()))
    }

    fn command(self) -> ConversationCommand {
        ConversationCommand {
            workspace_id: self.workspace_id,
            actor: contact(),
            action: A::ReceiveInboundMessage {
                mentions: vec![],
                inbox_id: self.inbox_id,
                channel_message_id: self.channel_message_id(),
                thread_key: self.thread_key,
                kind: self.kind,
                display_name: Some("Ada Lovelace".into()),
                message_id: self.message_id,
                sent_at: self.sent_at,
                content: self.content,
                sender: self.sender,
            },
        }
    }

    fn started(&self) -> C {
        C::Started {
            conversation_id: crate::conversation_id(self.workspace_id, self.inbox_id, &self.thread_key),
            workspace_id: self.workspace_id,
            inbox_id: self.inbox_id,
            channel: channel_of(self.inbox_id),
            kind: self.kind,
            thread_key: self.thread_key.clone(),
            display_name: Some("Ada Lovelace".into()),
        }
    }

    /// The message as the seq-th message of a conversation that, so far, only the contact
    /// wrote in (so it is also the seq-th inbound message).
    fn received(&self, seq: u64) -> C {
        self.received_after(seq, seq)
    }

    fn received_after(&self, seq: u64, inbound_count: u64) -> C {
        C::InboundMessageReceived {
            mentions: vec![],
            message_id: self.message_id,
            seq,
            inbound_count,
            channel_message_id: self.channel_message_id(),
            sent_at: self.sent_at,
            content: self.content.clone(),
            sender: self.sender.clone(),
        }
    }
}

/// A past event (its time does not matter to the decisions).
fn past(actor: Actor, change: C) -> ConversationEvent {
    ConversationEvent { occurred_at: t0(), actor, change }
}

fn started_on(inbox_id: Uuid) -> ConversationEvent {
    past(contact(), Inbound { inbox_id, ..Inbound::new(IN1, t0()) }.started())
}

fn received(message_id: Uuid, seq: u64, sent_at: DateTime<Utc>) -> ConversationEvent {
    past(contact(), Inbound::new(message_id, sent_at).received(seq))
}

/// An outbound message after only inbound ones (`seq - 1` of them).
fn sent(message_id: Uuid, seq: u64) -> ConversationEvent {
    past(
        agent(),
        C::MessageSent { mentions: vec![], message_id, seq, inbound_count: seq - 1, content: text("how can I help?") },
    )
}

/// A conversation on `inbox_id` where the contact wrote IN1 (seq 1) at t0.
fn conversation_on(inbox_id: Uuid) -> Vec<ConversationEvent> {
    vec![started_on(inbox_id), received(IN1, 1, t0())]
}

fn conversation() -> Vec<ConversationEvent> {
    conversation_on(WHATSAPP)
}

/// The conversation, then the agent's OUT1 (seq 2).
fn conversation_with_reply() -> Vec<ConversationEvent> {
    and(conversation(), [sent(OUT1, 2)])
}

fn and(
    mut history: Vec<ConversationEvent>,
    more: impl IntoIterator<Item = ConversationEvent>,
) -> Vec<ConversationEvent> {
    history.extend(more);
    history
}

fn status_changed(from: ConversationStatus, to: ConversationStatus, snoozed_until: Option<DateTime<Utc>>) -> C {
    C::StatusChanged { from, to, snoozed_until }
}

fn validation(field: &str, reason: &str) -> ConversationError {
    ConversationError::validation(field, reason)
}

fn thread_key_length() -> ConversationError {
    validation("thread_key", "must be 1 to 200 characters")
}

fn window_closed(actor: WindowActor, expired_at: DateTime<Utc>) -> ConversationError {
    ConversationError::MessagingWindowClosed { actor, expired_at: Some(expired_at) }
}

fn fold(events: &[ConversationEvent]) -> Conversation {
    let mut state = Conversation::default();
    for event in events {
        state.apply(event.clone());
    }
    state
}

/// Every action other than an inbound message, each one valid for [`conversation_with_reply`].
fn every_other_action() -> Vec<A> {
    vec![
        A::SendMessage { minted_id: false, mentions: vec![], message_id: OUT2, content: text("hi") },
        A::RecordDeliveryStatus { message_id: OUT1, status: DeliveryStatus::Sent, failure: None, reported_at: t0() },
        A::React { message_id: IN1, emoji: "👍".into() },
        A::EditMessage { message_id: OUT1, content: text("edited") },
        A::DeleteMessage { message_id: OUT1 },
        A::AssignAgent { agent_id: AGENT.into() },
        A::UnassignAgent,
        A::AssignTeam { team_id: TEAM.into() },
        A::UnassignTeam,
        A::Archive,
        A::Unarchive,
        A::MarkRead { user_id: AGENT.into(), message_id: Some(IN1) },
        A::ChangeStatus { status: ConversationStatus::Closed, snoozed_until: None },
    ]
}

// ---------------------------------------------------------------------------------------------
// ReceiveInboundMessage
// ---------------------------------------------------------------------------------------------

#[test]
fn an_inbound_message_on_a_new_thread_starts_the_conversation() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN1, t0() - Duration::minutes(1));
    let expected_id = crate::conversation_id(WS, WHATSAPP, THREAD);
    s.given_no_previous_events().when(inbound.clone().command()).then_expect_events(vec![
        s.event(
            contact(),
            C::Started {
                conversation_id: expected_id,
                workspace_id: WS,
                inbox_id: WHATSAPP,
                channel: ChannelType::Whatsapp,
                kind: ConversationKind::Direct,
                thread_key: THREAD.into(),
                display_name: Some("Ada Lovelace".into()),
            },
        ),
        s.event(
            contact(),
            C::InboundMessageReceived {
                mentions: vec![],
                message_id: IN1,
                seq: 1,
                inbound_count: 1,
                channel_message_id: Some("wamid.a001".into()),
                sent_at: t0() - Duration::minutes(1),
                content: text("hello"),
                sender: None,
            },
        ),
    ]);
    assert_eq!(inbound.started(), started_on(WHATSAPP).change);
}

#[test]
fn a_started_conversation_is_open_with_its_first_message_remembered() {
    let state = fold(&conversation());
    assert_eq!(state.conversation_id, Some(crate::conversation_id(WS, WHATSAPP, THREAD)));
    assert_eq!(state.workspace_id, Some(WS));
    assert_eq!(state.inbox_id, Some(WHATSAPP));
    assert_eq!(state.channel, Some(ChannelType::Whatsapp));
    assert_eq!(state.status, Some(ConversationStatus::Open));
    assert_eq!(state.message_count, 1);
    assert_eq!(state.last_inbound_at, Some(t0()));
    assert_eq!(
        state.recent.iter().collect::<Vec<_>>(),
        vec![&MessageFacts {
            message_id: IN1,
            seq: 1,
            direction: Direction::Inbound,
            status: DeliveryStatus::Delivered,
            deleted: false,
            inbound_count: 1,
        }]
    );
}

#[test]
fn a_group_message_starts_a_group_conversation_that_records_its_sender() {
    let s = Scenario::new();
    let inbound = Inbound {
        thread_key: "group-42".into(),
        kind: ConversationKind::Group,
        sender: Some(MEMBER.into()),
        ..Inbound::new(IN1, t0())
    };
    let expected = vec![s.event(contact(), inbound.started()), s.event(contact(), inbound.received(1))];
    s.given_no_previous_events().when(inbound.command()).then_expect_events(expected);
}

#[test]
fn a_second_inbound_message_is_only_appended_with_the_next_seq() {
    let s = Scenario::new();
    s.advance(Duration::hours(1));
    let inbound = Inbound::new(IN2, t0() + Duration::minutes(59));
    let expected = vec![s.event(contact(), inbound.received(2))];
    s.given(conversation()).when(inbound.command()).then_expect_events(expected);

    let inbound = Inbound::new(IN2, t0());
    let expected = vec![s.event(contact(), inbound.received_after(3, 2))];
    s.given(conversation_with_reply()).when(inbound.command()).then_expect_events(expected);
}

#[test]
fn an_inbound_message_reopens_a_closed_pending_or_snoozed_conversation() {
    let s = Scenario::new();
    let wake_up = t0() + Duration::days(1);
    for (status, until) in [
        (ConversationStatus::Closed, None),
        (ConversationStatus::Pending, None),
        (ConversationStatus::Snoozed, Some(wake_up)),
    ] {
        let given = and(conversation(), [past(agent(), status_changed(ConversationStatus::Open, status, until))]);
        let inbound = Inbound::new(IN2, t0());
        s.given(given).when(inbound.clone().command()).then_expect_events(vec![
            s.event(contact(), inbound.received(2)),
            s.event(contact(), status_changed(status, ConversationStatus::Open, None)),
        ]);
    }
}

#[test]
fn a_reopened_snoozed_conversation_forgets_its_wake_up_time() {
    let s = Scenario::new();
    let given = and(
        conversation(),
        [past(
            agent(),
            status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(t0() + Duration::days(1))),
        )],
    );
    let history = s.run(given, Inbound::new(IN2, t0()).command());
    let state = fold(&history);
    assert_eq!(state.status, Some(ConversationStatus::Open));
    assert_eq!(state.snoozed_until, None);
}

#[test]
fn an_inbound_message_unarchives_an_archived_conversation() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN2, t0());
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(inbound.clone().command())
        .then_expect_events(vec![s.event(contact(), inbound.received(2)), s.event(contact(), C::Unarchived {})]);
}

#[test]
fn an_inbound_message_on_a_closed_archived_conversation_reopens_then_unarchives_it() {
    let s = Scenario::new();
    let given = and(
        conversation(),
        [
            past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Closed, None)),
            past(agent(), C::Archived {}),
        ],
    );
    let inbound = Inbound::new(IN2, t0());
    s.given(given).when(inbound.clone().command()).then_expect_events(vec![
        s.event(contact(), inbound.received(2)),
        s.event(contact(), status_changed(ConversationStatus::Closed, ConversationStatus::Open, None)),
        s.event(contact(), C::Unarchived {}),
    ]);
}

#[test]
fn an_inbound_message_on_an_inbox_the_workspace_does_not_have_is_not_found() {
    let s = Scenario::new();
    // Another workspace's inbox is answered exactly as one that does not exist.
    for inbox_id in [UNKNOWN_INBOX, FOREIGN_INBOX] {
        s.given_no_previous_events()
            .when(Inbound { inbox_id, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(ConversationError::InboxNotFound(inbox_id));
    }
}

#[test]
fn an_inbound_message_on_a_deleted_inbox_of_the_workspace_needs_an_inbox() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound { inbox_id: DELETED_INBOX, ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn an_inbound_message_on_an_inbox_deleted_since_the_conversation_started_needs_an_inbox() {
    let s = Scenario::new();
    s.given(conversation_on(DELETED_INBOX))
        .when(Inbound { inbox_id: DELETED_INBOX, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn an_inbound_message_needs_a_thread_key() {
    let s = Scenario::new();
    for thread_key in [String::new(), "   ".to_owned(), "x".repeat(201)] {
        s.given_no_previous_events()
            .when(Inbound { thread_key, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(thread_key_length());
    }
}

#[test]
fn an_inbound_message_needs_valid_content() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound { content: text("  "), ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(validation("content.body", "must not be empty"));
    s.given_no_previous_events()
        .when(Inbound { content: text(&"x".repeat(4097)), ..Inbound::new(IN1, t0()) }.command())
        .then_expect_error(validation("content.body", "must be at most 4096 characters"));
    s.given(conversation())
        .when(
            Inbound {
                content: MessageContent::Media { url: String::new(), mime_type: "image/png".into(), caption: None },
                ..Inbound::new(IN2, t0())
            }
            .command(),
        )
        .then_expect_error(validation("content.url", "must not be empty"));
}

#[test]
fn an_inbound_message_sent_more_than_five_minutes_in_the_future_is_rejected() {
    let s = Scenario::new();
    s.given_no_previous_events()
        .when(Inbound::new(IN1, t0() + MAX_CLOCK_SKEW + Duration::seconds(1)).command())
        .then_expect_error(validation("sent_at", "must not be in the future"));
}

#[test]
fn an_inbound_message_up_to_five_minutes_ahead_is_accepted_as_clock_skew() {
    let s = Scenario::new();
    let inbound = Inbound::new(IN1, t0() + MAX_CLOCK_SKEW);
    let expected = vec![s.event(contact(), inbound.started()), s.event(contact(), inbound.received(1))];
    s.given_no_previous_events().when(inbound.command()).then_expect_events(expected);
}

#[test]
fn a_group_message_without_its_sender_is_rejected() {
    let s = Scenario::new();
    for sender in [None, Some("  ".to_owned())] {
        s.given_no_previous_events()
            .when(Inbound { kind: ConversationKind::Group, sender, ..Inbound::new(IN1, t0()) }.command())
            .then_expect_error(validation("sender", "a group message needs its sender member"));
    }
}

#[test]
fn an_inbound_message_reusing_a_recent_outbound_message_id_is_a_duplicate() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(Inbound::new(OUT1, t0()).command())
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
}

#[test]
fn the_same_inbound_message_received_again_is_received_once() {
    let s = Scenario::new();
    // A connector's retry: the same message id (derived from the channel's message id).
    s.given(conversation_with_reply()).when(Inbound::new(IN1, t0()).command()).then_expect_events(vec![]);
    // Also when the message is older than the aggregate remembers (answered by the lookup).
    s.given(long_conversation()).when(Inbound::new(IN1, t0()).command()).then_expect_events(vec![]);
}

#[test]
fn an_inbound_message_for_an_existing_conversation_of_another_workspace_is_not_found() {
    let s = Scenario::new();
    // The other workspace's own live inbox passes the inbox check; the conversation is not theirs.
    s.given(conversation())
        .when(Inbound { workspace_id: OTHER_WS, inbox_id: FOREIGN_INBOX, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
    // Naming this workspace's inbox from another workspace leaks nothing either.
    s.given(conversation())
        .when(Inbound { workspace_id: OTHER_WS, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn an_inbound_message_from_another_inbox_of_the_workspace_is_not_found() {
    let s = Scenario::new();
    s.given(conversation())
        .when(Inbound { inbox_id: SMS, ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn an_unreachable_store_is_a_lookup_failure_that_writes_nothing() {
    let s = Scenario::new();
    let services = || ConversationServices {
        clock: s.clock.clone(),
        inboxes: Arc::new(Unreachable),
        messages: Arc::new(Unreachable),
    };
    let lookup_failed = || ConversationError::Lookup("store unreachable".into());
    TestFramework::<Conversation>::with(services())
        .given_no_previous_events()
        .when(Inbound::new(IN1, t0()).command())
        .then_expect_error(lookup_failed());
    TestFramework::<Conversation>::with(services())
        .given(conversation())
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(lookup_failed());
    // A message the aggregate does not remember is looked up.
    TestFramework::<Conversation>::with(services())
        .given(conversation())
        .when(mark_read(AGENT, UNKNOWN_MESSAGE))
        .then_expect_error(lookup_failed());
}

// ---------------------------------------------------------------------------------------------
// SendMessage and the messaging window
// ---------------------------------------------------------------------------------------------

#[test]
fn an_agent_or_a_bot_can_send_text_inside_the_whatsapp_window() {
    let s = Scenario::new();
    s.advance(Duration::hours(24) - Duration::seconds(1));
    for actor in [agent(), bot()] {
        s.given(conversation()).when(send(actor.clone(), OUT1, text("hi"))).then_expect_events(vec![s.event(
            actor,
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
        )]);
    }
}

#[test]
fn interactive_and_media_messages_can_be_sent_inside_the_whatsapp_window() {
    let s = Scenario::new();
    let media =
        MessageContent::Media { url: "https://cdn.example/a.png".into(), mime_type: "image/png".into(), caption: None };
    for content in [interactive(), media] {
        s.given(conversation()).when(send(agent(), OUT1, content.clone())).then_expect_events(vec![
            s.event(agent(), C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content }),
        ]);
    }
}

#[test]
fn an_agent_text_24_hours_after_the_contact_wrote_is_refused_with_the_window_expiry() {
    let s = Scenario::new();
    s.advance(Duration::hours(24));
    s.given(conversation())
        .when(send(agent(), OUT1, text("still there?")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
    s.given(conversation())
        .when(send(bot(), OUT1, text("still there?")))
        .then_expect_error(window_closed(WindowActor::Bot, t0() + Duration::hours(24)));
}

#[test]
fn the_window_counts_from_when_the_contact_sent_not_from_when_it_arrived() {
    let s = Scenario::new();
    let history = s.run(vec![], Inbound::new(IN1, t0() - Duration::hours(23)).command());
    assert_eq!(history[1].occurred_at, t0());

    s.given(history.clone()).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    )]);

    s.advance(Duration::hours(1));
    s.given(history)
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(1)));
}

#[test]
fn a_new_inbound_message_reopens_the_window() {
    let s = Scenario::new();
    s.advance(Duration::hours(30));
    let history = s.run(conversation(), Inbound::new(IN2, s.now()).command());
    s.given(history).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 3, inbound_count: 2, content: text("hi") },
    )]);
}

#[test]
fn a_late_inbound_message_does_not_move_the_window_back() {
    let s = Scenario::new();
    s.advance(Duration::hours(1));
    // Delivered an hour after the first one, but written 30 hours earlier.
    let history = s.run(conversation(), Inbound::new(IN2, t0() - Duration::hours(30)).command());
    assert_eq!(fold(&history).last_inbound_at, Some(t0()));
    s.advance(Duration::hours(23));
    s.given(history)
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
}

#[test]
fn a_whatsapp_template_can_be_sent_outside_the_window_but_does_not_reopen_it() {
    let s = Scenario::new();
    s.advance(Duration::days(3));
    s.given(conversation()).when(send(bot(), OUT1, template())).then_expect_events(vec![s.event(
        bot(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
    )]);

    let history = s.run(conversation(), send(agent(), OUT1, template()));
    s.given(history)
        .when(send(agent(), OUT2, text("following up")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::hours(24)));
}

#[test]
fn a_template_on_sms_is_an_unsupported_channel() {
    let s = Scenario::new();
    s.given(conversation_on(SMS))
        .when(send(agent(), OUT1, template()))
        .then_expect_error(ConversationError::UnsupportedChannel { channel: ChannelType::Sms, content: "template" });
}

#[test]
fn a_template_on_messenger_is_an_unsupported_channel_even_inside_the_window() {
    let s = Scenario::new();
    s.given(conversation_on(MESSENGER)).when(send(agent(), OUT1, template())).then_expect_error(
        ConversationError::UnsupportedChannel { channel: ChannelType::Messenger, content: "template" },
    );
}

#[test]
fn a_template_on_rcs_is_an_ordinary_message() {
    let s = Scenario::new();
    s.advance(Duration::days(30));
    s.given(conversation_on(RCS)).when(send(bot(), OUT1, template())).then_expect_events(vec![s.event(
        bot(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
    )]);
}

#[test]
fn an_interactive_message_on_sms_or_email_is_an_unsupported_channel() {
    let s = Scenario::new();
    for (inbox_id, channel) in [(SMS, ChannelType::Sms), (EMAIL, ChannelType::Email)] {
        s.given(conversation_on(inbox_id))
            .when(send(agent(), OUT1, interactive()))
            .then_expect_error(ConversationError::UnsupportedChannel { channel, content: "interactive" });
    }
}

#[test]
fn on_messenger_a_bot_is_refused_after_25_hours_but_an_agent_is_accepted_after_6_days() {
    let s = Scenario::new();
    s.advance(Duration::hours(25));
    s.given(conversation_on(MESSENGER))
        .when(send(bot(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Bot, t0() + Duration::hours(24)));

    s.advance(Duration::days(6) - Duration::hours(25));
    s.given(conversation_on(MESSENGER)).when(send(agent(), OUT1, text("hi"))).then_expect_events(vec![s.event(
        agent(),
        C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    )]);

    s.advance(Duration::days(1));
    s.given(conversation_on(MESSENGER))
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(window_closed(WindowActor::Agent, t0() + Duration::days(7)));
}

#[test]
fn an_sms_conversation_is_always_open() {
    let s = Scenario::new();
    s.advance(Duration::days(365));
    for actor in [agent(), bot()] {
        s.given(conversation_on(SMS)).when(send(actor.clone(), OUT1, text("hi"))).then_expect_events(vec![s.event(
            actor,
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
        )]);
    }
}

#[test]
fn sending_on_a_deleted_inbox_needs_an_inbox() {
    let s = Scenario::new();
    s.given(conversation_on(DELETED_INBOX))
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(ConversationError::InboxRequired);
}

#[test]
fn only_an_agent_or_a_bot_sends_messages() {
    let s = Scenario::new();
    for actor in [contact(), Actor::system("scheduler")] {
        s.given(conversation())
            .when(send(actor, OUT1, text("hi")))
            .then_expect_error(validation("actor.kind", "only an agent or a bot sends messages"));
    }
}

#[test]
fn sending_on_an_unknown_conversation_is_not_found() {
    let s = Scenario::new();
    s.given_no_previous_events().when(send(agent(), OUT1, text("hi"))).then_expect_error(ConversationError::NotFound);
}

#[test]
fn sending_invalid_content_is_rejected() {
    let s = Scenario::new();
    let cases = [
        (text(""), validation("content.body", "must not be empty")),
        (
            MessageContent::Template { name: "  ".into(), language: "en".into(), parameters: vec![] },
            validation("content.name", "must not be empty"),
        ),
        (
            MessageContent::Interactive { body: "pick one".into(), buttons: vec![], list: vec![] },
            validation("content.buttons", "an interactive message needs buttons or a list"),
        ),
    ];
    for (content, error) in cases {
        s.given(conversation()).when(send(agent(), OUT1, content)).then_expect_error(error);
    }
}

#[test]
fn sending_with_a_message_id_already_used_is_a_duplicate() {
    let s = Scenario::new();
    for id in [IN1, OUT1] {
        s.given(conversation_with_reply())
            .when(send(agent(), id, text("hi")))
            .then_expect_error(ConversationError::DuplicateMessage(id));
    }
}

// ---------------------------------------------------------------------------------------------
// RecordDeliveryStatus
// ---------------------------------------------------------------------------------------------

#[test]
fn sent_delivered_and_read_reports_are_recorded_in_order() {
    let s = Scenario::new();
    let system = Actor::system("connector");
    let mut history = conversation_with_reply();
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(history.clone())
            .when(report(OUT1, status, None))
            .then_expect_events(vec![s.event(system.clone(), recorded(OUT1, status, None))]);
        history = s.run(history, report(OUT1, status, None));
    }
    assert_eq!(fold(&history).recent.back().map(|m| m.status), Some(DeliveryStatus::Read));
}

#[test]
fn a_report_may_skip_a_status() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Read, None))
        .then_expect_events(vec![s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Read, None))]);
}

#[test]
fn a_late_or_duplicate_delivery_report_writes_nothing() {
    let s = Scenario::new();
    let cases = [
        (DeliveryStatus::Read, DeliveryStatus::Delivered),
        (DeliveryStatus::Read, DeliveryStatus::Sent),
        (DeliveryStatus::Sent, DeliveryStatus::Sent),
        (DeliveryStatus::Delivered, DeliveryStatus::Delivered),
    ];
    for (current, late) in cases {
        let given = and(conversation_with_reply(), [past(Actor::system("connector"), recorded(OUT1, current, None))]);
        s.given(given).when(report(OUT1, late, None)).then_expect_events(vec![]);
    }
}

#[test]
fn a_failure_is_recorded_with_its_code() {
    let s = Scenario::new();
    for given in [
        conversation_with_reply(),
        and(conversation_with_reply(), [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Sent, None))]),
    ] {
        s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![
            s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026")))),
        ]);
    }
}

#[test]
fn a_failed_report_needs_a_failure_code() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Failed, None))
        .then_expect_error(validation("failure", "a failed status needs a failure code"));
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Failed, Some(failure(" "))))
        .then_expect_error(validation("failure.code", "must be 1 to 200 characters"));
}

#[test]
fn a_failure_after_delivery_writes_nothing() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Delivered, None))],
    );
    s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![]);
}

#[test]
fn a_failed_message_stays_failed() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026"))))],
    );
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(given.clone()).when(report(OUT1, status, None)).then_expect_events(vec![]);
    }
    s.given(given).when(report(OUT1, DeliveryStatus::Failed, Some(failure("131026")))).then_expect_events(vec![]);
}

#[test]
fn accepted_is_never_reported() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(OUT1, DeliveryStatus::Accepted, None))
        .then_expect_error(validation("status", "accepted is set by the engine, not reported"));
}

#[test]
fn only_a_failed_status_carries_a_failure() {
    let s = Scenario::new();
    for status in [DeliveryStatus::Sent, DeliveryStatus::Delivered, DeliveryStatus::Read] {
        s.given(conversation_with_reply())
            .when(report(OUT1, status, Some(failure("131026"))))
            .then_expect_error(validation("failure", "only a failed status carries a failure"));
    }
}

#[test]
fn delivery_status_is_reported_for_outbound_messages_only() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(IN1, DeliveryStatus::Read, None))
        .then_expect_error(validation("message_id", "delivery status is reported for outbound messages only"));
}

#[test]
fn a_delivery_report_for_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(report(UNKNOWN_MESSAGE, DeliveryStatus::Sent, None))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

/// The conversation, OUT1 (seq 2), then more messages than the aggregate remembers.
fn long_conversation() -> Vec<ConversationEvent> {
    let more = (0..RECENT_MESSAGES as u64 + 10).map(|i| {
        past(contact(), Inbound::new(Uuid::from_u128(0xc000 + u128::from(i)), t0()).received_after(i + 3, i + 2))
    });
    and(conversation_with_reply(), more)
}

#[test]
fn past_the_remembered_messages_a_clients_id_is_looked_up_and_a_minted_one_is_not() {
    let s = Scenario::new();
    let history = long_conversation();
    let without_the_store = || ConversationServices {
        clock: s.clock.clone(),
        inboxes: Arc::new(InMemoryInboxes(inbox_table())),
        messages: Arc::new(Unreachable),
    };
    // An id the client chose may be an old message's: the store is asked.
    TestFramework::<Conversation>::with(without_the_store())
        .given(history.clone())
        .when(send(agent(), OUT2, text("hi")))
        .then_expect_error(ConversationError::Lookup("store unreachable".into()));
    s.given(history.clone())
        .when(send(agent(), OUT1, text("hi")))
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
    // One the gateway minted for this command cannot be in use: no query, the message is sent.
    let minted =
        command(agent(), A::SendMessage { minted_id: true, mentions: vec![], message_id: OUT2, content: text("hi") });
    let sent = TestFramework::<Conversation>::with(without_the_store()).given(history).when(minted).inspect_result();
    let sent = sent.expect("sent without the store");
    assert!(
        matches!(sent.as_slice(), [e] if matches!(e.change, C::MessageSent { message_id, .. } if message_id == OUT2)),
        "{sent:?}"
    );
}

#[test]
fn a_delivery_report_for_a_message_older_than_the_recent_ones_is_recorded() {
    let s = Scenario::new();
    let history = long_conversation();
    let state = fold(&history);
    assert_eq!(state.recent.len(), RECENT_MESSAGES);
    assert!(state.recent.iter().all(|m| m.message_id != OUT1), "OUT1 is no longer remembered");

    s.given(history.clone())
        .when(report(OUT1, DeliveryStatus::Delivered, None))
        .then_expect_events(vec![s.event(Actor::system("connector"), recorded(OUT1, DeliveryStatus::Delivered, None))]);

    // Its status is folded from the history too: a late report writes nothing.
    let history = s.run(history, report(OUT1, DeliveryStatus::Read, None));
    s.given(history).when(report(OUT1, DeliveryStatus::Delivered, None)).then_expect_events(vec![]);
}

// ---------------------------------------------------------------------------------------------
// React, EditMessage, DeleteMessage
// ---------------------------------------------------------------------------------------------

#[test]
fn reacting_sets_a_trimmed_emoji_on_the_message() {
    let s = Scenario::new();
    for message_id in [IN1, OUT1] {
        s.given(conversation_with_reply())
            .when(react(message_id, " 👍 "))
            .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id, emoji: "👍".into() })]);
    }
    // A family emoji is several code points but well under the limit.
    s.given(conversation_with_reply())
        .when(react(IN1, "👨‍👩‍👧‍👦"))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: IN1, emoji: "👨‍👩‍👧‍👦".into() })]);
}

#[test]
fn an_empty_emoji_removes_the_reaction() {
    let s = Scenario::new();
    for emoji in ["", "  "] {
        s.given(conversation_with_reply())
            .when(react(IN1, emoji))
            .then_expect_events(vec![s.event(agent(), C::ReactionRemoved { message_id: IN1 })]);
    }
}

#[test]
fn an_emoji_longer_than_16_characters_is_rejected() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(react(IN1, &"👍".repeat(17)))
        .then_expect_error(validation("emoji", "must be at most 16 characters"));
    s.given(conversation_with_reply())
        .when(react(IN1, &format!(" {} ", "👍".repeat(15))))
        .then_expect_error(validation("emoji", "must be at most 16 characters"));
    s.given(conversation_with_reply())
        .when(react(IN1, &"👍".repeat(16)))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: IN1, emoji: "👍".repeat(16) })]);
}

#[test]
fn reacting_to_a_deleted_message_is_refused() {
    let s = Scenario::new();
    s.given(and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]))
        .when(react(OUT1, "👍"))
        .then_expect_error(ConversationError::MessageDeleted(OUT1));
}

#[test]
fn reacting_to_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(react(UNKNOWN_MESSAGE, "👍"))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn reacting_to_a_message_older_than_the_recent_ones_is_looked_up() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(react(OUT1, "🎉"))
        .then_expect_events(vec![s.event(agent(), C::ReactionSet { message_id: OUT1, emoji: "🎉".into() })]);
}

#[test]
fn editing_a_message_replaces_its_text() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text("how may I help?") }))
        .then_expect_events(vec![
            s.event(agent(), C::MessageEdited { message_id: OUT1, content: text("how may I help?") }),
        ]);
}

#[test]
fn only_text_can_replace_a_messages_content() {
    let s = Scenario::new();
    for content in [template(), interactive()] {
        s.given(conversation_with_reply())
            .when(command(agent(), A::EditMessage { message_id: OUT1, content }))
            .then_expect_error(validation("content.type", "only text can replace a message's content"));
    }
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text(" ") }))
        .then_expect_error(validation("content.body", "must not be empty"));
}

#[test]
fn editing_a_deleted_or_unknown_message_is_refused() {
    let s = Scenario::new();
    s.given(and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]))
        .when(command(agent(), A::EditMessage { message_id: OUT1, content: text("oops") }))
        .then_expect_error(ConversationError::MessageDeleted(OUT1));
    s.given(conversation_with_reply())
        .when(command(agent(), A::EditMessage { message_id: UNKNOWN_MESSAGE, content: text("oops") }))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn deleting_a_message_records_it_once() {
    let s = Scenario::new();
    let delete = || command(agent(), A::DeleteMessage { message_id: OUT1 });
    s.given(conversation_with_reply())
        .when(delete())
        .then_expect_events(vec![s.event(agent(), C::MessageDeleted { message_id: OUT1 })]);

    let history = s.run(conversation_with_reply(), delete());
    assert!(fold(&history).recent.iter().any(|m| m.message_id == OUT1 && m.deleted));
    s.given(history).when(delete()).then_expect_events(vec![]);
}

#[test]
fn deleting_an_old_message_already_deleted_writes_nothing() {
    let s = Scenario::new();
    let history = and(conversation_with_reply(), [past(agent(), C::MessageDeleted { message_id: OUT1 })]);
    let history = and(history, long_conversation().into_iter().skip(3));
    assert!(fold(&history).recent.iter().all(|m| m.message_id != OUT1));
    s.given(history).when(command(agent(), A::DeleteMessage { message_id: OUT1 })).then_expect_events(vec![]);
}

#[test]
fn deleting_an_unknown_message_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(command(agent(), A::DeleteMessage { message_id: UNKNOWN_MESSAGE }))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

// ---------------------------------------------------------------------------------------------
// Assignment
// ---------------------------------------------------------------------------------------------

fn assign_agent(agent_id: &str) -> ConversationCommand {
    command(agent(), A::AssignAgent { agent_id: agent_id.into() })
}

fn assign_team(team_id: &str) -> ConversationCommand {
    command(agent(), A::AssignTeam { team_id: team_id.into() })
}

fn agent_assigned(agent_id: &str, previous: Option<&str>) -> C {
    C::AgentAssigned { assignee: Assignee::agent(agent_id), previous: previous.map(Assignee::agent) }
}

fn team_assigned(team_id: &str, previous: Option<&str>) -> C {
    C::TeamAssigned { team_id: team_id.into(), previous: previous.map(Into::into) }
}

#[test]
fn assigning_an_agent_records_the_assignee() {
    let s = Scenario::new();
    s.given(conversation())
        .when(assign_agent(AGENT))
        .then_expect_events(vec![s.event(agent(), agent_assigned(AGENT, None))]);
}

#[test]
fn reassigning_an_agent_carries_the_previous_assignee() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), agent_assigned(AGENT, None))]))
        .when(assign_agent(OTHER_AGENT))
        .then_expect_events(vec![s.event(agent(), agent_assigned(OTHER_AGENT, Some(AGENT)))]);
}

#[test]
fn assigning_the_same_agent_again_writes_nothing() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), agent_assigned(AGENT, None))]))
        .when(assign_agent(AGENT))
        .then_expect_events(vec![]);
}

#[test]
fn unassigning_the_agent_names_who_was_assigned() {
    let s = Scenario::new();
    let given = and(conversation(), [past(agent(), agent_assigned(AGENT, None))]);
    s.given(given.clone())
        .when(command(agent(), A::UnassignAgent))
        .then_expect_events(vec![s.event(agent(), C::AgentUnassigned { agent_id: AGENT.into() })]);
    let history = s.run(given, command(agent(), A::UnassignAgent));
    assert_eq!(fold(&history).assignee, None);
}

#[test]
fn unassigning_when_no_agent_is_assigned_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(command(agent(), A::UnassignAgent)).then_expect_events(vec![]);
}

#[test]
fn an_agent_id_must_be_1_to_200_characters() {
    let s = Scenario::new();
    // Counted as sent, surrounding whitespace included, as the OpenAPI document's `maxLength`.
    for agent_id in
        [String::new(), "  ".to_owned(), "\u{3000}".to_owned(), "a".repeat(201), format!(" {}", "a".repeat(200))]
    {
        s.given(conversation())
            .when(assign_agent(&agent_id))
            .then_expect_error(validation("agent_id", "must be 1 to 200 characters"));
    }
}

#[test]
fn assigning_a_team_records_it() {
    let s = Scenario::new();
    s.given(conversation())
        .when(assign_team(TEAM))
        .then_expect_events(vec![s.event(agent(), team_assigned(TEAM, None))]);
}

#[test]
fn reassigning_a_team_carries_the_previous_team() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), team_assigned(TEAM, None))]))
        .when(assign_team(OTHER_TEAM))
        .then_expect_events(vec![s.event(agent(), team_assigned(OTHER_TEAM, Some(TEAM)))]);
}

#[test]
fn assigning_the_same_team_again_writes_nothing() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), team_assigned(TEAM, None))]))
        .when(assign_team(TEAM))
        .then_expect_events(vec![]);
}

#[test]
fn unassigning_the_team_names_which_team_it_was() {
    let s = Scenario::new();
    let given = and(conversation(), [past(agent(), team_assigned(TEAM, None))]);
    s.given(given.clone())
        .when(command(agent(), A::UnassignTeam))
        .then_expect_events(vec![s.event(agent(), C::TeamUnassigned { team_id: TEAM.into() })]);
    let history = s.run(given, command(agent(), A::UnassignTeam));
    assert_eq!(fold(&history).team, None);
}

#[test]
fn unassigning_when_no_team_is_assigned_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(command(agent(), A::UnassignTeam)).then_expect_events(vec![]);
}

#[test]
fn a_team_id_must_be_1_to_200_characters() {
    let s = Scenario::new();
    for team_id in [String::new(), "\t".to_owned(), "t".repeat(201)] {
        s.given(conversation())
            .when(assign_team(&team_id))
            .then_expect_error(validation("team_id", "must be 1 to 200 characters"));
    }
}

#[test]
fn the_agent_and_the_team_are_assigned_independently() {
    let s = Scenario::new();
    let history = s.run(conversation(), assign_agent(AGENT));
    let history = s.run(history, assign_team(TEAM));
    let history = s.run(history, command(agent(), A::UnassignTeam));
    let state = fold(&history);
    assert_eq!(state.assignee.as_deref(), Some(AGENT));
    assert_eq!(state.team, None);
}

// ---------------------------------------------------------------------------------------------
// Archive and Unarchive
// ---------------------------------------------------------------------------------------------

#[test]
fn archiving_a_conversation_records_it_once() {
    let s = Scenario::new();
    s.given(conversation())
        .when(command(agent(), A::Archive))
        .then_expect_events(vec![s.event(agent(), C::Archived {})]);
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(command(agent(), A::Archive))
        .then_expect_events(vec![]);
}

#[test]
fn unarchiving_a_conversation_records_it_once() {
    let s = Scenario::new();
    s.given(and(conversation(), [past(agent(), C::Archived {})]))
        .when(command(agent(), A::Unarchive))
        .then_expect_events(vec![s.event(agent(), C::Unarchived {})]);
    s.given(conversation()).when(command(agent(), A::Unarchive)).then_expect_events(vec![]);
    s.given(and(conversation(), [past(agent(), C::Archived {}), past(agent(), C::Unarchived {})]))
        .when(command(agent(), A::Unarchive))
        .then_expect_events(vec![]);
}

// ---------------------------------------------------------------------------------------------
// MarkRead
// ---------------------------------------------------------------------------------------------

/// A marker in a conversation where IN1 is the only inbound message up to it.
fn read_marker(user_id: &str, message_id: Uuid, seq: u64) -> C {
    C::ReadMarkerMoved { user_id: user_id.into(), message_id, seq, inbound_read: 1 }
}

#[test]
fn marking_a_message_read_moves_the_users_marker_to_its_seq() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(mark_read(AGENT, IN1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, IN1, 1))]);
    s.given(and(conversation_with_reply(), [past(agent(), read_marker(AGENT, IN1, 1))]))
        .when(mark_read(AGENT, OUT1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, OUT1, 2))]);
}

#[test]
fn marking_an_earlier_or_the_same_message_read_writes_nothing() {
    let s = Scenario::new();
    let given = and(conversation_with_reply(), [past(agent(), read_marker(AGENT, OUT1, 2))]);
    s.given(given.clone()).when(mark_read(AGENT, IN1)).then_expect_events(vec![]);
    s.given(given).when(mark_read(AGENT, OUT1)).then_expect_events(vec![]);
}

#[test]
fn read_markers_are_kept_per_user() {
    let s = Scenario::new();
    let given = and(conversation_with_reply(), [past(agent(), read_marker(AGENT, OUT1, 2))]);
    s.given(given.clone())
        .when(mark_read(OTHER_AGENT, IN1))
        .then_expect_events(vec![s.event(agent(), read_marker(OTHER_AGENT, IN1, 1))]);
    let history = s.run(given, mark_read(OTHER_AGENT, IN1));
    let markers = fold(&history).read_markers;
    assert_eq!(markers.get(AGENT), Some(&2));
    assert_eq!(markers.get(OTHER_AGENT), Some(&1));
}

#[test]
fn marking_a_message_older_than_the_recent_ones_read_is_looked_up() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(mark_read(AGENT, OUT1))
        .then_expect_events(vec![s.event(agent(), read_marker(AGENT, OUT1, 2))]);
}

#[test]
fn marking_an_unknown_message_read_is_message_not_found() {
    let s = Scenario::new();
    s.given(conversation_with_reply())
        .when(mark_read(AGENT, UNKNOWN_MESSAGE))
        .then_expect_error(ConversationError::MessageNotFound(UNKNOWN_MESSAGE));
}

#[test]
fn marking_read_needs_a_user() {
    let s = Scenario::new();
    for user_id in ["", "   "] {
        s.given(conversation_with_reply())
            .when(mark_read(user_id, IN1))
            .then_expect_error(validation("user_id", "must be 1 to 200 characters"));
    }
}

// ---------------------------------------------------------------------------------------------
// ChangeStatus
// ---------------------------------------------------------------------------------------------

#[test]
fn an_open_conversation_can_be_set_pending_or_closed() {
    let s = Scenario::new();
    for status in [ConversationStatus::Pending, ConversationStatus::Closed] {
        s.given(conversation())
            .when(change_status(status, None))
            .then_expect_events(vec![s.event(agent(), status_changed(ConversationStatus::Open, status, None))]);
    }
}

#[test]
fn a_conversation_can_be_snoozed_until_a_future_time() {
    let s = Scenario::new();
    let until = t0() + Duration::hours(4);
    s.given(conversation()).when(change_status(ConversationStatus::Snoozed, Some(until))).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(until))),
    ]);
    let history = s.run(conversation(), change_status(ConversationStatus::Snoozed, Some(until)));
    let state = fold(&history);
    assert_eq!(state.status, Some(ConversationStatus::Snoozed));
    assert_eq!(state.snoozed_until, Some(until));
}

#[test]
fn snoozing_again_with_another_time_moves_the_wake_up() {
    let s = Scenario::new();
    let (first, later) = (t0() + Duration::hours(4), t0() + Duration::days(2));
    let given = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(first)))],
    );
    s.given(given.clone()).when(change_status(ConversationStatus::Snoozed, Some(later))).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Snoozed, ConversationStatus::Snoozed, Some(later))),
    ]);
    s.given(given).when(change_status(ConversationStatus::Snoozed, Some(first))).then_expect_events(vec![]);
}

#[test]
fn reopening_a_snoozed_conversation_clears_its_wake_up_time() {
    let s = Scenario::new();
    let until = t0() + Duration::hours(4);
    let given = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(until)))],
    );
    let history = s.run(given, change_status(ConversationStatus::Open, None));
    assert_eq!(
        history.last().map(|e| &e.change),
        Some(&status_changed(ConversationStatus::Snoozed, ConversationStatus::Open, None))
    );
    assert_eq!(fold(&history).snoozed_until, None);
}

#[test]
fn snoozing_needs_a_future_wake_up_time() {
    let s = Scenario::new();
    s.given(conversation())
        .when(change_status(ConversationStatus::Snoozed, None))
        .then_expect_error(validation("snoozed_until", "snoozing needs a time to wake up"));
    for until in [t0(), t0() - Duration::minutes(1)] {
        s.given(conversation())
            .when(change_status(ConversationStatus::Snoozed, Some(until)))
            .then_expect_error(validation("snoozed_until", "must be in the future"));
    }
}

#[test]
fn only_a_snoozed_status_has_a_wake_up_time() {
    let s = Scenario::new();
    for status in [ConversationStatus::Open, ConversationStatus::Pending, ConversationStatus::Closed] {
        s.given(conversation())
            .when(change_status(status, Some(t0() + Duration::hours(1))))
            .then_expect_error(validation("snoozed_until", "only a snoozed status has a wake-up time"));
    }
}

#[test]
fn changing_to_the_current_status_writes_nothing() {
    let s = Scenario::new();
    s.given(conversation()).when(change_status(ConversationStatus::Open, None)).then_expect_events(vec![]);
    let closed = and(
        conversation(),
        [past(agent(), status_changed(ConversationStatus::Open, ConversationStatus::Closed, None))],
    );
    s.given(closed.clone()).when(change_status(ConversationStatus::Closed, None)).then_expect_events(vec![]);
    s.given(closed).when(change_status(ConversationStatus::Open, None)).then_expect_events(vec![
        s.event(agent(), status_changed(ConversationStatus::Closed, ConversationStatus::Open, None)),
    ]);
}

// ---------------------------------------------------------------------------------------------
// Every command: existence and workspace
// ---------------------------------------------------------------------------------------------

#[test]
fn every_command_on_a_conversation_that_never_started_is_not_found() {
    let s = Scenario::new();
    for action in every_other_action() {
        let name = action.name();
        let result = s.given_no_previous_events().when(command(agent(), action)).inspect_result();
        assert_eq!(result, Err(ConversationError::NotFound), "{name}");
    }
}

#[test]
fn every_command_from_another_workspace_is_not_found() {
    let s = Scenario::new();
    let given = and(
        conversation_with_reply(),
        [past(agent(), agent_assigned(AGENT, None)), past(agent(), team_assigned(TEAM, None))],
    );
    for action in every_other_action() {
        let name = action.name();
        let valid = s.given(given.clone()).when(command(agent(), action.clone())).inspect_result();
        assert!(valid.is_ok(), "{name} is valid in its own workspace: {valid:?}");
        let foreign = ConversationCommand { workspace_id: OTHER_WS, actor: agent(), action };
        let result = s.given(given.clone()).when(foreign).inspect_result();
        assert_eq!(result, Err(ConversationError::NotFound), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// State and events
// ---------------------------------------------------------------------------------------------

#[test]
fn the_state_stays_bounded_however_long_the_conversation_runs() {
    let mut state = Conversation::default();
    state.apply(started_on(WHATSAPP));
    for seq in 1..=10_000_u64 {
        let message_id = Uuid::from_u128(0x1_0000_0000 + u128::from(seq));
        let at = t0() + Duration::seconds(i64::try_from(seq).unwrap_or(i64::MAX));
        if seq % 2 == 1 {
            state.apply(past(contact(), Inbound::new(message_id, at).received_after(seq, seq.div_ceil(2))));
        } else {
            state.apply(past(
                agent(),
                C::MessageSent { mentions: vec![], message_id, seq, inbound_count: seq / 2, content: text("ok") },
            ));
            state.apply(past(Actor::system("connector"), recorded(message_id, DeliveryStatus::Delivered, None)));
        }
        if seq % 1000 == 0 {
            for user in [AGENT, OTHER_AGENT, "agent-cy"] {
                state.apply(past(agent(), read_marker(user, message_id, seq)));
            }
        }
    }
    let bytes = serde_json::to_vec(&state).expect("the state serializes");
    assert!(bytes.len() < 64 * 1024, "the state is {} bytes", bytes.len());
    assert_eq!(state.recent.len(), RECENT_MESSAGES);
    assert_eq!(state.message_count, 10_000);
    assert_eq!(state.recent.front().map(|m| m.seq), Some(10_000 - RECENT_MESSAGES as u64 + 1));
    assert_eq!(state.recent.back().map(|m| (m.seq, m.status)), Some((10_000, DeliveryStatus::Delivered)));
    assert_eq!(state.last_inbound_at, Some(t0() + Duration::seconds(9_999)));
    assert_eq!(state.read_markers.len(), 3);
    assert_eq!(state.read_markers.get(AGENT), Some(&10_000));
    let restored: Conversation = serde_json::from_slice(&bytes).expect("the state deserializes");
    assert_eq!(restored, state);
}

#[test]
fn an_event_is_stored_flat_with_its_type_time_and_actor() {
    let event = ConversationEvent {
        occurred_at: t0(),
        actor: agent(),
        change: C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: text("hi") },
    };
    let json = serde_json::to_value(&event).expect("the event serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "type": "MessageSent",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": { "kind": "agent", "id": AGENT },
            "message_id": "00000000-0000-0000-0000-00000000b001",
            "inbound_count": 1,
            "seq": 2,
            "content": { "type": "text", "body": "hi" },
        })
    );
    let back: ConversationEvent = serde_json::from_value(json).expect("the event deserializes");
    assert_eq!(back, event);
    assert_eq!(event.event_type(), "MessageSent");
    assert_eq!(event.event_version(), "1.0.0");
}

#[test]
fn every_event_round_trips_under_its_pinned_type_name() {
    let changes = vec![
        (started_on(WHATSAPP).change, "ConversationStarted"),
        (Inbound { sender: Some(MEMBER.into()), ..Inbound::new(IN1, t0()) }.received(1), "InboundMessageReceived"),
        (
            C::MessageSent { mentions: vec![], message_id: OUT1, seq: 2, inbound_count: 1, content: template() },
            "MessageSent",
        ),
        (recorded(OUT1, DeliveryStatus::Failed, Some(failure("131026"))), "DeliveryStatusRecorded"),
        (C::ReactionSet { message_id: IN1, emoji: "👍".into() }, "ReactionSet"),
        (C::ReactionRemoved { message_id: IN1 }, "ReactionRemoved"),
        (C::MessageEdited { message_id: OUT1, content: text("edited") }, "MessageEdited"),
        (C::MessageDeleted { message_id: OUT1 }, "MessageDeleted"),
        (agent_assigned(OTHER_AGENT, Some(AGENT)), "AgentAssigned"),
        (C::AgentUnassigned { agent_id: AGENT.into() }, "AgentUnassigned"),
        (team_assigned(TEAM, None), "TeamAssigned"),
        (C::TeamUnassigned { team_id: TEAM.into() }, "TeamUnassigned"),
        (C::Archived {}, "ConversationArchived"),
        (C::Unarchived {}, "ConversationUnarchived"),
        (read_marker(AGENT, OUT1, 2), "ReadMarkerMoved"),
        (
            status_changed(ConversationStatus::Open, ConversationStatus::Snoozed, Some(t0() + Duration::hours(1))),
            "StatusChanged",
        ),
    ];
    for (change, name) in changes {
        let event = past(agent(), change);
        let json = serde_json::to_value(&event).expect("the event serializes");
        assert_eq!(json["type"], name);
        assert_eq!(event.event_type(), name);
        let version = if name == "AgentAssigned" { "2.0.0" } else { crate::EVENT_VERSION_1 };
        assert_eq!(event.event_version(), version, "{name}");
        assert_eq!(json["actor"]["kind"], "agent");
        assert!(json["occurred_at"].is_string(), "{name}");
        let back: ConversationEvent = serde_json::from_value(json).expect("the event deserializes");
        assert_eq!(back, event, "{name}");
    }
}

#[test]
fn message_facts_fold_one_messages_status_and_deletion() {
    let system = Actor::system("connector");
    let history = and(
        conversation_with_reply(),
        [
            past(system.clone(), recorded(OUT1, DeliveryStatus::Sent, None)),
            past(agent(), C::ReactionSet { message_id: OUT1, emoji: "👍".into() }),
            past(system, recorded(OUT1, DeliveryStatus::Read, None)),
            past(agent(), C::MessageDeleted { message_id: IN1 }),
        ],
    );
    assert_eq!(
        message_facts(&history, OUT1),
        Some(MessageFacts {
            message_id: OUT1,
            seq: 2,
            direction: Direction::Outbound,
            status: DeliveryStatus::Read,
            deleted: false,
            inbound_count: 1,
        })
    );
    assert_eq!(
        message_facts(&history, IN1),
        Some(MessageFacts {
            message_id: IN1,
            seq: 1,
            direction: Direction::Inbound,
            status: DeliveryStatus::Delivered,
            deleted: true,
            inbound_count: 1,
        })
    );
    assert_eq!(message_facts(&history, UNKNOWN_MESSAGE), None);
    // The aggregate's own memory agrees with the fold.
    let state = fold(&history);
    for facts in &state.recent {
        assert_eq!(message_facts(&history, facts.message_id).as_ref(), Some(facts));
    }
}

#[test]
fn an_inbound_message_for_another_thread_is_not_appended_to_this_conversation() {
    let s = Scenario::new();
    s.given(conversation())
        .when(Inbound { thread_key: "+4400000000".into(), ..Inbound::new(IN2, t0()) }.command())
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn a_group_message_never_lands_on_a_direct_conversation() {
    let s = Scenario::new();
    s.given(conversation())
        .when(
            Inbound { kind: ConversationKind::Group, sender: Some("member-1".into()), ..Inbound::new(IN2, t0()) }
                .command(),
        )
        .then_expect_error(ConversationError::NotFound);
}

#[test]
fn a_message_id_used_before_the_recent_messages_is_still_a_duplicate() {
    let s = Scenario::new();
    s.given(long_conversation())
        .when(send(agent(), OUT1, text("again")))
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
    s.given(long_conversation())
        .when(Inbound::new(OUT1, t0()).command())
        .then_expect_error(ConversationError::DuplicateMessage(OUT1));
}

#[test]
fn a_read_marker_counts_the_inbound_messages_read_up_to_it() {
    let s = Scenario::new();
    // IN1 (inbound 1), OUT1 (after 1 inbound), IN2 (inbound 2).
    let history = s.run(conversation_with_reply(), Inbound::new(IN2, t0()).command());
    let marker = |user: &str, message_id, seq, inbound_read| {
        s.event(agent(), C::ReadMarkerMoved { user_id: user.into(), message_id, seq, inbound_read })
    };
    s.given(history.clone()).when(mark_read(AGENT, IN2)).then_expect_events(vec![marker(AGENT, IN2, 3, 2)]);
    s.given(history.clone()).when(mark_read(AGENT, OUT1)).then_expect_events(vec![marker(AGENT, OUT1, 2, 1)]);
    // Also for a message older than the aggregate remembers (answered by the lookup).
    s.given(long_conversation()).when(mark_read(AGENT, OUT1)).then_expect_events(vec![marker(AGENT, OUT1, 2, 1)]);
}

mod group;
