//! The projection runner: follows the global log from a projection's checkpoint, folds each
//! batch with the (pure) projection, and commits the changed rows with the new checkpoint in one
//! transaction of the backend. A crash at any point neither loses nor double-applies an event.
//! Several processes may run the same projection: the commit only succeeds from the checkpoint
//! the batch was read after, so a runner that lost the race re-reads and carries on.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_projection::{Projection, prepare};
use futures::StreamExt;
use tokio::sync::watch;

use crate::write_behind::WriteBehind;
use crate::{Backend, EventLog, StoreError};

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

/// A follower of the log's progress as this process sees it (a projection's, or the bus
/// publisher's): for `/readyz`, `convo projections status` and read-your-writes waits.
#[derive(Debug)]
pub struct ProjectionStatus {
    pub name: &'static str,
    position: watch::Sender<i64>,
    error: Mutex<Option<String>>,
}

impl ProjectionStatus {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, position: watch::Sender::new(0), error: Mutex::new(None) })
    }

    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Why the projection stopped, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the position to what the store holds, even below the one recorded (see `follow`).
    fn restart_at(&self, position: i64) {
        self.position.send_replace(position);
    }

    /// Records that everything up to `position` is done.
    pub fn advance(&self, position: i64) {
        self.position.send_if_modified(|p| {
            let newer = position > *p;
            if newer {
                *p = position;
            }
            newer
        });
    }

    /// Records why the follower stopped (or, for one that restarts, why it is failing).
    pub fn fail(&self, error: String) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// Clears the error of a follower that works again.
    pub fn recover(&self) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Waits until the projection has folded every event up to `position`, at most `timeout`.
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await.is_ok_and(|r| r.is_ok())
    }
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
    let mut backoff = crate::Backoff::new();
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

/// How long a runner may hold a checkpoint it has not stored, when the events it folded changed
/// no row of its model: at most this much is folded again after a restart, and far fewer
/// transactions are written by models that most events do not touch.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

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

/// `$body` once per read model, with its projection, model and status bound: an array.
macro_rules! each_model {
    ($self:ident, |$p:ident, $m:ident, $s:ident| $body:expr) => {
        [
            {
                let ($p, $m, $s) = (convo_projection_inbox::InboxProjection, &$self.inbox, &$self.inbox_status);
                $body
            },
            {
                let ($p, $m, $s) =
                    (convo_projection_timeline::TimelineProjection, &$self.timeline, &$self.timeline_status);
                $body
            },
            {
                let ($p, $m, $s) = (convo_projection_inboxes::InboxesProjection, &$self.inboxes, &$self.inboxes_status);
                $body
            },
            {
                let ($p, $m, $s) = (convo_projection_unread::UnreadProjection, &$self.unread, &$self.unread_status);
                $body
            },
            {
                let ($p, $m, $s) = (convo_projection_groups::GroupsProjection, &$self.groups, &$self.groups_status);
                $body
            },
            {
                let ($p, $m, $s) = (
                    convo_projection_response_times::ResponseTimesProjection,
                    &$self.response_times,
                    &$self.response_times_status,
                );
                $body
            },
        ]
    };
}

/// `$body` for the read model named `$name` (its projection and model bound), or an error.
macro_rules! by_name {
    ($self:ident, $name:expr, |$p:ident, $m:ident| $body:expr) => {
        match $name {
            "inbox" => {
                let ($p, $m) = (convo_projection_inbox::InboxProjection, &$self.inbox);
                $body
            }
            "timeline" => {
                let ($p, $m) = (convo_projection_timeline::TimelineProjection, &$self.timeline);
                $body
            }
            "inboxes" => {
                let ($p, $m) = (convo_projection_inboxes::InboxesProjection, &$self.inboxes);
                $body
            }
            "unread" => {
                let ($p, $m) = (convo_projection_unread::UnreadProjection, &$self.unread);
                $body
            }
            "groups" => {
                let ($p, $m) = (convo_projection_groups::GroupsProjection, &$self.groups);
                $body
            }
            "response_times" => {
                let ($p, $m) = (convo_projection_response_times::ResponseTimesProjection, &$self.response_times);
                $body
            }
            other => Err(RunError::Store(StoreError::Database(format!("no read model named {other}")))),
        }
    };
}

/// The read models of one backend, their runners' progress, and read-your-writes waits.
pub struct ReadModels<B: Backend> {
    pub inbox: crate::InboxModel<B::Sql>,
    pub inbox_status: Arc<ProjectionStatus>,
    pub timeline: crate::TimelineModel<B::Sql>,
    pub timeline_status: Arc<ProjectionStatus>,
    pub inboxes: crate::InboxesModel<B::Sql>,
    pub inboxes_status: Arc<ProjectionStatus>,
    pub unread: crate::UnreadModel<B::Sql>,
    pub unread_status: Arc<ProjectionStatus>,
    pub groups: crate::GroupsModel<B::Sql>,
    pub groups_status: Arc<ProjectionStatus>,
    pub response_times: crate::ResponseTimesModel<B::Sql>,
    pub response_times_status: Arc<ProjectionStatus>,
    /// Events folded per batch.
    pub batch: usize,
    /// Events read and folded per page by rebuilds and verifications: large, to cut round trips.
    pub rebuild_batch: usize,
    /// How long a query waits for `min_position` before answering 503.
    pub consistency_wait: Duration,
}

impl<B: Backend> ReadModels<B> {
    pub fn new(backend: &B) -> Self {
        Self {
            inbox: crate::InboxModel::new(backend.sql()),
            inbox_status: ProjectionStatus::new(<convo_projection_inbox::InboxProjection as Projection>::NAME),
            timeline: crate::TimelineModel::new(backend.sql()),
            timeline_status: ProjectionStatus::new(<convo_projection_timeline::TimelineProjection as Projection>::NAME),
            inboxes: crate::InboxesModel::new(backend.sql()),
            inboxes_status: ProjectionStatus::new(<convo_projection_inboxes::InboxesProjection as Projection>::NAME),
            unread: crate::UnreadModel::new(backend.sql()),
            unread_status: ProjectionStatus::new(<convo_projection_unread::UnreadProjection as Projection>::NAME),
            groups: crate::GroupsModel::new(backend.sql()),
            groups_status: ProjectionStatus::new(<convo_projection_groups::GroupsProjection as Projection>::NAME),
            response_times: crate::ResponseTimesModel::new(backend.sql()),
            response_times_status: ProjectionStatus::new(
                <convo_projection_response_times::ResponseTimesProjection as Projection>::NAME,
            ),
            batch: 500,
            rebuild_batch: 5000,
            consistency_wait: Duration::from_secs(5),
        }
    }

    /// Starts one runner task per read model, following `log`.
    pub fn spawn(&self, log: &EventLog<B>) -> Vec<tokio::task::JoinHandle<()>> {
        each_model!(self, |projection, model, status| {
            tokio::spawn(run_projection(projection, model.clone(), log.clone(), status.clone(), self.batch))
        })
        .into()
    }

    /// The names of the read models, for the CLI.
    pub const NAMES: [&'static str; 6] = ["inbox", "timeline", "inboxes", "unread", "groups", "response_times"];

    /// Rebuilds read model `name` from the first event and swaps it in; events folded.
    pub async fn rebuild(
        &self,
        name: &str,
        log: &EventLog<B>,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<u64, ProjectorError> {
        by_name!(self, name, |projection, model| rebuild(&projection, model, log, self.rebuild_batch, progress).await)
    }

    /// Rebuilds every read model in one pass over the log, and swaps each in; events read.
    /// Each page is read once and folded into all the models' scratch tables at the same time
    /// (a task per model), rather than the log being read once per model, one model after
    /// another. A model that cannot fold an event stops its rebuild (its live table stays);
    /// the others go on, and the first such error is returned at the end.
    pub async fn rebuild_all(&self, log: &EventLog<B>, progress: &(dyn Fn(u64) + Sync)) -> Result<u64, ProjectorError> {
        let batch = self.rebuild_batch;
        let mut pages = Vec::new();
        let models = each_model!(self, |projection, model, _status| {
            // Two pages in flight per model: reading runs ahead of the slowest fold by that.
            let (sender, receiver) = tokio::sync::mpsc::channel(2);
            pages.push(sender);
            tokio::spawn(rebuild_from_pages(projection, model.clone(), receiver, log.clone(), batch))
        });
        let mut read = 0;
        let mut log_pages = Box::pin(log.read_to_head(0, batch));
        let reading = async {
            while let Some(page) = log_pages.next().await {
                let page = Arc::new(page.map_err(RunError::Store)?);
                read += page.len() as u64;
                for sender in &pages {
                    // A model whose rebuild stopped has dropped its receiver: skip it.
                    let _ = sender.send(page.clone()).await;
                }
                progress(read);
            }
            Ok::<_, ProjectorError>(())
        };
        let reading = reading.await;
        drop(pages);
        let mut first_error = reading.err();
        for model in models {
            let result = model.await.map_err(|e| RunError::Store(StoreError::Database(format!("a rebuild task: {e}"))));
            if let Err(e) = result.and_then(|r| r) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(read), Err)
    }

    /// Rows of read model `name` that differ from a rebuild at the same checkpoint.
    pub async fn verify(&self, name: &str, log: &EventLog<B>, limit: usize) -> Result<Vec<String>, ProjectorError> {
        by_name!(self, name, |projection, model| verify(&projection, model, log, self.rebuild_batch, limit).await)
    }

    /// Each read model's checkpoint as stored (what a runner resumes from).
    pub async fn checkpoints(&self) -> Result<Vec<(&'static str, i64)>, StoreError> {
        let mut checkpoints = Vec::with_capacity(Self::NAMES.len());
        for name in Self::NAMES {
            let position = by_name!(self, name, |_projection, model| model.checkpoint().await.map_err(RunError::Store))
                .map_err(|e| match e {
                    RunError::Store(e) => e,
                    RunError::Projection(e) => StoreError::Database(e.to_string()),
                })?;
            checkpoints.push((name, position));
        }
        Ok(checkpoints)
    }

    pub fn statuses(&self) -> Vec<Arc<ProjectionStatus>> {
        each_model!(self, |_projection, _model, status| status.clone()).into()
    }
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
    live: &crate::TableStore<P, T, S>,
    log: &EventLog<B>,
    batch: usize,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<u64, ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: crate::SqlTable<P>,
    S: crate::SqlStore,
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
async fn rebuild_from_pages<P, T, S, B>(
    projection: P,
    live: crate::TableStore<P, T, S>,
    mut pages: tokio::sync::mpsc::Receiver<Arc<Vec<convo_domain::LogEvent>>>,
    log: EventLog<B>,
    batch: usize,
) -> Result<(), ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: crate::SqlTable<P>,
    S: crate::SqlStore,
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
    live: &crate::TableStore<P, T, S>,
    log: &EventLog<B>,
    batch: usize,
    limit: usize,
) -> Result<Vec<String>, ProjectorError>
where
    P: Projection,
    P::Row: serde::Serialize + serde::de::DeserializeOwned,
    T: crate::SqlTable<P>,
    S: crate::SqlStore,
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
