//! The projection runner: follows the global log from a projection's checkpoint, folds each
//! batch with the (pure) projection, and commits the changed rows with the new checkpoint in one
//! transaction of the backend. A crash at any point neither loses nor double-applies an event.
//! Several processes may run the same projection: the commit only succeeds from the checkpoint
//! the batch was read after, so a runner that lost the race re-reads and carries on.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use convo_projection::{Projection, prepare};
use convo_store::{Backend, CHECKPOINT_EVERY, EventLog, ProjectionStatus, SqlStore, StoreError};
use futures::StreamExt;

use crate::table::{SqlTable, TableStore};
use crate::write_behind::WriteBehind;

/// Where a backend keeps one projection's rows and checkpoint.
pub trait ProjectionStore<P: Projection>: Clone + Send + Sync + 'static {
    /// The position of the last event folded (0: none).
    fn checkpoint(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    fn load(&self, keys: &[P::Key]) -> impl Future<Output = Result<HashMap<P::Key, P::Row>, StoreError>> + Send;

    /// Writes `changes` and moves the checkpoint from `from` to `to`, atomically. Fails with
    /// [`StoreError::Conflict`] and writes nothing when the checkpoint is no longer `from`.
    fn commit(
        &self,
        changes: &[(P::Key, Option<P::Row>)],
        from: i64,
        to: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Runs `projection` for ever (until it fails on an event). Transient store errors are retried.
pub async fn run_projection<P, S, B>(
    projection: P,
    store: S,
    log: EventLog<B>,
    status: Arc<ProjectionStatus>,
    batch: usize,
) where
    P: Projection,
    S: ProjectionStore<P>,
    B: Backend,
{
    let mut backoff = convo_store::Backoff::new();
    loop {
        match follow(&projection, &store, &log, &status, batch).await {
            Ok(never) => match never {},
            Err(RunError::Projection(e)) => {
                tracing::error!(projection = P::NAME, error = %e, "projection stopped");
                status.fail(e.to_string());
                return;
            }
            Err(RunError::Store(StoreError::Conflict)) => {
                tracing::debug!(projection = P::NAME, "another runner advanced the checkpoint; re-reading");
            }
            Err(RunError::Store(e)) => {
                tracing::warn!(projection = P::NAME, error = %e, "projection store error; retrying");
                metrics::counter!("convo_store_errors_total", "component" => P::NAME).increment(1);
                backoff.wait().await;
            }
        }
    }
}

/// Why a runner, a rebuild or a verification stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Projection(convo_projection::ProjectionError),
    #[error(transparent)]
    Store(StoreError),
}

use ProjectorError as RunError;

enum Never {}

async fn follow<P, S, B>(
    projection: &P,
    store: &S,
    log: &EventLog<B>,
    status: &ProjectionStatus,
    batch: usize,
) -> Result<Never, RunError>
where
    P: Projection,
    S: ProjectionStore<P>,
    B: Backend,
{
    // `stored` is what the store holds, `checkpoint` what has been folded: they differ only
    // while the events after `stored` changed no row.
    let mut stored = store.checkpoint().await.map_err(RunError::Store)?;
    let mut checkpoint = stored;
    let mut stored_at = Instant::now();
    // What is stored is what queries read, even below what this runner had folded before (a
    // lazy commit lost in a PostgreSQL crash): read-your-writes waits for the fold again.
    status.restart_at(checkpoint);
    let mut tail = Box::pin(log.tail(checkpoint, batch));
    loop {
        let next = if checkpoint > stored {
            match tokio::time::timeout(CHECKPOINT_EVERY, tail.next()).await {
                Ok(next) => next,
                Err(_idle) => {
                    store.commit(&[], stored, checkpoint).await.map_err(RunError::Store)?;
                    (stored, stored_at) = (checkpoint, Instant::now());
                    continue;
                }
            }
        } else {
            tail.next().await
        };
        let Some(events) = next else { break };
        let mut events = events.map_err(RunError::Store)?;
        let flush = stored_at.elapsed() >= CHECKPOINT_EVERY;
        let failed = match fold_and_commit(projection, store, &events, stored, flush).await {
            Ok(Some(folded)) => {
                checkpoint = folded.last;
                if folded.stored {
                    (stored, stored_at) = (checkpoint, Instant::now());
                }
                status.advance(checkpoint);
                // Lag: from the store recording the batch's last event to its rows committing.
                if let Some(event) = events.last() {
                    let lag = (chrono::Utc::now() - event.recorded_at).to_std().unwrap_or_default();
                    metrics::histogram!("convo_projection_lag_seconds", "projection" => P::NAME)
                        .record(lag.as_secs_f64());
                }
                // Commits gather while this one runs: the log's feed hands them over together.
                continue;
            }
            Ok(None) => continue,
            Err(RunError::Projection(e)) => e,
            Err(other) => return Err(other),
        };
        // Keep what comes before the event that cannot be folded, then stop at it; but only if
        // the stored checkpoint is still the one folded from (the guard of that commit, even an
        // empty one): a lazy commit lost when PostgreSQL crashed under a running runner leaves
        // rows missing that the fold then trips over, and the answer is to fold again from what
        // is stored, not to stop.
        events.retain(|e| e.position < failed.position);
        if let Some(folded) = fold_and_commit(projection, store, &events, stored, true).await? {
            status.advance(folded.last);
        } else {
            store.commit(&[], stored, checkpoint).await.map_err(RunError::Store)?;
        }
        return Err(RunError::Projection(failed));
    }
    Err(RunError::Store(StoreError::Connection("the log tail ended".into())))
}

/// What [`fold_and_commit`] did with a batch.
struct Folded {
    /// The batch's last position: the checkpoint now folded.
    last: i64,
    /// Whether the rows and the checkpoint were written (false: the batch changed no row and
    /// storing the checkpoint could wait).
    stored: bool,
}

/// Folds `events` and commits them from the stored checkpoint `from`; `None` if there were no
/// events. A batch that changes no row is only committed (its checkpoint alone) when `flush`.
async fn fold_and_commit<P: Projection, S: ProjectionStore<P>, E: Borrow<convo_domain::LogEvent>>(
    projection: &P,
    store: &S,
    events: &[E],
    from: i64,
    flush: bool,
) -> Result<Option<Folded>, RunError> {
    let Some(last) = events.last().map(|e| e.borrow().position) else { return Ok(None) };
    let prepared = prepare(projection, events.iter().map(Borrow::borrow)).map_err(RunError::Projection)?;
    let loaded = store.load(&prepared.keys).await.map_err(RunError::Store)?;
    let changes = prepared.apply(projection, loaded).map_err(RunError::Projection)?;
    if changes.is_empty() && !flush {
        return Ok(Some(Folded { last, stored: false }));
    }
    store.commit(&changes, from, last).await.map_err(RunError::Store)?;
    Ok(Some(Folded { last, stored: true }))
}

/// [`fold_and_commit`] for a rebuild: the rows come from `writer` and the commit is queued
/// behind the next page's fold; returns the batch's last position, `None` if it was empty.
async fn fold_behind<P: Projection, S: ProjectionStore<P>>(
    projection: &P,
    writer: &mut WriteBehind<P, S>,
    events: &[convo_domain::LogEvent],
    from: i64,
) -> Result<Option<i64>, RunError> {
    let Some(last) = events.last().map(|e| e.position) else { return Ok(None) };
    let prepared = prepare(projection, events).map_err(RunError::Projection)?;
    let loaded = writer.load(&prepared.keys).await.map_err(RunError::Store)?;
    let changes = prepared.apply(projection, loaded).map_err(RunError::Projection)?;
    writer.commit(changes, from, last).await.map_err(RunError::Store)?;
    Ok(Some(last))
}

/// The pages of `stream`, read up to `depth` pages ahead of their consumer by a task of their own.
fn read_ahead<T: Send + 'static>(
    stream: impl futures::Stream<Item = T> + Send + 'static,
    depth: usize,
) -> tokio::sync::mpsc::Receiver<T> {
    let (pages, receiver) = tokio::sync::mpsc::channel(depth);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(page) = stream.next().await {
            if pages.send(page).await.is_err() {
                break;
            }
        }
    });
    receiver
}

/// Folds the log into `into` from its checkpoint up to the head as it is now, or up to `until`;
/// returns the new checkpoint and how many events were folded.
async fn fill<P, S, B>(
    projection: &P,
    into: &S,
    log: &EventLog<B>,
    batch: usize,
    until: Option<i64>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(i64, u64), ProjectorError>
where
    P: Projection,
    S: ProjectionStore<P>,
    B: Backend,
{
    let mut checkpoint = into.checkpoint().await.map_err(RunError::Store)?;
    let mut folded = 0;
    // The next page is read while this one is folded, and folded while this one commits.
    let mut pages = read_ahead(log.read_to_head(checkpoint, batch), 2);
    let mut writer = WriteBehind::new(into.clone());
    while let Some(events) = pages.recv().await {
        let mut events = events.map_err(RunError::Store)?;
        events.retain(|e| until.is_none_or(|u| e.position <= u));
        let Some(last) = fold_behind(projection, &mut writer, &events, checkpoint).await? else {
            break;
        };
        checkpoint = last;
        folded += events.len() as u64;
        progress(folded);
    }
    writer.finish().await.map_err(RunError::Store)?;
    Ok((checkpoint, folded))
}

/// Rebuilds a read model from the first event into a scratch table while the live one keeps
/// serving queries, then swaps it in; returns how many events were folded.
pub async fn rebuild<P, T, S, B>(
    projection: &P,
    live: &TableStore<P, T, S>,
    log: &EventLog<B>,
    batch: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: SqlTable<P>,
    S: SqlStore,
    B: Backend,
{
    let scratch = live.scratch("rebuild").await.map_err(RunError::Store)?;
    let (_, mut folded) = fill(projection, &scratch, log, batch, None, progress).await?;
    // Catch up with what was written meanwhile, then swap.
    folded += fill(projection, &scratch, log, batch, None, progress).await?.1;
    scratch.swap_in().await.map_err(RunError::Store)?;
    Ok(folded)
}

/// One model's part of [`ReadModels::rebuild_all`]: folds the pages it is handed into a
/// scratch table, then catches up with what was written meanwhile and swaps it in.
pub(crate) async fn rebuild_from_pages<P, T, S, B>(
    projection: P,
    live: TableStore<P, T, S>,
    mut pages: tokio::sync::mpsc::Receiver<Arc<Vec<convo_domain::LogEvent>>>,
    log: EventLog<B>,
    batch: usize,
) -> Result<(), ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: SqlTable<P>,
    S: SqlStore,
    B: Backend,
{
    let scratch = live.scratch("rebuild").await.map_err(RunError::Store)?;
    // A fresh scratch table starts at 0, and the pages follow each other from there.
    let mut checkpoint = scratch.checkpoint().await.map_err(RunError::Store)?;
    let mut writer = WriteBehind::new(scratch.clone());
    while let Some(page) = pages.recv().await {
        if let Some(last) = fold_behind(&projection, &mut writer, &page, checkpoint).await? {
            checkpoint = last;
        }
    }
    writer.finish().await.map_err(RunError::Store)?;
    fill(&projection, &scratch, &log, batch, None, &|_| {}).await?;
    scratch.swap_in().await.map_err(RunError::Store)
}

/// Rebuilds a read model into a scratch table up to the live one's checkpoint and lists the
/// rows that differ (at most `limit`); empty when live equals a rebuild.
pub async fn verify<P, T, S, B>(
    projection: &P,
    live: &TableStore<P, T, S>,
    log: &EventLog<B>,
    batch: usize,
    limit: usize,
) -> Result<Vec<String>, ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: SqlTable<P>,
    S: SqlStore,
    B: Backend,
{
    let scratch = live.scratch("verify").await.map_err(RunError::Store)?;
    let mut result = Err(RunError::Store(StoreError::Conflict));
    // The live model may move on while we compare: compare at one checkpoint, a few tries.
    for _ in 0..5 {
        let target = live.checkpoint().await.map_err(RunError::Store)?;
        fill(projection, &scratch, log, batch, Some(target), &|_| {}).await?;
        let differences = live.differences(&scratch, limit).await.map_err(RunError::Store)?;
        if live.checkpoint().await.map_err(RunError::Store)? == target {
            result = Ok(differences);
            break;
        }
    }
    scratch.discard().await.map_err(RunError::Store)?;
    result
}
