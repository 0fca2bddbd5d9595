//! convo-bus: publishes every event of the global log to a NATS JetStream stream, once each
//! and in log order (so in per-conversation order). Only this crate knows subjects.
//!
//! - Subject: `convo.<workspace>.<aggregate_type>.<aggregate_id>.<event_type>`.
//! - Each message carries `Nats-Msg-Id: <aggregate_type>:<aggregate_id>:<sequence>` (the event's
//!   identity), so JetStream drops a re-publish inside its duplicate window, and
//!   `Convo-Position`, so a publisher that restarts resumes after the last event the stream has
//!   even when its own checkpoint is older (a crash between publish and checkpoint) and the
//!   duplicate window has passed.
//! - The payload is the log event as JSON: position, workspace, aggregate, sequence, type,
//!   version, the event, metadata and recorded_at.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, stream};
use convo_store::{
    Backend, Checkpoint, EventLog, FollowError, Follower, Handled, LogEvent, ProjectionStatus, SqlStore, Start,
    StoreError,
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

    /// The position of the last event the stream holds (0 when empty).
    pub async fn last_published(&self) -> Result<i64, BusError> {
        let stream = self.context.get_stream(&self.stream).await.map_err(nats)?;
        let last = stream.get_info().await.map_err(nats)?.state.last_sequence;
        if last == 0 {
            return Ok(0);
        }
        let message = stream.get_raw_message(last).await.map_err(nats)?;
        Ok(message.headers.get(POSITION_HEADER).and_then(|v| v.as_str().parse().ok()).unwrap_or(0))
    }

    /// Publishes `events` in order and waits until JetStream has stored every one.
    pub async fn publish(&self, events: &[Arc<LogEvent>]) -> Result<(), BusError> {
        let mut acks = Vec::with_capacity(events.len());
        for event in events {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", message_id(event).as_str());
            headers.insert(POSITION_HEADER, event.position.to_string().as_str());
            let payload = serde_json::to_vec(event.as_ref()).map_err(nats)?;
            let ack = self
                .context
                .publish_with_headers(subject(&self.prefix, event), headers, payload.into())
                .await
                .map_err(nats)?;
            acks.push(ack);
        }
        for ack in acks {
            ack.await.map_err(nats)?;
        }
        Ok(())
    }
}

/// Publishes the log to `bus` for ever, as a follower of the log (`convo_store::follow`):
/// started again after it stops (NATS away, a store error) on the followers' backoff, with
/// `status` saying whether it works (for `/readyz`).
pub async fn publish<B: Backend>(
    bus: JetStreamBus,
    log: EventLog<B>,
    backend: &B,
    batch: usize,
    status: Arc<ProjectionStatus>,
) {
    let checkpoint = Checkpoint::new(backend.sql(), format!("bus:{}", bus.stream));
    convo_store::follow(Publisher { bus, checkpoint }, log, status, batch).await;
}

/// The publisher: its checkpoint only bounds what a restart reads again, since the stream says
/// what it holds; so it is stored lazily, and a publisher resumes after the last event the
/// stream has even when its checkpoint is older (a crash between publishing and storing it).
struct Publisher<S> {
    bus: JetStreamBus,
    checkpoint: Checkpoint<S>,
}

impl<S: SqlStore> Follower for Publisher<S> {
    async fn start(&mut self) -> Result<Start, FollowError> {
        let stored = self.checkpoint.read().await?;
        let published = self.bus.last_published().await.map_err(retry)?;
        Ok(Start { stored, handled: stored.max(published) })
    }

    async fn handle(&mut self, events: &[Arc<LogEvent>], _progress: Start) -> Result<Handled, FollowError> {
        self.bus.publish(events).await.map_err(retry)?;
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
        e => FollowError::Retry(e.to_string()),
    }
}
