//! convo-projection: the contract of a read model. A projection is a pure fold from global-log
//! events to keyed rows; it never does I/O. The runner (convo-store) reads the log in batches,
//! asks the projection which rows a batch touches, loads them, folds the batch in memory, and
//! commits the changed rows with the checkpoint in one transaction of the backend's storage.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

use convo_domain::LogEvent;
use uuid::Uuid;

/// An event the projection cannot fold: the projection stops there, visibly, and the others
/// keep going.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{projection} cannot apply the event at position {position}: {reason}")]
pub struct ProjectionError {
    pub projection: &'static str,
    pub position: i64,
    pub reason: String,
}

pub trait Projection: Send + Sync + 'static {
    /// Stable name: the checkpoint's key and what `convo projections` shows.
    const NAME: &'static str;
    type Event: Send;
    type Key: Clone + Eq + Hash + Debug + Send + Sync;
    type Row: Clone + PartialEq + Debug + Send + Sync;

    /// The part of a log event this projection folds; `Ok(None)` for events it ignores.
    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String>;

    /// The rows applying `event` reads or writes; the runner loads them first.
    fn keys(&self, event: &LogEvent, decoded: &Self::Event, into: &mut Vec<Self::Key>);

    /// The stream that no row of `key` can exist before: `(aggregate_type, aggregate_id)`. A
    /// batch holding that stream's first event does not load the key, neither for that event
    /// nor for any after it (nothing can be stored for it: rows are committed with the
    /// checkpoint, never ahead of it). A new conversation's or contact's rows are written
    /// without reading the store first. `None`, the default: always loaded.
    fn born_with(&self, key: &Self::Key) -> Option<Stream> {
        let _ = key;
        None
    }

    /// Folds one event into the rows.
    fn apply(
        &self,
        event: &LogEvent,
        decoded: Self::Event,
        rows: &mut Rows<Self::Key, Self::Row>,
    ) -> Result<(), String>;
}

/// An event stream a row may be born with ([`Projection::born_with`]): its aggregate type and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream(&'static str, Uuid);

impl Stream {
    pub fn conversation(id: Uuid) -> Option<Self> {
        Some(Self(<convo_domain::Conversation as cqrs_es::Aggregate>::TYPE, id))
    }

    pub fn contact(id: Uuid) -> Option<Self> {
        Some(Self(<convo_domain::contact::Contact as cqrs_es::Aggregate>::TYPE, id))
    }

    pub fn contact_identity(id: Uuid) -> Option<Self> {
        Some(Self(<convo_domain::contact::ContactIdentity as cqrs_es::Aggregate>::TYPE, id))
    }
}

/// The working set of a batch: rows as loaded, then as changed by the fold.
#[derive(Debug)]
pub struct Rows<K, R> {
    rows: HashMap<K, Option<R>>,
    changed: Vec<K>,
    changed_set: HashSet<K>,
}

impl<K: Clone + Eq + Hash, R: Clone> Rows<K, R> {
    /// A working set over the rows loaded for `keys` (absent keys are rows that do not exist).
    /// A key given twice keeps its loaded row.
    pub fn new(keys: impl IntoIterator<Item = K>, mut loaded: HashMap<K, R>) -> Self {
        let mut rows = HashMap::new();
        for key in keys {
            let row = loaded.remove(&key);
            rows.entry(key).or_insert(row);
        }
        Self { rows, changed: Vec::new(), changed_set: HashSet::new() }
    }

    fn touch(&mut self, key: &K) {
        if self.changed_set.insert(key.clone()) {
            self.changed.push(key.clone());
        }
    }

    pub fn get(&self, key: &K) -> Option<&R> {
        self.rows.get(key).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut R> {
        if self.get(key).is_some() {
            self.touch(key);
        }
        self.rows.get_mut(key).and_then(Option::as_mut)
    }

    pub fn put(&mut self, key: K, row: R) {
        self.touch(&key);
        self.rows.insert(key, Some(row));
    }

    pub fn remove(&mut self, key: &K) {
        self.touch(key);
        self.rows.insert(key.clone(), None);
    }

    /// The rows the fold changed (`None`: deleted), in the order first changed.
    pub fn into_changes(mut self) -> Vec<(K, Option<R>)> {
        self.changed.into_iter().map(|k| (k.clone(), self.rows.remove(&k).flatten())).collect()
    }
}

/// The rows a batch changed (`None`: deleted), in the order first changed.
pub type Changes<P> = Vec<(<P as Projection>::Key, Option<<P as Projection>::Row>)>;

/// A batch of log events decoded for one projection, with the rows it needs.
pub struct Batch<'a, P: Projection> {
    decoded: Vec<(&'a LogEvent, P::Event)>,
    /// The rows to load before [`Batch::apply`], each once (none born in the batch).
    pub keys: Vec<P::Key>,
}

/// Decodes `events` for `projection` and collects the rows they touch.
pub fn prepare<'a, P: Projection>(
    projection: &P,
    events: impl IntoIterator<Item = &'a LogEvent>,
) -> Result<Batch<'a, P>, ProjectionError> {
    let events = events.into_iter();
    let mut decoded = Vec::with_capacity(events.size_hint().0);
    let (mut named, mut keys, mut seen) = (Vec::new(), Vec::new(), HashSet::new());
    // The streams whose first event the batch holds, up to the event at hand.
    let mut born: HashSet<(&str, Uuid)> = HashSet::new();
    for event in events {
        if event.sequence == 1
            && let Ok(id) = Uuid::parse_str(&event.aggregate_id)
        {
            born.insert((event.aggregate_type.as_str(), id));
        }
        if let Some(d) = projection.decode(event).map_err(|r| failure::<P>(event, r))? {
            projection.keys(event, &d, &mut named);
            for key in named.drain(..) {
                if seen.insert(key.clone()) && !projection.born_with(&key).is_some_and(|s| born.contains(&(s.0, s.1))) {
                    keys.push(key);
                }
            }
            decoded.push((event, d));
        }
    }
    Ok(Batch { decoded, keys })
}

fn failure<P: Projection>(event: &LogEvent, reason: String) -> ProjectionError {
    ProjectionError { projection: P::NAME, position: event.position, reason }
}

impl<P: Projection> Batch<'_, P> {
    /// Folds the batch over the loaded rows; returns the rows it changed.
    pub fn apply(self, projection: &P, loaded: HashMap<P::Key, P::Row>) -> Result<Changes<P>, ProjectionError> {
        let mut rows = Rows::new(self.keys, loaded);
        for (event, d) in self.decoded {
            projection.apply(event, d, &mut rows).map_err(|r| failure::<P>(event, r))?;
        }
        Ok(rows.into_changes())
    }
}

#[cfg(test)]
mod tests;
