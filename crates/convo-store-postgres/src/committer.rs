//! Group commit: commands that reach the store while an append is in flight are appended
//! together when it returns, in one statement (one transaction, one WAL flush) rather than one
//! each. One client sees no difference (its batch is itself); many concurrent clients share the
//! cost of a transaction, so the engine can commit more commands per second than PostgreSQL
//! commits transactions.
//!
//! Each command still commits atomically and only with its own sequences, and one command never
//! fails another: when the statement fails for anything but the database being away (a
//! command that lost a race with another process, a row PostgreSQL refuses), nothing of it was
//! written, and each command of the batch is appended on its own, so only the culprit sees its
//! error. Every caller is answered after the commit, so a 2xx still means durable.

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

/// One command's events, and where its position goes.
struct Append {
    aggregate_type: &'static str,
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

    /// Appends one command's events (one aggregate, consecutive sequences) and returns the
    /// global position of the last one, once committed.
    pub(crate) async fn append(
        &self,
        aggregate_type: &'static str,
        events: Vec<SerializedEvent>,
    ) -> Result<i64, PersistenceError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || PersistenceError::ConnectionError("the event store's committer stopped".into());
        self.queue.send(Append { aggregate_type, events, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes whatever is queued (up to [`MAX_EVENTS`]), commits it, answers, and again.
async fn run(pool: PgPool, mut receiver: mpsc::UnboundedReceiver<Append>) {
    while let Some(first) = receiver.recv().await {
        let mut events = first.events.len();
        let mut batch = vec![first];
        while events < MAX_EVENTS {
            let Ok(next) = receiver.try_recv() else { break };
            events += next.events.len();
            batch.push(next);
        }
        metrics::histogram!("convo_append_batch_commands").record(batch.len() as f64);
        match insert(&pool, &batch).await {
            Ok(positions) => {
                for (append, position) in batch.into_iter().zip(positions) {
                    let _ = append.reply.send(Ok(position));
                }
            }
            Err(e) if batch.len() > 1 && !matches!(e, StoreError::Connection(_)) => {
                // One command's sequence was taken or its row refused, and the statement wrote
                // nothing: each on its own, so only that one fails. (When the database is away,
                // each alone would fail the same way, later.)
                metrics::counter!("convo_append_batch_splits_total").increment(1);
                let singles = batch.into_iter().map(|append| {
                    let pool = pool.clone();
                    async move {
                        let result = insert(&pool, std::slice::from_ref(&append)).await;
                        let _ = append.reply.send(result.map(|p| p[0]).map_err(|e| persistence_error(&e)));
                    }
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
}

/// One statement, one round trip, its own transaction: every command's events in order, each
/// taking its position from the column default in that order. The position of each command's
/// last event, in the batch's order.
async fn insert(pool: &PgPool, batch: &[Append]) -> Result<Vec<i64>, StoreError> {
    let rows = batch.iter().flat_map(|a| a.events.iter().map(move |e| (a.aggregate_type, e)));
    let (mut types, mut ids, mut sequences, mut event_types, mut versions, mut payloads, mut metadata) =
        (vec![], vec![], vec![], vec![], vec![], Vec::<&Value>::new(), Vec::<&Value>::new());
    for (aggregate_type, e) in rows {
        types.push(aggregate_type);
        ids.push(e.aggregate_id.as_str());
        sequences.push(e.sequence as i64);
        event_types.push(e.event_type.as_str());
        versions.push(e.event_version.as_str());
        payloads.push(&e.payload);
        metadata.push(&e.metadata);
    }
    let written = sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         SELECT e.aggregate_type, e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata
           FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[])
                WITH ORDINALITY AS e(aggregate_type, aggregate_id, sequence, event_type, event_version, payload,
                                     metadata, n)
          ORDER BY e.n
         RETURNING aggregate_type, aggregate_id, sequence, global_position",
    )
    .bind(&types)
    .bind(&ids)
    .bind(&sequences)
    .bind(&event_types)
    .bind(&versions)
    .bind(&payloads)
    .bind(&metadata)
    .fetch_all(pool)
    .await
    .map_err(PostgresDialect::map_sqlx)?;
    let positions = written
        .iter()
        .map(|row| Ok(((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?), row.try_get(3)?)))
        .collect::<Result<HashMap<(String, String, i64), i64>, sqlx::Error>>()
        .map_err(PostgresDialect::map_sqlx)?;
    batch
        .iter()
        .map(|a| {
            let last = a.events.last().ok_or_else(|| StoreError::Database("no events to append".into()))?;
            positions
                .get(&(a.aggregate_type.to_owned(), last.aggregate_id.clone(), last.sequence as i64))
                .copied()
                .ok_or_else(|| StoreError::Database("an appended event's position was not returned".into()))
        })
        .collect()
}
