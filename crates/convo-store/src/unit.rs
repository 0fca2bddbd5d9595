//! Commands on several aggregates committed together, all or nothing
//! (docs/decisions/0005-contacts-and-identities.md): finding or creating a contact claims its
//! identity, creates the contact and starts its conversation in one append.
//!
//! Each command is decided like [`AggregateStore::execute`] decides one (on the cached state,
//! caught up first when the cache cannot prove it current), but no aggregate's lock is held
//! between deciding and committing: a unit takes several, and holding them in the order each
//! caller names them could deadlock two units. The append's sequences are the guard instead:
//! a command on one of the streams that committed meanwhile (in this process or another) makes
//! the whole append a conflict, nothing is written, and the caller decides the unit again with
//! [`Unit::new`]`(attempt + 1)`, which catches every aggregate up first. Several commands on one
//! aggregate in a unit are decided one after the other, each on the state the one before left.

use std::any::Any;
use std::collections::HashMap;

use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use cqrs_es::{Aggregate, EventEnvelope};
use futures::future::BoxFuture;

use crate::aggregate_store::{Cached, Slot, serialize};
use crate::{AggregateStore, Backend, CommandError, LogNotifier, StoreError};

/// One command of a unit, as decided.
#[derive(Debug)]
pub struct Decided<A: Aggregate> {
    /// The aggregate's version it was decided on.
    pub version: usize,
    /// The events it decided (empty: it changes nothing), at their sequences.
    pub events: Vec<EventEnvelope<A>>,
    /// The aggregate's state after them.
    pub state: A,
}

/// One aggregate a unit decided on: the version its first command was decided on, and the
/// version and state after the last, to put in its cache once the unit committed.
struct Stream<A> {
    slot: Slot<A>,
    from: usize,
    version: usize,
    state: A,
}

/// A [`Stream`] of any aggregate type.
trait Decision: Send {
    fn as_any(&mut self) -> &mut dyn Any;
    /// Updates the aggregate's cache with what the unit committed.
    fn install(self: Box<Self>) -> BoxFuture<'static, ()>;
}

impl<A: Clone + Send + Sync + 'static> Decision for Stream<A> {
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }

    fn install(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(install(self.slot, self.from, self.version, self.state))
    }
}

/// An aggregate's type and id.
type StreamKey = (&'static str, String);

/// Commands on several aggregates, decided one by one and committed in one append.
pub struct Unit<'s, B: Backend> {
    fresh: bool,
    backend: Option<&'s B>,
    notifier: Option<LogNotifier>,
    events: Vec<SerializedEvent>,
    /// Each aggregate decided on, in the order first decided.
    streams: Vec<(StreamKey, Box<dyn Decision>)>,
}

impl<'s, B: Backend> Unit<'s, B> {
    /// A unit for its `attempt`th try (from 1): from the second on, each aggregate is caught up
    /// with the store before it is decided on, since the try before lost to a concurrent write.
    pub fn new(attempt: u32) -> Self {
        Self { fresh: attempt > 1, backend: None, notifier: None, events: Vec::new(), streams: Vec::new() }
    }

    /// Decides `command` on aggregate `id` of `store`, to be committed with the unit's other
    /// commands (with `metadata` stored beside each event). A rejection writes nothing and is
    /// answered at once; the caller drops the unit or decides otherwise.
    pub async fn decide<A>(
        &mut self,
        store: &'s AggregateStore<A, B>,
        id: &str,
        command: A::Command,
        metadata: &HashMap<String, String>,
    ) -> Result<Decided<A>, CommandError<A::Error>>
    where
        A: Aggregate + Clone + Sync + 'static,
        A::Command: Clone,
    {
        self.backend.get_or_insert(&store.backend);
        self.notifier.get_or_insert_with(|| store.notifier.clone());
        let key = (A::TYPE, id.to_owned());
        if let Some((_, decided)) = self.streams.iter_mut().find(|(k, _)| *k == key) {
            // Decided on already in this unit: on from where that left it.
            let Some(stream) = decided.as_any().downcast_mut::<Stream<A>>() else {
                return Err(CommandError::Store(StoreError::Corrupt(format!("{} {id}: two types", A::TYPE))));
            };
            let mut next = stream.state.clone();
            let sink = EventSink::default();
            next.handle(command, &store.services, &sink).await.map_err(CommandError::Rejected)?;
            let envelopes = envelopes(id, stream.version, sink.collect().await, metadata);
            let from = stream.version;
            stream.version += envelopes.len();
            stream.state = next.clone();
            self.events.extend(serialize(&envelopes)?);
            return Ok(Decided { version: from, events: envelopes, state: next });
        }
        let slot = store.slot(id);
        let (current, next, events) = {
            let mut guard = slot.lock().await;
            let mut caught_up = self.fresh;
            // Not in the cache, on a first try: decided as a new aggregate, unread (what a unit
            // mostly creates: a contact, its conversation). The append's first sequence proves
            // it new; an aggregate that was not is a conflict, decided again caught up.
            let cached = guard.take();
            let guessed = cached.is_none() && !self.fresh;
            let mut current = match cached {
                Some(cached) if !self.fresh => cached,
                None if !self.fresh => Cached { version: 0, state: A::default(), checked: std::time::Instant::now() },
                cached => store.catch_up(id, cached).await?,
            };
            loop {
                let mut next = current.state.clone();
                let sink = EventSink::default();
                let decided = next.handle(command.clone(), &store.services, &sink).await;
                let events = sink.collect().await;
                // A rejection or a no-op on the cache proves nothing: read and decide again.
                if (decided.is_err() || events.is_empty()) && !caught_up {
                    current = store.catch_up(id, Some(current)).await?;
                    caught_up = true;
                    continue;
                }
                // A guess stays out of the cache (a lookup trusting it would see an empty
                // aggregate); it goes in once the unit commits it.
                if !guessed || caught_up {
                    *guard = Some(current.clone());
                }
                decided.map_err(CommandError::Rejected)?;
                break (current, next, events);
            }
        };
        let envelopes = envelopes(id, current.version, events, metadata);
        self.events.extend(serialize(&envelopes)?);
        let from = current.version;
        let stream = Stream { slot, from, version: from + envelopes.len(), state: next.clone() };
        self.streams.push((key, Box::new(stream)));
        Ok(Decided { version: from, events: envelopes, state: next })
    }

    /// Appends every decided event in one append, all or nothing, and answers the global
    /// position of the last (`None`: nothing was decided). A conflict
    /// (`CommandError::Store(StoreError::Conflict)`) wrote nothing: decide the unit again with
    /// the next attempt. A connection lost while committing is `CommandError::Unknown`: the
    /// events may or may not be in the log.
    pub async fn commit(self) -> Result<Option<i64>, CommandError<std::convert::Infallible>> {
        let Some(backend) = self.backend.filter(|_| !self.events.is_empty()) else { return Ok(None) };
        match backend.append(&self.events).await {
            Ok(position) => {
                if let Some(notifier) = &self.notifier {
                    notifier.committed(position);
                }
                for (_, stream) in self.streams {
                    stream.install().await;
                }
                Ok(Some(position))
            }
            Err(PersistenceError::OptimisticLockError) => {
                metrics::counter!("convo_command_conflicts_total", "aggregate" => "unit").increment(1);
                Err(CommandError::Store(StoreError::Conflict))
            }
            Err(other) => Err(match StoreError::from(other) {
                e @ StoreError::Connection(_) => CommandError::Unknown(e),
                e => CommandError::Store(e),
            }),
        }
    }
}

/// Events decided on aggregate `id` at `version`, at their sequences.
fn envelopes<A: Aggregate>(
    id: &str,
    version: usize,
    events: Vec<A::Event>,
    metadata: &HashMap<String, String>,
) -> Vec<EventEnvelope<A>> {
    let at = |(i, payload)| EventEnvelope {
        aggregate_id: id.to_owned(),
        sequence: version + i + 1,
        payload,
        metadata: metadata.clone(),
    };
    events.into_iter().enumerate().map(at).collect()
}

/// The aggregate's cache holds `state` at `version` now, if it still holds what the unit
/// decided on (`from`); a cache another command moved meanwhile is left to catch up itself.
async fn install<A: Clone>(slot: Slot<A>, from: usize, version: usize, state: A) {
    let mut guard = slot.lock().await;
    // Empty and decided as new: the append proved it had no events.
    if version > from && guard.as_ref().map_or(from == 0, |cached| cached.version == from) {
        *guard = Some(Cached { version, state, checked: std::time::Instant::now() });
    }
}
