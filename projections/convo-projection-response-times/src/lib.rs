//! The response-time read model: per conversation, how long the contact waited for an answer,
//! from the first event of the log (docs/PROJECTIONS.md walks through it as the worked example).
//!
//! Two waits run side by side, in plain wall-clock seconds (no business hours):
//! - *for anyone*: starts at an inbound message when none is pending; an agent's or a bot's
//!   message ends it;
//! - *for a human*: starts the same way, but only a human agent's message ends it, so a bot
//!   answering first does not hide how long the humans took.
//!
//! A *response* is an outbound message that ends a wait it is counted against: a bot's message
//! that ends the wait for anyone, or an agent's message that ends the wait for a human. It is
//! timed from the earliest `sent_at` of the inbound messages it answers (the wait's start) to
//! the message's `occurred_at` (when the engine accepted it), negative times (a connector
//! backfilling late `sent_at`s) counted as 0, in whole seconds rounded down. Outbound messages
//! that end no wait (follow-ups) are not responses. Every kind of content counts, templates
//! included; a message deleted later still counted when it was sent. The first response is the
//! first that ended the wait for anyone; the first agent response is the first agent response.
//! Activity-only groups have no messages: their summary stays empty.

use chrono::{DateTime, Utc};
use convo_domain::conversation::ConversationChange as C;
use convo_domain::{ActorKind, ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseKey {
    /// The conversation's summary.
    Summary(Uuid),
    /// One response: (conversation, the response message's seq).
    Response(Uuid, u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "row", rename_all = "snake_case")]
pub enum ResponseRow {
    Summary(Box<ResponseSummary>),
    Response(ResponseTime),
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Responder {
    /// A human agent.
    Agent,
    Bot,
}

/// One response: an outbound message that ended a wait.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseTime {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    /// The response message.
    pub message_id: Uuid,
    pub seq: u64,
    pub responder: Responder,
    /// The agent's or the bot's id.
    pub responder_id: String,
    /// When the wait started: the earliest `sent_at` of the inbound messages it answers.
    pub inbound_at: DateTime<Utc>,
    /// When the engine accepted the response.
    pub responded_at: DateTime<Utc>,
    /// `responded_at - inbound_at` in whole seconds, 0 if negative.
    pub seconds: u64,
}

/// Responses of one kind: their number and their seconds added up (the mean is the quotient).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseStats {
    pub count: u64,
    pub total_seconds: u64,
}

/// A conversation's response times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResponseSummary {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    /// The earliest `sent_at` of the conversation's inbound messages.
    pub first_inbound_at: Option<DateTime<Utc>>,
    /// The first response of any kind.
    pub first_response: Option<ResponseTime>,
    /// The first response by a human agent, even after a bot's.
    pub first_agent_response: Option<ResponseTime>,
    /// Human agents' responses, each timed from the earliest inbound message no agent had answered.
    pub agent: ResponseStats,
    /// Bots' responses, each timed from the earliest inbound message nobody had answered.
    pub bot: ResponseStats,
    /// The earliest `sent_at` of the inbound messages nobody has answered yet, if any.
    pub waiting_since: Option<DateTime<Utc>>,
    /// The earliest `sent_at` of the inbound messages no human agent has answered yet, if any.
    pub waiting_for_agent_since: Option<DateTime<Utc>>,
}

impl ResponseSummary {
    /// A conversation that has no messages yet.
    pub fn new(conversation_id: Uuid, workspace_id: Uuid, inbox_id: Uuid) -> Self {
        Self {
            conversation_id,
            workspace_id,
            inbox_id,
            first_inbound_at: None,
            first_response: None,
            first_agent_response: None,
            agent: ResponseStats::default(),
            bot: ResponseStats::default(),
            waiting_since: None,
            waiting_for_agent_since: None,
        }
    }
}

impl ResponseRow {
    pub fn key(&self) -> ResponseKey {
        match self {
            Self::Summary(s) => ResponseKey::Summary(s.conversation_id),
            Self::Response(r) => ResponseKey::Response(r.conversation_id, r.seq),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct ResponseTimesProjection;

/// The earlier of a wait's start and `at`: the wait counts from the earliest pending message.
fn earliest(since: Option<DateTime<Utc>>, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(since.map_or(at, |s| s.min(at)))
}

impl Projection for ResponseTimesProjection {
    const NAME: &'static str = "response_times";
    type Event = (Uuid, ConversationEvent);
    type Key = ResponseKey;
    type Row = ResponseRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        // Skip the other events before decoding their payload.
        if !matches!(event.event_type.as_str(), "ConversationStarted" | "InboundMessageReceived" | "MessageSent") {
            return Ok(None);
        }
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?.clone();
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("conversation id: {e}"))?;
        Ok(Some((id, decoded)))
    }

    fn keys(&self, _: &LogEvent, (id, event): &Self::Event, into: &mut Vec<ResponseKey>) {
        into.push(ResponseKey::Summary(*id));
        if let C::MessageSent { seq, .. } = event.change {
            into.push(ResponseKey::Response(*id, seq));
        }
    }

    fn born_with(&self, key: &ResponseKey) -> Option<Stream> {
        match key {
            ResponseKey::Summary(c) | ResponseKey::Response(c, _) => Stream::conversation(*c),
        }
    }

    fn apply(
        &self,
        _: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<ResponseKey, ResponseRow>,
    ) -> Result<(), String> {
        let key = ResponseKey::Summary(id);
        if let C::Started { workspace_id, inbox_id, .. } = event.change {
            rows.put(key, ResponseRow::Summary(Box::new(ResponseSummary::new(id, workspace_id, inbox_id))));
            return Ok(());
        }
        let Some(ResponseRow::Summary(s)) = rows.get_mut(&key) else {
            return Err(format!("conversation {id} has messages before it started"));
        };
        match event.change {
            C::InboundMessageReceived { sent_at, .. } => {
                s.first_inbound_at = earliest(s.first_inbound_at, sent_at);
                s.waiting_since = earliest(s.waiting_since, sent_at);
                s.waiting_for_agent_since = earliest(s.waiting_for_agent_since, sent_at);
            }
            C::MessageSent { message_id, seq, .. } => {
                // The domain lets only agents and bots send.
                let (responder, since, first) = match event.actor.kind {
                    ActorKind::Bot => {
                        let since = s.waiting_since.take();
                        (Responder::Bot, since, since.is_some())
                    }
                    ActorKind::Agent => {
                        let first = s.waiting_since.take().is_some();
                        (Responder::Agent, s.waiting_for_agent_since.take(), first)
                    }
                    ActorKind::Contact | ActorKind::System => return Ok(()),
                };
                let Some(since) = since else { return Ok(()) }; // a follow-up
                let response = ResponseTime {
                    conversation_id: id,
                    workspace_id: s.workspace_id,
                    inbox_id: s.inbox_id,
                    message_id,
                    seq,
                    responder,
                    responder_id: event.actor.id,
                    inbound_at: since,
                    responded_at: event.occurred_at,
                    seconds: u64::try_from((event.occurred_at - since).num_seconds()).unwrap_or(0),
                };
                // Until the first response both waits started together: it is timed the same either way.
                if first && s.first_response.is_none() {
                    s.first_response = Some(response.clone());
                }
                let stats = match responder {
                    Responder::Agent => {
                        s.first_agent_response.get_or_insert_with(|| response.clone());
                        &mut s.agent
                    }
                    Responder::Bot => &mut s.bot,
                };
                stats.count += 1;
                stats.total_seconds += response.seconds;
                rows.put(ResponseKey::Response(id, seq), ResponseRow::Response(response));
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
