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

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use convo_store::{
    Backend, Checkpoint, EventLog, Fence, FollowError, Follower, Handled, LEASE_TTL, Lease, LogEvent, ProjectionStatus,
    SqlStore, Start, StoreError,
};

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
        let client = async_nats::connect(url).await.map_err(nats)?;
        let context = jetstream::new(client);
        let config = stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("{prefix}.>")],
            max_age,
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        context.create_or_update_stream(config).await.map_err(nats)?;
        Ok(Self { context, stream: stream.to_owned(), prefix: prefix.to_owned() })
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
