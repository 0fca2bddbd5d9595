//! The one way to follow the log: a catch-up subscription. A [`Follower`] (a read model's
//! runner, the bus publisher, the live stream's pump; webhooks next) says where it resumes and
//! what it does with a batch of events; [`follow`] does the rest for all of them: it tails the
//! log from there in batches, stores a checkpoint that nothing else moves at most every
//! [`CHECKPOINT_EVERY`] and when the log goes quiet, keeps the follower's
//! [`ProjectionStatus`] and lag metric, and starts it again after a failure on the
//! [`Backoff`](crate::Backoff) schedule, under a [`Lease`] so that of several processes one
//! runs each follower (decision 0003).

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::watch;

use crate::lease::Held;
use crate::{Backend, Backoff, EventLog, Fence, Lease, LogEvent, StoreError};

/// Where a follower resumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Its stored checkpoint: what [`Follower::store`] moves on from.
    pub stored: i64,
    /// Everything up to here is handled (at or after `stored`: a publisher's stream may hold
    /// more than its checkpoint says).
    pub handled: i64,
}

impl Start {
    pub fn at(position: i64) -> Self {
        Self { stored: position, handled: position }
    }
}

/// What [`Follower::handle`] did with the checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It stored the batch's last position as its checkpoint, with what it wrote.
    Stored,
    /// It left the checkpoint where it was: the subscription stores it later (lazily).
    Held,
}

/// Why a follower stopped handling events.
#[derive(Debug, thiserror::Error)]
pub enum FollowError {
    /// It cannot go on (a read model that cannot fold an event): it stops, having handled
    /// everything up to `handled`, and its status says why until an operator fixes it.
    #[error("{reason}")]
    Stop { reason: String, handled: i64 },
    /// Its stored checkpoint moved under it (another process follows too, or a rebuild swapped
    /// a table in): it starts again at once from what is stored.
    #[error("the checkpoint moved")]
    Moved,
    /// Something it needs is away (the store, NATS): it starts again after the backoff.
    #[error("{0}")]
    Retry(String),
}

impl From<StoreError> for FollowError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Self::Moved,
            e => Self::Retry(e.to_string()),
        }
    }
}

/// What follows the log, in log order, from a checkpoint of its own.
pub trait Follower: Send + 'static {
    /// Where it resumes (read again at every start, so after a failure it resumes from what is
    /// stored, not from what it had handled in memory). Its checkpoint is to move only while
    /// `fence` holds, when it runs under a lease.
    fn start(&mut self, fence: Option<Fence>) -> impl Future<Output = Result<Start, FollowError>> + Send;

    /// Handles the next `events` (all after `progress.handled`). It may store the checkpoint
    /// with what it writes, moving it from `progress.stored` to the batch's last position.
    fn handle(
        &mut self,
        events: &[Arc<LogEvent>],
        progress: Start,
    ) -> impl Future<Output = Result<Handled, FollowError>> + Send;

    /// Moves its stored checkpoint from `from` to `to` (nothing else to write).
    fn store(&mut self, from: i64, to: i64) -> impl Future<Output = Result<(), FollowError>> + Send;
}

/// Runs `follower` on `log` for ever (until it stops), `batch` events at most at a time. With a
/// `lease`, only while this process holds it: until then (another process runs it) the
/// follower stands by, its status following the stored checkpoint, and takes over once the
/// lease expires; its writes are fenced by the lease's token.
pub async fn follow<B: Backend, F: Follower>(
    mut follower: F,
    log: EventLog<B>,
    status: Arc<ProjectionStatus>,
    batch: usize,
    lease: Option<Lease<B::Sql>>,
) {
    let mut backoff = Backoff::new();
    // The lease while this runner holds it; let go when the runner ends (or is aborted), so
    // another takes over at once rather than after it expires.
    let mut held: Option<Held<B::Sql>> = None;
    loop {
        let handled = status.position();
        let fence = match (&lease, held.as_ref().map(|h| h.fence.clone())) {
            (None, _) => None,
            // Still ours (the follower restarts after its checkpoint moved, say): go on with it.
            (Some(lease), Some(fence)) => match lease.renew(&fence).await {
                Ok(true) => Some(fence),
                Ok(false) => {
                    held = None;
                    continue;
                }
                Err(e) => {
                    status.fail(e.to_string());
                    backoff.wait().await;
                    continue;
                }
            },
            (Some(lease), None) => match lease.acquire().await {
                Ok(Some(fence)) => {
                    held = Some(lease.held(fence.clone()));
                    Some(fence)
                }
                Ok(None) => {
                    // Another process runs it: what it stores is what this process's readers see.
                    if let Ok(start) = follower.start(None).await {
                        status.advance(start.handled);
                    }
                    tokio::time::sleep(lease.renew_every()).await;
                    continue;
                }
                Err(e) => {
                    status.fail(e.to_string());
                    backoff.wait().await;
                    continue;
                }
            },
        };
        let holding = lease.as_ref().zip(fence);
        match subscribe(&mut follower, &log, &status, batch, holding).await {
            Ok(never) => match never {},
            Err(FollowError::Stop { reason, handled }) => {
                tracing::error!(follower = status.name, error = %reason, "stopped");
                status.advance(handled);
                status.stop(reason);
                return;
            }
            Err(FollowError::Moved) => {
                tracing::debug!(follower = status.name, "its checkpoint moved; resuming from it");
                continue;
            }
            Err(FollowError::Retry(reason)) => {
                tracing::warn!(follower = status.name, error = %reason, "failing; retrying");
                metrics::counter!("convo_follower_errors_total", "follower" => status.name).increment(1);
                status.fail(reason);
            }
        }
        if status.position() > handled {
            backoff.reset(); // it made progress before failing: not a run of failures
        }
        backoff.wait().await;
    }
}

enum Never {}

/// One catch-up subscription, from the follower's start until an error.
async fn subscribe<B: Backend, F: Follower>(
    follower: &mut F,
    log: &EventLog<B>,
    status: &ProjectionStatus,
    batch: usize,
    lease: Option<(&Lease<B::Sql>, Fence)>,
) -> Result<Never, FollowError> {
    let mut progress = follower.start(lease.as_ref().map(|(_, fence)| fence.clone())).await?;
    // A holder renews its lease while it runs (also while the log is quiet), and stops at once
    // when it finds the lease gone: another process took it over.
    let renew_every = lease.as_ref().map_or(CHECKPOINT_EVERY, |(lease, _)| lease.renew_every());
    let mut renewed_at = Instant::now();
    let mut stored_at = Instant::now();
    // What is stored is what readers see, even below what was handled before (a lazy commit
    // lost in a PostgreSQL crash): read-your-writes waits for it to be handled again.
    status.restart_at(progress.handled);
    status.recover();
    let mut tail = Box::pin(log.tail(progress.handled, batch));
    loop {
        if let Some((lease, fence)) = &lease
            && renewed_at.elapsed() >= renew_every
        {
            if !lease.renew(fence).await? {
                return Err(FollowError::Moved);
            }
            renewed_at = Instant::now();
        }
        let wait = if progress.handled > progress.stored { CHECKPOINT_EVERY.min(renew_every) } else { renew_every };
        let next = match tokio::time::timeout(wait, tail.next()).await {
            Ok(next) => next,
            Err(_quiet) if progress.handled > progress.stored && stored_at.elapsed() >= CHECKPOINT_EVERY => {
                follower.store(progress.stored, progress.handled).await?;
                (progress.stored, stored_at) = (progress.handled, Instant::now());
                continue;
            }
            Err(_quiet) => continue,
        };
        let Some(events) = next else { return Err(FollowError::Retry("the log's tail ended".into())) };
        let events = events?;
        let Some(last) = events.last() else { continue };
        let (last, recorded_at) = (last.position, last.recorded_at);
        match follower.handle(&events, progress).await? {
            Handled::Stored => (progress.stored, stored_at) = (last, Instant::now()),
            Handled::Held if stored_at.elapsed() >= CHECKPOINT_EVERY => {
                follower.store(progress.stored, last).await?;
                (progress.stored, stored_at) = (last, Instant::now());
            }
            Handled::Held => {}
        }
        progress.handled = last;
        status.advance(last);
        // Lag: from the store recording the batch's last event to the follower being done with it.
        let lag = (chrono::Utc::now() - recorded_at).to_std().unwrap_or_default();
        metrics::histogram!("convo_projection_lag_seconds", "projection" => status.name).record(lag.as_secs_f64());
    }
}

/// How long a runner may hold a checkpoint it has not stored, when the events it folded changed
/// no row of its model: at most this much is folded again after a restart, and far fewer
/// transactions are written by models that most events do not touch.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A follower's progress as this process sees it (a read model's, the bus publisher's): for
/// `/readyz`, `convo projections status` and read-your-writes waits.
#[derive(Debug)]
pub struct ProjectionStatus {
    pub name: &'static str,
    position: watch::Sender<i64>,
    error: Mutex<Option<Failure>>,
}

#[derive(Debug, Clone)]
struct Failure {
    reason: String,
    /// It stopped for good (not retrying).
    stopped: bool,
}

impl ProjectionStatus {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, position: watch::Sender::new(0), error: Mutex::new(None) })
    }

    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Changes whenever the position does: what a relay of progress to other nodes follows.
    pub fn changes(&self) -> watch::Receiver<i64> {
        self.position.subscribe()
    }

    /// Why it stopped, or why it is failing while it retries.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|f| f.reason.clone())
    }

    /// Whether it stopped for good (an event it cannot handle), rather than retrying.
    pub fn stopped(&self) -> bool {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).as_ref().is_some_and(|f| f.stopped)
    }

    /// Sets the position to what the store holds, even below the one recorded: a follower that
    /// restarts from its stored checkpoint (a lazy commit lost in a crash) is there again.
    pub fn restart_at(&self, position: i64) {
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

    /// Records why it is failing (it retries).
    pub fn fail(&self, reason: String) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(Failure { reason, stopped: false });
    }

    /// Records why it stopped for good.
    pub fn stop(&self, reason: String) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(Failure { reason, stopped: true });
    }

    /// Clears the error of a follower that works again.
    pub fn recover(&self) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Waits until the follower has handled every event up to `position`, at most `timeout`.
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await.is_ok_and(|r| r.is_ok())
    }
}
