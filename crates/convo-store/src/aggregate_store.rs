//! Command execution for one aggregate type: lock, load (from cache), decide, persist, retry.
//!
//! cqrs-es's `CqrsFramework` returns nothing to the caller and its snapshot modes apply every
//! event twice (docs/decisions/0001-aggregate-cache.md), so this drives `handle` and `persist`
//! itself with the event-store repository and keeps its own versioned cache:
//! - one async lock per aggregate, so commands on one aggregate in this process never race;
//! - a command is decided on the cached state without reading the store first: the append
//!   takes the next sequence, which only succeeds if nobody (no other process) wrote after the
//!   cached version, so a committed decision was made on the latest state;
//! - a conflict (another process won) catches up with `get_last_events(version)` and decides
//!   again, a bounded number of times; a decision that writes nothing (a rejection, a repeat)
//!   proves nothing, so it is made again after a catch-up; a long history is never replayed
//!   twice; any other error evicts the entry, so the next command reloads;
//! - stored events are read with `convo_domain::decode`, which upcasts older versions: the
//!   aggregate only ever applies the current shape.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, DomainEvent, EventEnvelope};
use lru::LruCache;

use crate::{Backend, CommandError, LogNotifier, StoreError};

/// How many times a conflicting command is tried, and how long to wait in between.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 25, base_delay: Duration::from_millis(2), max_delay: Duration::from_millis(250) }
    }
}

impl RetryPolicy {
    /// How long to wait before trying again after the `attempt`th conflict.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1 << attempt.min(16)).min(self.max_delay);
        // Full jitter: concurrent losers spread out instead of colliding again.
        exp.mul_f64(fastrand::f64())
    }
}

/// What a successful command produced.
#[derive(Debug, Clone)]
pub struct Committed<A: Aggregate> {
    pub aggregate_id: String,
    /// The aggregate's version (last sequence) after the command.
    pub version: usize,
    /// The global position of the last event written, or of the aggregate's latest event when
    /// the command changed nothing (an idempotent repeat); `None` for an aggregate with no events.
    pub position: Option<i64>,
    /// The events written, in order; empty when the command changed nothing.
    pub events: Vec<EventEnvelope<A>>,
    pub state: A,
    /// How many times the command was decided (1 unless concurrent writers won first).
    pub attempts: u32,
}

#[derive(Clone)]
pub(crate) struct Cached<A> {
    pub(crate) version: usize,
    pub(crate) state: A,
    /// When the store last proved this the latest: read from it, or written to it.
    pub(crate) checked: Instant,
}

pub(crate) type Slot<A> = Arc<tokio::sync::Mutex<Option<Cached<A>>>>;

pub struct AggregateStore<A: Aggregate, B> {
    pub(crate) backend: B,
    pub(crate) services: A::Services,
    cache: Mutex<LruCache<String, Slot<A>>>,
    retry: RetryPolicy,
    pub(crate) notifier: LogNotifier,
    events_loaded: AtomicU64,
}

impl<A, B> AggregateStore<A, B>
where
    A: Aggregate + Clone,
    A::Command: Clone,
    B: Backend,
{
    pub fn new(backend: B, services: A::Services, capacity: NonZeroUsize, notifier: LogNotifier) -> Self {
        Self {
            backend,
            services,
            cache: Mutex::new(LruCache::new(capacity)),
            retry: RetryPolicy::default(),
            notifier,
            events_loaded: AtomicU64::new(0),
        }
    }

    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How many stored events this store has read to build aggregates, since it started.
    pub fn events_loaded(&self) -> u64 {
        self.events_loaded.load(Ordering::Relaxed)
    }

    pub(crate) fn slot(&self, id: &str) -> Slot<A> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = cache.get(id) {
            return slot.clone();
        }
        let slot: Slot<A> = Arc::default();
        cache.put(id.to_owned(), slot.clone());
        slot
    }

    /// Brings `cached` (or an empty aggregate) up to the latest stored version.
    pub(crate) async fn catch_up(&self, id: &str, cached: Option<Cached<A>>) -> Result<Cached<A>, StoreError> {
        let (mut current, stored) = match cached {
            Some(c) => {
                let events = self.backend.get_last_events::<A>(id, c.version).await?;
                (c, events)
            }
            None => (
                Cached { version: 0, state: A::default(), checked: Instant::now() },
                self.backend.get_events::<A>(id).await?,
            ),
        };
        self.events_loaded.fetch_add(stored.len() as u64, Ordering::Relaxed);
        current.checked = Instant::now();
        for event in stored {
            current.version = event.sequence;
            let decoded = convo_domain::decode::<A>(&event.event_type, &event.event_version, &event.payload)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            current.state.apply(decoded);
        }
        Ok(current)
    }

    /// The current state and version of an aggregate (version 0: no events).
    pub async fn load(&self, id: &str) -> Result<(usize, A), StoreError> {
        self.load_checked(id, None).await
    }

    /// Like [`Self::load`], but answers from the cache when the store proved it the latest at
    /// most `max_age` ago (this process's own commands keep it current; another process's
    /// show after at most `max_age`). For lookups many commands make, such as an inbox's policy
    /// on every send, where one read per command per inbox would serialize them.
    pub async fn load_recent(&self, id: &str, max_age: Duration) -> Result<(usize, A), StoreError> {
        self.load_checked(id, Some(max_age)).await
    }

    /// The cached state if the store proved it current at most `max_age` ago, else caught up.
    async fn load_checked(&self, id: &str, max_age: Option<Duration>) -> Result<(usize, A), StoreError> {
        let slot = self.slot(id);
        let mut guard = slot.lock().await;
        if let Some(cached) = guard.as_ref().filter(|c| max_age.is_some_and(|age| c.checked.elapsed() <= age)) {
            return Ok((cached.version, cached.state.clone()));
        }
        let current = self.catch_up(id, guard.take()).await?;
        let result = (current.version, current.state.clone());
        *guard = Some(current);
        Ok(result)
    }

    /// Handles `command` on aggregate `id` and persists the events it decides, with `metadata`
    /// stored beside each event. A rejection or an error writes nothing.
    pub async fn execute(
        &self,
        id: &str,
        command: A::Command,
        metadata: &HashMap<String, String>,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let started = std::time::Instant::now();
        let result = self.run(id, command, metadata).await;
        let outcome = match &result {
            Ok(_) => "committed",
            Err(CommandError::Rejected(_)) => "rejected",
            Err(_) => "failed",
        };
        let command = metadata.get("command").map_or_else(|| A::TYPE.to_owned(), Clone::clone);
        metrics::histogram!("convo_command_duration_seconds", "command" => command, "outcome" => outcome)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn run(
        &self,
        id: &str,
        command: A::Command,
        metadata: &HashMap<String, String>,
    ) -> Result<Committed<A>, CommandError<A::Error>> {
        let slot = self.slot(id);
        let mut guard = slot.lock().await;
        let mut attempt = 1;
        // Whether the cached state may be decided on without a catch-up (see the module's doc).
        let mut trust_cache = true;
        loop {
            let (current, caught_up) = match guard.take() {
                Some(cached) if trust_cache => (cached, false),
                cached => (self.catch_up(id, cached).await?, true),
            };
            let mut next = current.state.clone();
            let sink = EventSink::default();
            let decided = next.handle(command.clone(), &self.services, &sink).await;
            let events = sink.collect().await;
            if (decided.is_err() || events.is_empty()) && !caught_up {
                // Nothing to append, so nothing proves the cache current: read and decide again.
                *guard = Some(current);
                trust_cache = false;
                continue;
            }
            if let Err(rejection) = decided {
                *guard = Some(current);
                return Err(CommandError::Rejected(rejection));
            }
            if events.is_empty() {
                let position = match current.version {
                    0 => None,
                    v => Some(self.backend.position_of(A::TYPE, id, v).await?),
                };
                let committed = Committed {
                    aggregate_id: id.to_owned(),
                    version: current.version,
                    position,
                    events: vec![],
                    state: next,
                    attempts: attempt,
                };
                *guard = Some(current);
                return Ok(committed);
            }
            let envelopes: Vec<EventEnvelope<A>> = events
                .into_iter()
                .enumerate()
                .map(|(i, payload)| EventEnvelope {
                    aggregate_id: id.to_owned(),
                    sequence: current.version + i + 1,
                    payload,
                    metadata: metadata.clone(),
                })
                .collect();
            let serialized = serialize(&envelopes)?;
            match self.backend.append(&serialized).await {
                Ok(position) => {
                    let version = current.version + envelopes.len();
                    self.notifier.committed(position);
                    *guard = Some(Cached { version, state: next.clone(), checked: Instant::now() });
                    return Ok(Committed {
                        aggregate_id: id.to_owned(),
                        version,
                        position: Some(position),
                        events: envelopes,
                        state: next,
                        attempts: attempt,
                    });
                }
                Err(PersistenceError::OptimisticLockError) if attempt < self.retry.max_attempts => {
                    // Another writer got there first. What we knew up to `current.version` is still
                    // true: keep it, catch up with the winner's events and decide again.
                    tracing::debug!(aggregate = A::TYPE, id, attempt, "conflict, retrying");
                    metrics::counter!("convo_command_conflicts_total", "aggregate" => A::TYPE).increment(1);
                    *guard = Some(current);
                    trust_cache = false;
                    // Decided on the cache, which another process had moved past (commands to
                    // one conversation through two API nodes): catch up and decide again at
                    // once. Decided on what was just read: a writer raced this one, so back off
                    // with jitter first.
                    if caught_up {
                        tokio::time::sleep(self.retry.delay(attempt)).await;
                    }
                    attempt += 1;
                }
                Err(PersistenceError::OptimisticLockError) => {
                    return Err(CommandError::Contended { attempts: attempt });
                }
                Err(other) => {
                    return Err(match StoreError::from(other) {
                        e @ StoreError::Connection(_) => CommandError::Unknown(e),
                        e => CommandError::Store(e),
                    });
                }
            }
        }
    }
}

pub(crate) fn serialize<A: Aggregate>(envelopes: &[EventEnvelope<A>]) -> Result<Vec<SerializedEvent>, StoreError> {
    envelopes
        .iter()
        .map(|e| {
            Ok(SerializedEvent::new(
                e.aggregate_id.clone(),
                e.sequence,
                A::TYPE.to_owned(),
                e.payload.event_type(),
                e.payload.event_version(),
                serde_json::to_value(&e.payload)?,
                serde_json::to_value(&e.metadata)?,
            ))
        })
        .collect()
}
