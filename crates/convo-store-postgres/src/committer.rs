//! Group commit: commands that reach the store while an append is in flight are appended
//! together when it returns, in one statement (one transaction, one WAL flush) rather than one
//! each. One client sees no difference (its batch is itself); many concurrent clients share the
//! cost of a transaction, so the engine can commit more commands per second than PostgreSQL
//! commits transactions.
//!
//! Each command (or several streams' commands decided together, `convo_store::Unit`) still
//! commits atomically and only with its own sequences, and one command never fails another:
//! - a command that lost a race with another process (its first sequence is taken: commands to
//!   one conversation through two API nodes) fails the plain statement; the batch is then
//!   committed with a statement that leaves such commands out, and only they are answered with
//!   a conflict: the rest of the batch still commits together. While conflicts keep coming
//!   (within [`TOLERANT_FOR`] of the last), batches go straight to that statement, which costs
//!   PostgreSQL more per row than the plain one a single node uses. A command owns its later
//!   sequences once it owns its first (every writer appends from its aggregate's next
//!   sequence), so it is written whole or not at all. An append of several streams could be
//!   cut in two by that statement (one stream's first sequence free, another's taken), so in a
//!   batch that conflicted each such append goes alone, in the plain statement: whole or not;
//! - when the statement fails for anything but the database being away (a row PostgreSQL
//!   refuses), nothing of it was written, and each command of the batch is appended on its
//!   own, so only the culprit sees its error.
//!
//! Every caller is answered after the commit, so a 2xx still means durable.

use std::collections::HashMap;

use cqrs_es::persist::{PersistenceError, SerializedEvent};
use serde_json::Value;
use sqlx::{PgPool, Row};
use tokio::sync::{mpsc, oneshot};

use crate::PostgresDialect;
use convo_store::StoreError;
use convo_store_sql::{Dialect, persistence_error};

/// Events appended in one statement at most (positions allow 65 536 per transaction).
const MAX_EVENTS: usize = 2000;

/// How long after a conflict batches are appended with the statement that tolerates them.
const TOLERANT_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// The batch as rows: one per event, with whether it is its stream's first in its append, in order.
macro_rules! input {
    () => {
        "unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::bool[])
             WITH ORDINALITY AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                                  metadata, first, n)"
    };
}

/// Every event, in order; fails whole if a sequence is taken.
const PLAIN: &str = concat!(
    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
     SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata FROM ",
    input!(),
    " ORDER BY n RETURNING aggregate_type, aggregate_id, sequence, global_position"
);

/// Each command's first event, unless another writer holds its sequence; then the rest of the
/// commands whose first event went in (the join waits for it, so a command's events take their
/// positions in order).
const TOLERANT: &str = concat!(
    "WITH input AS (SELECT * FROM ",
    input!(),
    "), firsts AS (
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
           FROM input WHERE first ORDER BY n
         ON CONFLICT (aggregate_type, aggregate_id, sequence) DO NOTHING
         RETURNING aggregate_type, aggregate_id, sequence, global_position
     ), rest AS (
         INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT i.aggregate_type, i.aggregate_id, i.sequence, i.event_type, i.event_version, i.payload, i.metadata
           FROM input i JOIN firsts f ON f.aggregate_type = i.aggregate_type AND f.aggregate_id = i.aggregate_id
          WHERE NOT i.first ORDER BY i.n
         RETURNING aggregate_type, aggregate_id, sequence, global_position
     )
     SELECT * FROM firsts UNION ALL SELECT * FROM rest"
);

/// One command's events (or several streams' decided together), and where its position goes.
struct Append {
    events: Vec<SerializedEvent>,
    reply: oneshot::Sender<Result<i64, PersistenceError>>,
}

/// The queue of one backend's appends, and the task that commits them.
pub(crate) struct Committer {
    queue: mpsc::UnboundedSender<Append>,
}

impl Committer {
    /// Starts the committing task (on the current runtime).
    pub(crate) fn start(pool: PgPool) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(pool, receiver));
        Self { queue }
    }

    /// Appends events (one stream's, or several streams' all or nothing, each stream's
    /// sequences consecutive) and returns the global position of the last one, once committed.
    pub(crate) async fn append(&self, events: Vec<SerializedEvent>) -> Result<i64, PersistenceError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || PersistenceError::ConnectionError("the event store's committer stopped".into());
        self.queue.send(Append { events, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes whatever is queued (up to [`MAX_EVENTS`]), commits it, answers, and again.
async fn run(pool: PgPool, mut receiver: mpsc::UnboundedReceiver<Append>) {
    let mut last_conflict: Option<std::time::Instant> = None;
    while let Some(first) = receiver.recv().await {
        let mut events = first.events.len();
        let mut queued = vec![first];
        while events < MAX_EVENTS {
            let Ok(next) = receiver.try_recv() else { break };
            events += next.events.len();
            queued.push(next);
        }
        // One append per stream in a statement (a later one decided on the same version is a
        // conflict, which its turn in the next statement finds). Through the aggregate store
        // there is mostly one: it runs one command per aggregate at a time.
        while !queued.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let now: Vec<bool> = queued
                .iter()
                .map(|a| {
                    let streams = a.streams();
                    let free = streams.iter().all(|stream| !seen.contains(stream));
                    if free {
                        seen.extend(streams);
                    }
                    free
                })
                .collect();
            let (mut batch, mut later) = (Vec::with_capacity(queued.len()), Vec::new());
            for (append, now) in queued.into_iter().zip(now) {
                if now { batch.push(append) } else { later.push(append) }
            }
            commit(&pool, batch, &mut last_conflict).await;
            queued = later;
        }
    }
}

/// Commits `batch` and answers each append: in one statement unless something in it lost a
/// race with another writer.
async fn commit(pool: &PgPool, batch: Vec<Append>, last_conflict: &mut Option<std::time::Instant>) {
    metrics::histogram!("convo_append_batch_commands").record(batch.len() as f64);
    let tolerant = last_conflict.is_some_and(|at| at.elapsed() < TOLERANT_FOR);
    if !tolerant {
        match insert(pool, &batch, false).await {
            Err(StoreError::Conflict) => {}
            result => return answer(pool, batch, result).await,
        }
    }
    // The tolerant statement keeps or drops each stream on its own: appends of several streams
    // go alone, in the plain statement, whole or not at all.
    let (units, singles): (Vec<Append>, Vec<Append>) = batch.into_iter().partition(Append::is_unit);
    if !singles.is_empty() {
        let result = insert(pool, &singles, true).await;
        if matches!(&result, Ok(positions) if positions.contains(&None)) {
            *last_conflict = Some(std::time::Instant::now());
        }
        answer(pool, singles, result).await;
    }
    for unit in units {
        let result = insert(pool, std::slice::from_ref(&unit), false).await;
        if matches!(result, Err(StoreError::Conflict)) {
            *last_conflict = Some(std::time::Instant::now());
        }
        answer(pool, vec![unit], result).await;
    }
}

/// Answers each append of `batch` with what its statement came to (`None`: it lost a race).
async fn answer(pool: &PgPool, batch: Vec<Append>, result: Result<Vec<Option<i64>>, StoreError>) {
    match result {
        Ok(positions) => {
            for (append, position) in batch.into_iter().zip(positions) {
                let _ = append.reply.send(position.ok_or(PersistenceError::OptimisticLockError));
            }
        }
        Err(e) if batch.len() > 1 && !matches!(e, StoreError::Connection(_) | StoreError::Conflict) => {
            // A row PostgreSQL refuses, and the statement wrote nothing: each on its own, so
            // only that one fails. (When the database is away, each alone would fail the same
            // way, later.)
            metrics::counter!("convo_append_batch_splits_total").increment(1);
            let singles = batch.into_iter().map(|append| async move {
                let result = insert(pool, std::slice::from_ref(&append), !append.is_unit()).await;
                let written = result
                    .map_err(|e| persistence_error(&e))
                    .and_then(|positions| positions[0].ok_or(PersistenceError::OptimisticLockError));
                let _ = append.reply.send(written);
            });
            futures::future::join_all(singles).await;
        }
        Err(e) => {
            for append in batch {
                let _ = append.reply.send(Err(persistence_error(&e)));
            }
        }
    }
}

impl Append {
    /// The streams it writes, each once, in order.
    fn streams(&self) -> Vec<(&str, &str)> {
        let mut streams: Vec<(&str, &str)> = Vec::with_capacity(1);
        for e in &self.events {
            let stream = (e.aggregate_type.as_str(), e.aggregate_id.as_str());
            if !streams.contains(&stream) {
                streams.push(stream);
            }
        }
        streams
    }

    /// Whether it writes several streams, which must stand or fall together.
    fn is_unit(&self) -> bool {
        self.streams().len() > 1
    }
}

/// One statement, one round trip, its own transaction: every command's events in order, each
/// taking its position from the column default in that order. The position of each command's
/// last event, in the batch's order. The plain statement fails whole when a sequence is taken
/// ([`StoreError::Conflict`]); the `tolerant` one leaves out each command whose first sequence
/// is taken (its answer is `None`: it lost to another writer) and writes the rest.
async fn insert(pool: &PgPool, batch: &[Append], tolerant: bool) -> Result<Vec<Option<i64>>, StoreError> {
    let rows = batch.iter().flat_map(|a| {
        a.events.iter().enumerate().map(move |(i, e)| {
            let first = !a.events[..i]
                .iter()
                .any(|earlier| earlier.aggregate_type == e.aggregate_type && earlier.aggregate_id == e.aggregate_id);
            (e.aggregate_type.as_str(), first, e)
        })
    });
    let (mut types, mut ids, mut sequences, mut event_types, mut versions, mut payloads, mut metadata, mut firsts) =
        (vec![], vec![], vec![], vec![], vec![], Vec::<&Value>::new(), Vec::<&Value>::new(), vec![]);
    for (aggregate_type, first, e) in rows {
        types.push(aggregate_type);
        ids.push(e.aggregate_id.as_str());
        sequences.push(e.sequence as i64);
        event_types.push(e.event_type.as_str());
        versions.push(e.event_version.as_str());
        payloads.push(&e.payload);
        metadata.push(&e.metadata);
        firsts.push(first);
    }
    let written = sqlx::query(if tolerant { TOLERANT } else { PLAIN })
        .bind(&types)
        .bind(&ids)
        .bind(&sequences)
        .bind(&event_types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&firsts)
        .fetch_all(pool)
        .await
        .map_err(PostgresDialect::map_sqlx)?;
    let positions = written
        .iter()
        .map(|row| Ok(((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?), row.try_get(3)?)))
        .collect::<Result<HashMap<(String, String, i64), i64>, sqlx::Error>>()
        .map_err(PostgresDialect::map_sqlx)?;
    let position = |aggregate_type: &str, e: &SerializedEvent| {
        positions.get(&(aggregate_type.to_owned(), e.aggregate_id.clone(), e.sequence as i64)).copied()
    };
    batch
        .iter()
        .map(|a| {
            let (Some(first), Some(last)) = (a.events.first(), a.events.last()) else {
                return Err(StoreError::Database("no events to append".into()));
            };
            match (position(&first.aggregate_type, first), position(&last.aggregate_type, last)) {
                (None, _) => Ok(None),
                (Some(_), Some(last)) => Ok(Some(last)),
                (Some(_), None) => Err(StoreError::Database("an appended event's position was not returned".into())),
            }
        })
        .collect()
}
