//! Given/when/then tests of the Conversation aggregate.
//!
//! Every scenario runs with fixed ids and a [`ManualClock`] starting at [`t0`], so the expected
//! events are written out exactly. The message lookup answers from the same history the
//! aggregate is given, as the event store would. The fixtures are here; the tests, one file per
//! topic, beside it.

mod aggregate;
mod assignment;
mod attributes;
mod delivery;
mod edits;
mod group;
mod inbound;
mod notes;
mod read_state;
mod send;
mod status;

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
use crate::attribute::tests::FixedAttributes;
use crate::directory::tests::FixedDirectory;
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

/// The workspace's directory: two active agents, one deactivated, two teams; and another
/// workspace's agent and team.
fn directory() -> Arc<FixedDirectory> {
    let team = |id: &str| Uuid::parse_str(id).unwrap_or_default();
    Arc::new(
        FixedDirectory::default()
            .with_agent(WS, AGENT, true)
            .with_agent(WS, OTHER_AGENT, true)
            .with_agent(WS, DEACTIVATED_AGENT, false)
            .with_agent(OTHER_WS, FOREIGN_AGENT, true)
            .with_team(WS, team(TEAM))
            .with_team(WS, team(OTHER_TEAM))
            .with_team(OTHER_WS, team(FOREIGN_TEAM)),
    )
}

/// The workspace's conversation attributes: a plan (free or gold), seats, a renewal date; a
/// contact attribute, and another workspace's conversation attribute.
fn attributes() -> FixedAttributes {
    use crate::attribute::{AttributeModel as M, AttributeType as T};
    FixedAttributes::default()
        .with(WS, M::Conversation, "plan", T::List, &["free", "gold"])
        .with(WS, M::Conversation, "seats", T::Number, &[])
        .with(WS, M::Conversation, "renewal", T::Date, &[])
        .with(WS, M::Contact, "tier", T::Text, &[])
        .with(OTHER_WS, M::Conversation, "region", T::Text, &[])
}

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
const TEAM: &str = "00000000-0000-0000-0000-0000000030a1";
const OTHER_TEAM: &str = "00000000-0000-0000-0000-0000000030a2";
/// A team of another workspace.
const FOREIGN_TEAM: &str = "00000000-0000-0000-0000-0000000030b1";
/// A deactivated agent of the workspace.
const DEACTIVATED_AGENT: &str = "agent-eve";
/// An active agent of another workspace.
const FOREIGN_AGENT: &str = "agent-zed";

const IN1: Uuid = Uuid::from_u128(0xa001);
const IN2: Uuid = Uuid::from_u128(0xa002);
const OUT1: Uuid = Uuid::from_u128(0xb001);
const OUT2: Uuid = Uuid::from_u128(0xb002);
/// A private note's id.
const NOTE: Uuid = Uuid::from_u128(0xe001);
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
            directory: directory(),
            attributes: Arc::new(attributes()),
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
    sender_contact_id: Option<Uuid>,
    contact_id: Option<Uuid>,
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
            sender_contact_id: None,
            contact_id: None,
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
                contact_id: self.contact_id,
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
                sender_contact_id: self.sender_contact_id,
            },
        }
    }

    fn started(&self) -> C {
        C::Started {
            contact_id: self.contact_id,
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
            sender_contact_id: self.sender_contact_id.filter(|_| self.kind == ConversationKind::Group),
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
        A::AddNote { message_id: NOTE, minted_id: false, body: "call back".into(), mentions: vec![AGENT.into()] },
        A::SetAttributes { attributes: [("plan".to_owned(), serde_json::json!("gold"))].into() },
        A::UnassignAgent,
        A::AssignTeam { team_id: TEAM.into() },
        A::UnassignTeam,
        A::Archive,
        A::Unarchive,
        A::MarkRead { user_id: AGENT.into(), message_id: Some(IN1) },
        A::ChangeStatus { status: ConversationStatus::Closed, snoozed_until: None },
    ]
}

/// The conversation, OUT1 (seq 2), then more messages than the aggregate remembers.
fn long_conversation() -> Vec<ConversationEvent> {
    let more = (0..RECENT_MESSAGES as u64 + 10).map(|i| {
        past(contact(), Inbound::new(Uuid::from_u128(0xc000 + u128::from(i)), t0()).received_after(i + 3, i + 2))
    });
    and(conversation_with_reply(), more)
}

fn agent_assigned(agent_id: &str, previous: Option<&str>) -> C {
    C::AgentAssigned { assignee: Assignee::agent(agent_id), previous: previous.map(Assignee::agent) }
}

fn team_assigned(team_id: &str, previous: Option<&str>) -> C {
    C::TeamAssigned { team_id: team_id.into(), previous: previous.map(Into::into) }
}

/// A marker in a conversation where IN1 is the only inbound message up to it.
fn read_marker(user_id: &str, message_id: Uuid, seq: u64) -> C {
    C::ReadMarkerMoved { user_id: user_id.into(), message_id, seq, inbound_read: 1 }
}
