//! The projection runner: a follower of the global log (`convo_store::follow`) that folds each
//! batch with the (pure) projection, and commits the changed rows with the new checkpoint in one
//! transaction of the backend. A crash at any point neither loses nor double-applies an event.
//! Several processes may run the same projection: the commit only succeeds from the checkpoint
//! the batch was read after, so a runner that lost the race re-reads and carries on.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use convo_domain::LogEvent;
use convo_projection::{Projection, prepare};
use convo_store::{
    Backend, EventLog, Fence, FollowError, Follower, Handled, Lease, ProjectionStatus, SqlStore, Start, StoreError,
};
use futures::StreamExt;

use crate::table::{SqlTable, TableStore};
use crate::write_behind::WriteBehind;

/// Where a backend keeps one projection's rows and checkpoint.
pub trait ProjectionStore<P: Projection>: Clone + Send + Sync + 'static {
    /// The position of the last event folded (0: none).
    fn checkpoint(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// This store, its checkpoint moving only while `fence`'s lease holds.
    fn fenced(&self, fence: Option<Fence>) -> Self;

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

/// Runs `projection` for ever (until it cannot fold an event), as a follower of the log, while
/// `lease` is this process's (or always, without one).
pub async fn run_projection<P, S, B>(
    projection: P,
    store: S,
    log: EventLog<B>,
    status: Arc<ProjectionStatus>,
    batch: usize,
    lease: Option<Lease<B::Sql>>,
) where
    P: Projection,
    S: ProjectionStore<P>,
    B: Backend,
{
    convo_store::follow(Runner { projection, store }, log, status, batch, lease).await;
}

/// A read model's runner: folds each batch and commits the rows it changed with the checkpoint,
/// in one transaction guarded by the checkpoint the batch was read after. A batch that changes
/// no row writes nothing: the subscription stores the checkpoint later.
struct Runner<P, S> {
    projection: P,
    store: S,
}

impl<P: Projection, S: ProjectionStore<P>> Follower for Runner<P, S> {
    async fn start(&mut self, fence: Option<Fence>) -> Result<Start, FollowError> {
        self.store = self.store.fenced(fence);
        Ok(Start::at(self.store.checkpoint().await?))
    }

    async fn handle(&mut self, events: &[Arc<LogEvent>], progress: Start) -> Result<Handled, FollowError> {
        let last = events.last().map_or(progress.handled, |e| e.position);
        let failed = match fold(&self.projection, &self.store, events).await {
            Ok(changes) if changes.is_empty() => return Ok(Handled::Held),
            Ok(changes) => {
                self.store.commit(&changes, progress.stored, last).await?;
                return Ok(Handled::Stored);
            }
            Err(RunError::Store(e)) => return Err(e.into()),
            Err(RunError::Projection(e)) => e,
        };
        // Keep what comes before the event that cannot be folded, then stop at it; but only if
        // the stored checkpoint is still the one folded from (the guard of that commit, even an
        // empty one): a lazy commit lost when PostgreSQL crashed under a running runner leaves
        // rows missing that the fold then trips over, and the answer is to fold again from what
        // is stored (the guard fails: `Moved`), not to stop.
        let before = &events[..events.partition_point(|e| e.position < failed.position)];
        let to = before.last().map_or(progress.handled, |e| e.position);
        let changes = fold(&self.projection, &self.store, before).await.map_err(|e| match e {
            RunError::Store(e) => FollowError::from(e),
            RunError::Projection(e) => FollowError::Stop { reason: e.to_string(), handled: progress.handled },
        })?;
        self.store.commit(&changes, progress.stored, to).await?;
        Err(FollowError::Stop { reason: failed.to_string(), handled: to })
    }

    async fn store(&mut self, from: i64, to: i64) -> Result<(), FollowError> {
        Ok(self.store.commit(&[], from, to).await?)
    }
}

/// The rows `events` change, folded from the rows the store holds.
async fn fold<P: Projection, S: ProjectionStore<P>, E: Borrow<LogEvent>>(
    projection: &P,
    store: &S,
    events: &[E],
) -> Result<Vec<(P::Key, Option<P::Row>)>, RunError> {
    let prepared = prepare(projection, events.iter().map(Borrow::borrow)).map_err(RunError::Projection)?;
    let loaded = store.load(&prepared.keys).await.map_err(RunError::Store)?;
    prepared.apply(projection, loaded).map_err(RunError::Projection)
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

/// [`fold`] and commit for a rebuild: the rows come from `writer` and the commit is queued
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
