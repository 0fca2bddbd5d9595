//! convo-bus: publishes every event of the global log to a NATS JetStream stream, once each
//! and in log order (so in per-conversation order). Only this crate knows subjects.
//!
//! - Subject: `convo.<workspace>.<aggregate_type>.<aggregate_id>.<event_type>`.
//! - Each message carries `Nats-Msg-Id: <aggregate_type>:<aggregate_id>:<sequence>` (the event's
//!   identity), so JetStream drops a re-publish inside its duplicate window, and
//!   `Convo-Position`, so a publisher that restarts resumes after the last event the stream has
//!   even when its own checkpoint is older (a crash between publish and checkpoint) and the
//!   duplicate window has passed.
//! - Each message is appended only right after the stream's message the publisher knows is last
//!   (`Nats-Expected-Last-Sequence`): a publisher paused past the duplicate window while another
//!   took over appends nothing when it wakes up, and starts again from what the stream holds.
//! - The payload is the log event as JSON: position, workspace, aggregate, sequence, type,
//!   version, the event, metadata and recorded_at.
//! - [`JetStreamBus::verify`] compares what the stream holds with the log (`convo bus verify`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use convo_store::{
    Backend, Checkpoint, EventLog, Fence, FollowError, Follower, Handled, LEASE_TTL, Lease, LogEvent, ProjectionStatus,
    SqlStore, Start, StoreError,
};
use futures::StreamExt;

/// What subjects start with; the stream captures `convo.>`.
pub const SUBJECT_PREFIX: &str = "convo";
pub const POSITION_HEADER: &str = "Convo-Position";

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stream's last message is not the one this publisher appended after: another
    /// publisher appended meanwhile (it took over while this one was paused or cut off).
    #[error("another publisher appended to the stream: {0}")]
    Fenced(String),
}

fn nats(e: impl std::fmt::Display) -> BusError {
    BusError::Nats(e.to_string())
}

/// The subject of one event under `prefix`. Tokens are made NATS-safe (no `.`, `*`, `>` or
/// whitespace).
pub fn subject(prefix: &str, event: &LogEvent) -> String {
    fn token(s: &str) -> String {
        s.chars().map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect()
    }
    format!(
        "{prefix}.{}.{}.{}.{}",
        token(event.workspace_id.as_deref().unwrap_or("none")),
        token(&event.aggregate_type),
        token(&event.aggregate_id),
        token(&event.event_type)
    )
}

/// The event's identity: what JetStream deduplicates on.
pub fn message_id(event: &LogEvent) -> String {
    format!("{}:{}:{}", event.aggregate_type, event.aggregate_id, event.sequence)
}

/// A JetStream stream the engine owns: created or updated at start.
#[derive(Clone)]
pub struct JetStreamBus {
    context: jetstream::Context,
    stream: String,
    prefix: String,
}

impl JetStreamBus {
    /// Connects and creates (or updates) the stream capturing `<prefix>.>`, keeping messages for
    /// `max_age` (zero: for ever). The engine's prefix is [`SUBJECT_PREFIX`].
    pub async fn connect(url: &str, stream: &str, prefix: &str, max_age: Duration) -> Result<Self, BusError> {
        let bus = Self::open(url, stream, prefix).await?;
        let config = stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("{prefix}.>")],
            max_age,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        bus.context.create_or_update_stream(config).await.map_err(nats)?;
        Ok(bus)
    }

    /// Connects to the stream as it is, changing nothing (to read it: [`Self::verify`]).
    pub async fn open(url: &str, stream: &str, prefix: &str) -> Result<Self, BusError> {
        let client = async_nats::connect(url).await.map_err(nats)?;
        Ok(Self { context: jetstream::new(client), stream: stream.to_owned(), prefix: prefix.to_owned() })
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    pub fn context(&self) -> &jetstream::Context {
        &self.context
    }

    /// The stream's last message: its sequence and the log position it carries ((0, 0) when
    /// the stream is empty).
    pub async fn last(&self) -> Result<(u64, i64), BusError> {
        let stream = self.context.get_stream(&self.stream).await.map_err(nats)?;
        let last = stream.get_info().await.map_err(nats)?.state.last_sequence;
        if last == 0 {
            return Ok((0, 0));
        }
        let message = stream.get_raw_message(last).await.map_err(nats)?;
        Ok((last, message.headers.get(POSITION_HEADER).and_then(|v| v.as_str().parse().ok()).unwrap_or(0)))
    }

    /// Publishes `events` in order right after the stream's message `after_sequence`, and waits
    /// until JetStream has stored every one; answers the new last sequence. Each message is
    /// appended only if the stream's last message is still the one before it (JetStream's
    /// expected-last-sequence), so a publisher that lost its turn (paused past the duplicate
    /// window while another took over) appends nothing, and the stream keeps every event once,
    /// in log order: [`BusError::Fenced`].
    pub async fn publish(&self, events: &[Arc<LogEvent>], after_sequence: u64) -> Result<u64, BusError> {
        let mut acks = Vec::with_capacity(events.len());
        for (expected, event) in (after_sequence..).zip(events) {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message_id(event).as_str());
            headers.insert(POSITION_HEADER, event.position.to_string().as_str());
            headers.insert(async_nats::header::NATS_EXPECTED_LAST_SEQUENCE, expected.to_string().as_str());
            let payload = serde_json::to_vec(event.as_ref()).map_err(nats)?;
            let ack = self
                .context
                .publish_with_headers(subject(&self.prefix, event), headers, payload.into())
                .await
                .map_err(nats)?;
            acks.push(ack);
        }
        let mut last = after_sequence;
        for ack in acks {
            match ack.await {
                Ok(ack) => last = ack.sequence,
                Err(e) if e.kind() == jetstream::context::PublishErrorKind::WrongLastSequence => {
                    return Err(BusError::Fenced(e.to_string()));
                }
                Err(e) => return Err(nats(e)),
            }
        }
        Ok(last)
    }
}

/// What a stream holds against the log ([`JetStreamBus::verify`]).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StreamCheck {
    /// Messages in the stream.
    pub messages: u64,
    /// Log events compared: all of them, or from the stream's first message's position on
    /// when older messages have aged out (`max_age`).
    pub events: u64,
    /// Log positions up to the stream's last message that it does not hold: lost.
    pub missing: Vec<i64>,
    /// Positions the stream holds more than once.
    pub duplicated: Vec<i64>,
    /// Messages whose position is not after the one before them in the stream.
    pub out_of_order: u64,
    /// Positions in the stream that are not in the log.
    pub unknown: Vec<i64>,
    /// Log events after the stream's last message: not published yet.
    pub behind: u64,
}

impl StreamCheck {
    /// The stream holds every event of the log once, in log order, and nothing else.
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty()
            && self.duplicated.is_empty()
            && self.out_of_order == 0
            && self.unknown.is_empty()
            && self.behind == 0
    }
}

impl std::fmt::Display for StreamCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn first(positions: &[i64]) -> String {
            let shown: Vec<String> = positions.iter().take(10).map(i64::to_string).collect();
            let more = if positions.len() > 10 { ", …" } else { "" };
            if positions.is_empty() { String::new() } else { format!(" ({}{more})", shown.join(", ")) }
        }
        write!(
            f,
            "{} messages for {} log events: {} missing{}, {} duplicated{}, {} out of order, {} not in the log{}, {} not published yet",
            self.messages,
            self.events,
            self.missing.len(),
            first(&self.missing),
            self.duplicated.len(),
            first(&self.duplicated),
            self.out_of_order,
            self.unknown.len(),
            first(&self.unknown),
            self.behind
        )
    }
}

impl JetStreamBus {
    /// Reads the whole stream (headers only, with an ordered consumer) and compares the
    /// positions it holds, in stream order, with the log's.
    pub async fn verify<B: Backend>(&self, log: &EventLog<B>) -> Result<StreamCheck, BusError> {
        let mut stream = self.context.get_stream(&self.stream).await.map_err(nats)?;
        let state = stream.info().await.map_err(nats)?.state.clone();
        let mut positions = Vec::with_capacity(usize::try_from(state.messages).unwrap_or(0));
        if state.messages > 0 {
            let config = consumer::pull::OrderedConfig { headers_only: true, ..Default::default() };
            let mut messages = stream.create_consumer(config).await.map_err(nats)?.messages().await.map_err(nats)?;
            while let Some(message) = messages.next().await {
                let message = message.map_err(nats)?;
                let position = message.headers.as_ref().and_then(|h| h.get(POSITION_HEADER));
                positions.push(position.and_then(|v| v.as_str().parse().ok()).unwrap_or(-1));
                if message.info().map_err(nats)?.stream_sequence >= state.last_sequence {
                    break;
                }
            }
        }
        // Nothing aged out: compare from the log's start; otherwise from what the stream keeps.
        let from = if state.first_sequence <= 1 { 0 } else { positions.iter().copied().min().unwrap_or(0) - 1 };
        let mut logged = Vec::new();
        let mut pages = std::pin::pin!(log.read_to_head(from, 1000));
        while let Some(page) = pages.next().await {
            logged.extend(page?.iter().map(|e| e.position));
        }
        Ok(compare(&positions, &logged))
    }
}

/// The stream's positions (in stream order) against the log's (ascending).
fn compare(stream: &[i64], log: &[i64]) -> StreamCheck {
    let mut check = StreamCheck { messages: stream.len() as u64, events: log.len() as u64, ..StreamCheck::default() };
    check.out_of_order = stream.windows(2).filter(|w| w[1] <= w[0]).count() as u64;
    let mut held = stream.to_vec();
    held.sort_unstable();
    check.duplicated = held.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    check.duplicated.dedup();
    held.dedup();
    let last = held.last().copied().unwrap_or(i64::MIN);
    check.unknown = held.iter().copied().filter(|p| log.binary_search(p).is_err()).collect();
    for &position in log {
        if position > last {
            check.behind += 1;
        } else if held.binary_search(&position).is_err() {
            check.missing.push(position);
        }
    }
    check
}

/// Publishes the log to `bus` for ever, as a follower of the log (`convo_store::follow`):
/// started again after it stops (NATS away, a store error) on the followers' backoff, with
/// `status` saying whether it works (for `/readyz`); only while this process holds the
/// publisher's lease, so that of several processes one publishes.
pub async fn publish<B: Backend>(
    bus: JetStreamBus,
    log: EventLog<B>,
    backend: &B,
    batch: usize,
    status: Arc<ProjectionStatus>,
) {
    let lease = Lease::new(backend.sql(), Publisher::<B::Sql>::name(&bus), LEASE_TTL);
    convo_store::follow(Publisher::new(bus, backend.sql()), log, status, batch, Some(lease)).await;
}

/// The publisher: its checkpoint only bounds what a restart reads again, since the stream says
/// what it holds; so it is stored lazily, and a publisher resumes after the last event the
/// stream has even when its checkpoint is older (a crash between publishing and storing it).
/// It appends only right after the message it knows is last ([`JetStreamBus::publish`]): one
/// that finds another publisher appended meanwhile starts again from what the stream holds.
pub struct Publisher<S> {
    bus: JetStreamBus,
    checkpoint: Checkpoint<S>,
    /// The stream's last sequence as this publisher left it.
    last_sequence: u64,
}

impl<S: SqlStore> Publisher<S> {
    /// A publisher to `bus` whose checkpoint is in `sql`.
    pub fn new(bus: JetStreamBus, sql: S) -> Self {
        let checkpoint = Checkpoint::new(sql, Self::name(&bus));
        Self { bus, checkpoint, last_sequence: 0 }
    }

    /// Its checkpoint's and its lease's name.
    pub fn name(bus: &JetStreamBus) -> String {
        format!("bus:{}", bus.stream)
    }
}

impl<S: SqlStore> Follower for Publisher<S> {
    async fn start(&mut self, fence: Option<Fence>) -> Result<Start, FollowError> {
        self.checkpoint.fence(fence);
        let stored = self.checkpoint.read().await?;
        let (sequence, published) = self.bus.last().await.map_err(retry)?;
        self.last_sequence = sequence;
        Ok(Start { stored, handled: stored.max(published) })
    }

    async fn handle(&mut self, events: &[Arc<LogEvent>], _progress: Start) -> Result<Handled, FollowError> {
        self.last_sequence = self.bus.publish(events, self.last_sequence).await.map_err(retry)?;
        tracing::trace!(position = events.last().map(|e| e.position), "published");
        Ok(Handled::Held)
    }

    async fn store(&mut self, from: i64, to: i64) -> Result<(), FollowError> {
        Ok(self.checkpoint.advance(from, to).await?)
    }
}

fn retry(e: BusError) -> FollowError {
    match e {
        BusError::Store(e) => e.into(),
        BusError::Fenced(_) => FollowError::Moved,
        e => FollowError::Retry(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::compare;

    #[test]
    fn the_comparison_names_what_is_missing_duplicated_out_of_order_or_not_yet_published() {
        assert!(compare(&[1, 2, 4], &[1, 2, 4]).is_exact());
        let check = compare(&[1, 4, 3, 3, 9], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(check.missing, vec![2, 5, 6]);
        assert_eq!(check.duplicated, vec![3]);
        assert_eq!(check.out_of_order, 2);
        assert_eq!(check.unknown, vec![9]);
        assert_eq!(compare(&[1, 2], &[1, 2, 3, 4]).behind, 2);
        assert!(!compare(&[], &[1]).is_exact());
    }
}
