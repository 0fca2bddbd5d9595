//! The response-time fold, given a conversation's messages in the global log: which outbound
//! messages are responses, from when they are timed, and what the summary says.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use convo_domain::conversation::{ConversationChange as C, ConversationKind};
use convo_domain::{Actor, ChannelType, ConversationEvent, LogEvent, MessageContent};
use convo_projection::prepare;
use serde_json::json;
use uuid::Uuid;

use super::*;

const WORKSPACE: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
const INBOX: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0002);
const CONVERSATION: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_00c1);

/// `seconds` after 2026-01-01T00:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time") + Duration::seconds(seconds)
}

fn text() -> MessageContent {
    MessageContent::Text { body: "hi".into() }
}

/// One conversation's log, started at `t(0)`; messages get seqs 1, 2, … and ids from them.
struct Log {
    events: Vec<LogEvent>,
    seq: u64,
}

impl Log {
    fn started() -> Self {
        let mut log = Self { events: vec![], seq: 0 };
        let started = C::Started {
            conversation_id: CONVERSATION,
            workspace_id: WORKSPACE,
            inbox_id: INBOX,
            channel: ChannelType::Whatsapp,
            kind: ConversationKind::Direct,
            thread_key: "+4915100001".into(),
            display_name: None,
            contact_id: None,
        };
        log.push(t(0), Actor::contact("+4915100001"), started);
        log
    }

    fn push(&mut self, at: DateTime<Utc>, actor: Actor, change: C) -> &mut Self {
        let event = ConversationEvent { occurred_at: at, actor, change };
        self.events.push(LogEvent {
            position: 10 * (self.events.len() as i64 + 1),
            workspace_id: Some(WORKSPACE.to_string()),
            aggregate_type: "conversation".into(),
            aggregate_id: CONVERSATION.to_string(),
            sequence: self.events.len() as i64 + 1,
            event_type: event.change.event_type().into(),
            event_version: "1.0.0".into(),
            payload: serde_json::to_value(&event).expect("an event serializes"),
            metadata: json!({}),
            recorded_at: at,
            decoded: Default::default(),
        });
        self
    }

    /// An inbound message sent at `sent_at`, received at `at`.
    fn inbound_at(&mut self, sent_at: i64, at: i64) -> &mut Self {
        self.seq += 1;
        let change = C::InboundMessageReceived {
            message_id: Uuid::from_u128(u128::from(self.seq)),
            seq: self.seq,
            inbound_count: 0,
            channel_message_id: None,
            sent_at: t(sent_at),
            content: text(),
            sender: None,
            sender_contact_id: None,
            mentions: vec![],
        };
        self.push(t(at), Actor::contact("+4915100001"), change)
    }

    fn inbound(&mut self, at: i64) -> &mut Self {
        self.inbound_at(at, at)
    }

    fn sent(&mut self, at: i64, actor: Actor, content: MessageContent) -> &mut Self {
        self.seq += 1;
        let change = C::MessageSent {
            message_id: Uuid::from_u128(u128::from(self.seq)),
            seq: self.seq,
            inbound_count: 0,
            content,
            mentions: vec![],
        };
        self.push(t(at), actor, change)
    }

    fn agent(&mut self, at: i64) -> &mut Self {
        self.sent(at, Actor::agent("ada"), text())
    }

    fn bot(&mut self, at: i64) -> &mut Self {
        self.sent(at, Actor::bot("faq"), text())
    }

    /// The rows after folding the whole log in batches of `batch` events, rows carried over
    /// between batches as the runner stores and reloads them.
    fn fold(&self, batch: usize) -> HashMap<ResponseKey, ResponseRow> {
        let mut stored = HashMap::new();
        for events in self.events.chunks(batch) {
            let prepared = prepare(&ResponseTimesProjection, events).expect("decodes");
            let loaded = prepared.keys.iter().filter_map(|k| Some((k.clone(), stored.get(k).cloned()?))).collect();
            for (key, row) in prepared.apply(&ResponseTimesProjection, loaded).expect("folds") {
                match row {
                    Some(row) => stored.insert(key, row),
                    None => stored.remove(&key),
                };
            }
        }
        stored
    }

    /// The summary and the responses (by seq) after the fold, which is the same in one batch
    /// or one event at a time.
    fn then(&self) -> (ResponseSummary, Vec<ResponseTime>) {
        let rows = self.fold(self.events.len());
        assert_eq!(rows, self.fold(1), "the fold depends on the batch size");
        let mut summary = None;
        let mut responses = vec![];
        for row in rows.into_values() {
            match row {
                ResponseRow::Summary(s) => summary = Some(*s),
                ResponseRow::Response(r) => responses.push(r),
            }
        }
        responses.sort_by_key(|r| r.seq);
        (summary.expect("a summary"), responses)
    }
}

/// (seq, responder, inbound_at in seconds, seconds) of each response.
fn timings(responses: &[ResponseTime]) -> Vec<(u64, Responder, i64, u64)> {
    responses.iter().map(|r| (r.seq, r.responder, (r.inbound_at - t(0)).num_seconds(), r.seconds)).collect()
}

#[test]
fn the_first_response_is_timed_from_the_inbound_message() {
    let (summary, responses) = Log::started().inbound(10).agent(70).then();
    assert_eq!(timings(&responses), [(2, Responder::Agent, 10, 60)]);
    let first = summary.first_response.clone().expect("a first response");
    assert_eq!((first.seq, first.responder_id.as_str(), first.responded_at), (2, "ada", t(70)));
    assert_eq!(summary.first_agent_response, Some(first));
    assert_eq!(summary.first_inbound_at, Some(t(10)));
    assert_eq!(summary.agent, ResponseStats { count: 1, total_seconds: 60 });
    assert_eq!(summary.bot, ResponseStats::default());
    assert_eq!((summary.waiting_since, summary.waiting_for_agent_since), (None, None));
}

#[test]
fn several_inbound_messages_then_one_answer_count_from_the_earliest() {
    let (summary, responses) = Log::started().inbound(10).inbound(20).inbound(30).agent(100).then();
    assert_eq!(timings(&responses), [(4, Responder::Agent, 10, 90)]);
    assert_eq!(summary.agent, ResponseStats { count: 1, total_seconds: 90 });
}

#[test]
fn a_pending_inbound_message_waits_and_a_new_conversation_has_nothing() {
    let (summary, responses) = Log::started().then();
    assert!(responses.is_empty());
    assert_eq!((summary.first_inbound_at, summary.first_response.is_none()), (None, true));
    let (summary, _) = Log::started().inbound(10).inbound(20).then();
    assert_eq!((summary.waiting_since, summary.waiting_for_agent_since), (Some(t(10)), Some(t(10))));
    assert_eq!(summary.first_response, None);
}

#[test]
fn a_bot_then_an_agent_each_count_and_the_human_wait_is_not_hidden() {
    // The bot answers in 5 s; the contact writes again; an agent answers 300 s after the first
    // inbound message, which no human had answered.
    let (summary, responses) = Log::started().inbound(0).bot(5).inbound(50).agent(300).then();
    assert_eq!(timings(&responses), [(2, Responder::Bot, 0, 5), (4, Responder::Agent, 0, 300)]);
    assert_eq!(summary.first_response.as_ref().map(|r| (r.responder, r.seconds)), Some((Responder::Bot, 5)));
    assert_eq!(summary.first_agent_response.as_ref().map(|r| (r.seq, r.seconds)), Some((4, 300)));
    assert_eq!(summary.bot, ResponseStats { count: 1, total_seconds: 5 });
    assert_eq!(summary.agent, ResponseStats { count: 1, total_seconds: 300 });

    // A bot right after the agent answers nothing; a new question then goes to the bot first.
    let (summary, responses) = Log::started().inbound(0).agent(30).bot(31).inbound(100).bot(104).then();
    assert_eq!(timings(&responses), [(2, Responder::Agent, 0, 30), (5, Responder::Bot, 100, 4)]);
    assert_eq!(summary.waiting_for_agent_since, Some(t(100)));
    assert_eq!(summary.waiting_since, None);
}

#[test]
fn follow_ups_are_not_responses_and_templates_are() {
    let mut log = Log::started();
    log.agent(1).bot(2).inbound(10).agent(20).agent(25).bot(26).inbound(40);
    log.sent(
        45,
        Actor::agent("bo"),
        MessageContent::Template { name: "t".into(), language: "en".into(), parameters: vec![] },
    );
    let (summary, responses) = log.then();
    assert_eq!(timings(&responses), [(4, Responder::Agent, 10, 10), (8, Responder::Agent, 40, 5)]);
    assert_eq!(responses[1].responder_id, "bo");
    assert_eq!(summary.agent, ResponseStats { count: 2, total_seconds: 15 });
    assert_eq!(summary.bot, ResponseStats::default());
    assert_eq!(summary.first_inbound_at, Some(t(10)));
}

#[test]
fn an_out_of_order_sent_at_moves_the_start_back_and_a_future_one_clamps_to_zero() {
    // Backfilled: the second message was sent before the first one arrived.
    let (_, responses) = Log::started().inbound_at(50, 50).inbound_at(20, 60).agent(80).then();
    assert_eq!(timings(&responses), [(3, Responder::Agent, 20, 60)]);
    // A `sent_at` after the answer (a skewed clock): 0 s, not negative.
    let (summary, responses) = Log::started().inbound_at(500, 10).bot(20).then();
    assert_eq!(timings(&responses), [(2, Responder::Bot, 500, 0)]);
    assert_eq!(summary.first_inbound_at, Some(t(500)));
}

#[test]
fn messages_before_the_start_are_an_error() {
    let mut log = Log::started();
    log.events.clear();
    log.inbound(1);
    let prepared = prepare(&ResponseTimesProjection, &log.events).expect("decodes");
    assert!(prepared.apply(&ResponseTimesProjection, HashMap::new()).is_err());
}
