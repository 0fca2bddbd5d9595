//! The global log: every event of every aggregate, in commit order, read in batches and tailed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::watch;

pub use convo_domain::LogEvent;

use crate::{Backend, StoreError};

/// Which events a filtered read of the log returns; the default returns every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Only this workspace's events.
    pub workspace: Option<String>,
    /// Only events at or below this position.
    pub until_position: Option<i64>,
    /// Only events recorded at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events recorded before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only events of these types (empty: all types).
    pub event_types: Vec<String>,
}

impl LogFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &LogEvent) -> bool {
        self.workspace.as_ref().is_none_or(|w| event.workspace_id.as_ref() == Some(w))
            && self.until_position.is_none_or(|p| event.position <= p)
            && self.since.is_none_or(|t| event.recorded_at >= t)
            && self.until.is_none_or(|t| event.recorded_at < t)
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
    }
}

/// Wakes tailing readers when events are committed: at once for this process's commits, and
/// for other processes' commits when the backend relays them (LISTEN/NOTIFY on PostgreSQL);
/// polling covers anything missed.
#[derive(Debug, Clone)]
pub struct LogNotifier {
    /// Commits made by this process: what a backend relays to the others.
    local: watch::Sender<i64>,
    /// Any commit this process learnt about: what tails wait on.
    any: watch::Sender<i64>,
}

impl Default for LogNotifier {
    fn default() -> Self {
        Self { local: watch::Sender::new(0), any: watch::Sender::new(0) }
    }
}

fn raise(sender: &watch::Sender<i64>, position: i64) {
    sender.send_if_modified(|seen| {
        let newer = position > *seen;
        if newer {
            *seen = position;
        }
        newer
    });
}

impl LogNotifier {
    /// This process committed up to `position`.
    pub fn committed(&self, position: i64) {
        raise(&self.local, position);
        raise(&self.any, position);
    }

    /// Another process committed up to `position`.
    pub fn remote(&self, position: i64) {
        raise(&self.any, position);
    }

    /// Changes whenever any commit is learnt about.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.any.subscribe()
    }

    /// Changes whenever this process commits.
    pub fn local_commits(&self) -> watch::Receiver<i64> {
        self.local.subscribe()
    }
}

/// Reads and tails the global log of one backend.
#[derive(Clone)]
pub struct EventLog<B> {
    backend: B,
    notifier: LogNotifier,
    poll_interval: Duration,
}

impl<B: Backend> EventLog<B> {
    pub fn new(backend: B, notifier: LogNotifier) -> Self {
        Self { backend, notifier, poll_interval: Duration::from_millis(200) }
    }

    /// What wakes this log's tails; a backend relays commits through it.
    pub fn notifier(&self) -> &LogNotifier {
        &self.notifier
    }

    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Up to `limit` events after position `after`, in commit order.
    pub async fn read(&self, after: i64, limit: usize) -> Result<Vec<LogEvent>, StoreError> {
        self.backend.read_log(after, limit, None).await
    }

    /// Up to `limit` events of one workspace after position `after`, in commit order.
    pub async fn read_workspace(
        &self,
        workspace_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, StoreError> {
        self.backend.read_log(after, limit, Some(workspace_id)).await
    }

    /// Up to `limit` events matching `filter` after position `after`, in commit order.
    pub async fn read_filtered(
        &self,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<LogEvent>, StoreError> {
        self.backend.read_log_filtered(after, limit, filter).await
    }

    /// How many events after position `after` match `filter` now.
    pub async fn count_filtered(&self, after: i64, filter: &LogFilter) -> Result<u64, StoreError> {
        self.backend.count_log_filtered(after, filter).await
    }

    /// Waits until every event up to `position` is readable (on PostgreSQL, transactions
    /// still open below it have ended), so reads bounded by it see all there will ever be.
    pub async fn settle(&self, position: i64) -> Result<(), StoreError> {
        // read_log never returns an event while one before it may still become visible.
        while position > 0 && self.backend.read_log(position - 1, 1, None).await?.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// One aggregate's events after `after_sequence`, in sequence order.
    pub async fn read_aggregate(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, StoreError> {
        self.backend.aggregate_events(aggregate_type, aggregate_id, after_sequence, limit).await
    }

    /// The position of the latest committed event (0 for an empty log).
    pub async fn head(&self) -> Result<i64, StoreError> {
        self.backend.head().await
    }

    /// Every event after `after` up to the head of the log as it is now, in batches: waits for
    /// transactions still in flight below the head instead of stopping short of them.
    pub fn read_to_head(
        &self,
        after: i64,
        batch: usize,
    ) -> impl Stream<Item = Result<Vec<LogEvent>, StoreError>> + Send + 'static {
        let start = (after, None, self.backend.clone());
        // The state is None after an error: the stream ends there.
        futures::stream::unfold(Some(start), move |state| async move {
            let (mut after, head, backend) = state?;
            let head = match head {
                Some(head) => head,
                None => match backend.head().await {
                    Ok(head) => head,
                    Err(e) => return Some((Err(e), None)),
                },
            };
            while after < head {
                match backend.read_log(after, batch, None).await {
                    Err(e) => return Some((Err(e), None)),
                    // Below the head but not final yet: an older transaction is still open.
                    Ok(events) if events.is_empty() => tokio::time::sleep(Duration::from_millis(5)).await,
                    Ok(events) => {
                        after = events.last().map_or(after, |e| e.position);
                        return Some((Ok(events), Some((after, Some(head), backend))));
                    }
                }
            }
            None
        })
    }

    /// Batches of events after `after`, for ever: catches up, then waits for commits (woken by
    /// this process's commits, or by polling for other writers). Ends only on an error.
    pub fn tail(
        &self,
        after: i64,
        batch: usize,
    ) -> impl Stream<Item = Result<Vec<LogEvent>, StoreError>> + Send + 'static {
        let poll = self.poll_interval;
        let start = (after, self.backend.clone(), self.notifier.subscribe());
        futures::stream::unfold(Some(start), move |state| async move {
            let (mut after, backend, mut wake) = state?;
            let mut retry = Duration::from_millis(5);
            loop {
                // A commit from here on wakes the wait below, so none is missed between the
                // read and the wait.
                wake.mark_unchanged();
                match backend.read_log(after, batch, None).await {
                    Err(e) => return Some((Err(e), None)),
                    Ok(events) if !events.is_empty() => {
                        after = events.last().map_or(after, |e| e.position);
                        return Some((Ok(events), Some((after, backend, wake))));
                    }
                    // A commit we know of is not readable yet (on PostgreSQL, an older
                    // transaction is still open): look again soon rather than at the next wake.
                    Ok(_) if *wake.borrow() > after => {
                        tokio::time::sleep(retry.min(poll)).await;
                        retry = (retry * 2).min(Duration::from_millis(200));
                    }
                    Ok(_) => {
                        // The notifier is gone (engine shutting down): fall back to polling.
                        if let Ok(Err(_closed)) = tokio::time::timeout(poll, wake.changed()).await {
                            tokio::time::sleep(poll).await;
                        }
                    }
                }
            }
        })
    }
}
