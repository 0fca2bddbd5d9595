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
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use convo_store::{Backend, Backoff, CHECKPOINT_EVERY, Checkpoint, EventLog, LogEvent, ProjectionStatus, StoreError};
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
            let payload = serde_json::to_vec(event).map_err(nats)?;
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

/// Where the publisher sends events: NATS JetStream in production, an in-process channel for
/// the embedded default.
pub trait Bus: Clone + Send + Sync + 'static {
    /// Names the publisher's checkpoint.
    fn name(&self) -> String;

    /// The position of the last event this bus already holds (0: none, or unknown).
    fn last_published(&self) -> impl std::future::Future<Output = Result<i64, BusError>> + Send;

    /// Publishes `events` in order; returns once they are stored (or delivered).
    fn publish(&self, events: &[Arc<LogEvent>]) -> impl std::future::Future<Output = Result<(), BusError>> + Send;
}

impl Bus for JetStreamBus {
    fn name(&self) -> String {
        format!("bus:{}", self.stream)
    }

    async fn last_published(&self) -> Result<i64, BusError> {
        JetStreamBus::last_published(self).await
    }

    async fn publish(&self, events: &[Arc<LogEvent>]) -> Result<(), BusError> {
        JetStreamBus::publish(self, events).await
    }
}

/// The embedded default's bus: a broadcast channel inside the process. Subscribers that fall
/// more than `capacity` events behind miss events and are told so (`Lagged`); writers never wait.
#[derive(Clone)]
pub struct InProcessBus {
    sender: tokio::sync::broadcast::Sender<std::sync::Arc<LogEvent>>,
    last: std::sync::Arc<std::sync::atomic::AtomicI64>,
}

impl InProcessBus {
    pub fn new(capacity: usize) -> Self {
        Self { sender: tokio::sync::broadcast::Sender::new(capacity.max(1)), last: Default::default() }
    }

    /// Events published from now on, in log order.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<std::sync::Arc<LogEvent>> {
        self.sender.subscribe()
    }
}

impl Bus for InProcessBus {
    fn name(&self) -> String {
        "bus:in-process".to_owned()
    }

    async fn last_published(&self) -> Result<i64, BusError> {
        Ok(self.last.load(std::sync::atomic::Ordering::Acquire))
    }

    async fn publish(&self, events: &[Arc<LogEvent>]) -> Result<(), BusError> {
        for event in events {
            // No subscriber is not an error: the event is in the log for whoever comes later.
            let _ = self.sender.send(event.clone());
            self.last.store(event.position, std::sync::atomic::Ordering::Release);
        }
        Ok(())
    }
}

/// Publishes the log for ever from where the stream and the checkpoint say it stopped. Returns
/// only on an error (the caller restarts it).
/// Runs [`run_publisher`] for ever, starting it again after it stops (NATS away, a store
/// error) on the followers' [`Backoff`] schedule, and keeps `status` saying whether it works
/// (for `/readyz`).
pub async fn publish_for_ever<B: Backend, T: Bus>(
    bus: T,
    log: EventLog<B>,
    backend: B,
    batch: usize,
    status: Arc<ProjectionStatus>,
) {
    let mut backoff = Backoff::new();
    loop {
        let published = status.position();
        if let Err(e) = run_publisher(bus.clone(), log.clone(), &backend, batch, &status).await {
            tracing::warn!(error = %e, "event publisher stopped; restarting");
            metrics::counter!("convo_bus_errors_total").increment(1);
            status.fail(e.to_string());
        }
        if status.position() > published {
            backoff.reset(); // it published before it stopped: not a run of failures
        }
        backoff.wait().await;
    }
}

pub async fn run_publisher<B: Backend, T: Bus>(
    bus: T,
    log: EventLog<B>,
    backend: &B,
    batch: usize,
    status: &ProjectionStatus,
) -> Result<(), BusError> {
    let checkpoint = Checkpoint::new(backend.sql(), bus.name());
    let stored = checkpoint.read().await?;
    // Events up to what the stream already holds were published before a crash: skip them.
    let mut position = stored.max(bus.last_published().await?);
    status.advance(position);
    status.recover();
    let (mut committed, mut committed_at) = (stored, Instant::now());
    let mut tail = Box::pin(log.tail(position, batch));
    loop {
        // The checkpoint only bounds what a restart reads again (the stream says what it has):
        // it is stored at most every CHECKPOINT_EVERY, and when the log goes quiet.
        let next = if position > committed {
            match tokio::time::timeout(CHECKPOINT_EVERY, tail.next()).await {
                Ok(next) => next,
                Err(_idle) => {
                    checkpoint.advance(committed, position).await?;
                    (committed, committed_at) = (position, Instant::now());
                    continue;
                }
            }
        } else {
            tail.next().await
        };
        let Some(events) = next else { return Ok(()) };
        let events = events?;
        bus.publish(&events).await?;
        position = events.last().map_or(position, |e| e.position);
        status.advance(position);
        tracing::trace!(position, "published");
        if committed_at.elapsed() >= CHECKPOINT_EVERY {
            checkpoint.advance(committed, position).await?;
            (committed, committed_at) = (position, Instant::now());
        }
    }
}
