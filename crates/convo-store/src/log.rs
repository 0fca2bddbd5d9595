//! The global log: every event of every aggregate, in commit order, read in batches and tailed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::Stream;
use tokio::sync::{broadcast, watch};

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
    /// Only the events at these positions (empty: at any).
    pub positions: Vec<i64>,
}

impl LogFilter {
    /// Whether `event` passes the filter.
    pub fn matches(&self, event: &LogEvent) -> bool {
        self.workspace.as_ref().is_none_or(|w| event.workspace_id.as_ref() == Some(w))
            && self.until_position.is_none_or(|p| event.position <= p)
            && self.since.is_none_or(|t| event.recorded_at >= t)
            && self.until.is_none_or(|t| event.recorded_at < t)
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && (self.positions.is_empty() || self.positions.contains(&event.position))
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
    /// The reader every tail of this log (and its clones) shares.
    feed: Arc<Feed>,
}

impl<B: Backend> EventLog<B> {
    pub fn new(backend: B, notifier: LogNotifier) -> Self {
        Self { backend, notifier, poll_interval: Duration::from_millis(200), feed: Arc::default() }
    }

    /// What wakes this log's tails; a backend relays commits through it.
    pub fn notifier(&self) -> &LogNotifier {
        &self.notifier
    }

    #[must_use]
    pub fn with_poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        // Tails of this log follow their own feed, polling at this interval.
        self.feed = Arc::default();
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
    ///
    /// Every tail of this log (and of its clones) shares one reader of the log, the [`Feed`]: a
    /// tail reads the log itself only to catch up, then takes the pages the feed has read and
    /// decoded once for all of them.
    pub fn tail(
        &self,
        after: i64,
        batch: usize,
    ) -> impl Stream<Item = Result<Vec<Arc<LogEvent>>, StoreError>> + Send + 'static {
        let batch = batch.max(1);
        let start = Tail { after, batch, log: self.clone(), pages: None, mode: Mode::Unsubscribed };
        futures::stream::unfold(Some(start), move |state| async move {
            let mut tail = state?;
            match tail.next().await {
                Ok(events) => Some((Ok(events), Some(tail))),
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

/// A page the feed read: every event after position `after` up to the last one's, in log order.
struct Page {
    after: i64,
    events: Vec<Arc<LogEvent>>,
}

/// The one reader of the log that all of a process's tails share (the read models' runners, the
/// bus publisher, the live stream, `convo events tail`): it follows the log from its readable
/// head and broadcasts each page it reads, so the log is read and decoded once per process
/// rather than once per follower. It starts with the first tail and ends when the last one is
/// dropped.
#[derive(Default)]
struct Feed {
    running: std::sync::Mutex<Option<Run>>,
}

/// A running feed, as tails find it.
struct Run {
    /// Its broadcast; the feed's task holds the only strong sender.
    pages: broadcast::WeakSender<Arc<Page>>,
    /// Up to where it has broadcast (`None` until it has started): a tail subscribing now gets
    /// every page after it, and reads up to it from the log itself. Changed only under the
    /// lock of [`Feed::running`], together with each broadcast.
    covered: watch::Receiver<Option<i64>>,
}

/// What a tail gets when it subscribes: the pages from now on, and up to where the feed had
/// broadcast before (or, for a feed that has not started yet, where it will start).
struct Subscription {
    pages: broadcast::Receiver<Arc<Page>>,
    covered: watch::Receiver<Option<i64>>,
    covered_now: Option<i64>,
}

/// Pages the broadcast holds for a tail that has not taken them yet; one that falls further
/// behind reads the log itself until it has caught up. Small: a page is only freed once every
/// tail has taken it (or it is overwritten), so this bounds the memory a slow tail pins (with
/// 64, a 100 000-event backlog took the server's peak RSS from 106 to 240 MiB).
const FEED_PAGES: usize = 8;

/// Events per page the feed reads.
const FEED_BATCH: usize = 500;

impl<B: Backend> EventLog<B> {
    /// The running feed's broadcast, starting the feed if none runs.
    fn subscribe(&self) -> Subscription {
        let mut running = self.feed.running.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(run) = running.as_ref()
            && let Some(sender) = run.pages.upgrade()
        {
            let covered = run.covered.clone();
            let covered_now = *covered.borrow();
            return Subscription { pages: sender.subscribe(), covered, covered_now };
        }
        let (sender, pages) = broadcast::channel(FEED_PAGES);
        let (covered_tx, covered) = watch::channel(None);
        *running = Some(Run { pages: sender.downgrade(), covered: covered.clone() });
        tokio::spawn(self.clone().feed(sender, covered_tx));
        Subscription { pages, covered, covered_now: None }
    }

    /// The feed's task: follows the log from its readable head while anyone listens.
    async fn feed(self, sender: broadcast::Sender<Arc<Page>>, covered: watch::Sender<Option<i64>>) {
        let lock = || self.feed.running.lock().unwrap_or_else(|e| e.into_inner());
        let mut wake = self.notifier.subscribe();
        let mut after = None;
        let mut retry = HORIZON_RETRY;
        let mut backoff = crate::Backoff::new();
        loop {
            {
                let running = lock();
                if sender.receiver_count() == 0 {
                    // Under the lock: nobody can subscribe to this sender any more.
                    drop(running);
                    return;
                }
            }
            wake.mark_unchanged();
            let read = match after {
                // Start at the head, once every event up to it is readable: the tails have
                // read (or will read) everything before it themselves.
                None => match self.backend.head().await {
                    Ok(head) => self.settle(head).await.map(|()| {
                        after = Some(head);
                        let _running = lock();
                        covered.send_replace(after);
                        None
                    }),
                    Err(e) => Err(e),
                },
                Some(position) => self.backend.read_log(position, FEED_BATCH, None).await.map(Some),
            };
            match read {
                Ok(None) => {}
                Ok(Some(events)) if !events.is_empty() => {
                    let position = after.unwrap_or_default();
                    after = events.last().map(|e| e.position);
                    let full = events.len() == FEED_BATCH;
                    // No receivers is fine: the check above ends the feed.
                    let events = events.into_iter().map(Arc::new).collect();
                    {
                        // What a tail subscribing now finds covered, and the pages it gets, agree.
                        let _running = lock();
                        covered.send_replace(after);
                        let _ = sender.send(Arc::new(Page { after: position, events }));
                    }
                    retry = HORIZON_RETRY;
                    if !full {
                        // Caught up: let a few commits gather before reading again, rather
                        // than one page (and one transaction per read model) per commit.
                        tokio::time::sleep(FOLD_COALESCE).await;
                    }
                }
                // A commit we know of is not readable yet (on PostgreSQL, an older transaction
                // is still open): look again soon rather than at the next wake.
                Ok(Some(_)) if *wake.borrow() > after.unwrap_or_default() => {
                    metrics::counter!("convo_log_horizon_waits_total").increment(1);
                    tokio::time::sleep(retry.min(self.poll_interval)).await;
                    retry = (retry * 2).min(HORIZON_RETRY_MAX);
                }
                Ok(Some(_)) => {
                    // The notifier is gone (engine shutting down): fall back to polling.
                    if let Ok(Err(_closed)) = tokio::time::timeout(self.poll_interval, wake.changed()).await {
                        tokio::time::sleep(self.poll_interval).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the log feed cannot read the log; retrying");
                    metrics::counter!("convo_store_errors_total", "component" => "log_feed").increment(1);
                    backoff.wait().await;
                    continue;
                }
            }
            backoff.reset();
        }
    }
}

/// How soon the feed looks again when a commit it knows of is not readable yet, doubling up to
/// [`HORIZON_RETRY_MAX`].
const HORIZON_RETRY: Duration = Duration::from_millis(2);
const HORIZON_RETRY_MAX: Duration = Duration::from_millis(20);

/// How long a caught-up feed waits before reading again: at most this much more lag, and far
/// fewer pages (so fewer read-model transactions) under load (see docs/BENCHMARKS.md).
const FOLD_COALESCE: Duration = Duration::from_millis(5);

/// One tail's state: where it is, and how it gets the next events.
struct Tail<B> {
    after: i64,
    batch: usize,
    log: EventLog<B>,
    /// The feed's broadcast, once subscribed.
    pages: Option<broadcast::Receiver<Arc<Page>>>,
    mode: Mode,
}

/// How a tail gets its next events.
enum Mode {
    /// Not subscribed to the feed: at first, and after the feed ended (its runtime stopped).
    Unsubscribed,
    /// Subscribed to a feed that has not started yet (it waits for the head to be readable):
    /// reading what is readable from the log itself until the feed says where it starts.
    Starting(watch::Receiver<Option<i64>>),
    /// Reading the log itself up to `until`: what the feed had covered when this tail
    /// subscribed, or where a page it got starts (that page, `then`, comes next). All of it is
    /// readable: the feed read it, or settled it before starting.
    Gap { until: i64, then: Option<Arc<Page>> },
    /// Reading the log itself to its readable end, after falling further behind the feed than
    /// its ring of pages reaches (the ring then holds the latest pages, so the rest follows).
    Direct,
    /// Taking the feed's pages, starting with `pending` if a page is already in hand.
    Following { pending: Option<Arc<Page>> },
}

impl<B: Backend> Tail<B> {
    /// Reads the log itself after this tail's position, up to `until` if given, and moves the
    /// position; whether that reached `until`, or else the log's readable end.
    async fn read_itself(&mut self, until: Option<i64>) -> Result<(Vec<Arc<LogEvent>>, bool), StoreError> {
        let mut events = self.log.backend.read_log(self.after, self.batch, None).await?;
        let mut complete = events.len() < self.batch;
        if let Some(last) = events.last() {
            self.after = last.position;
        }
        if let Some(until) = until {
            complete |= self.after >= until;
            events.retain(|e| e.position <= until);
            if complete {
                // Nothing lies between the last event up to `until` and `until` itself.
                self.after = until;
            }
        }
        Ok((events.into_iter().map(Arc::new).collect(), complete))
    }

    async fn next(&mut self) -> Result<Vec<Arc<LogEvent>>, StoreError> {
        loop {
            // Each arm sets the mode the next step starts in (an error ends the tail).
            match std::mem::replace(&mut self.mode, Mode::Following { pending: None }) {
                Mode::Unsubscribed => {
                    let subscription = self.log.subscribe();
                    self.pages = Some(subscription.pages);
                    self.mode = match subscription.covered_now {
                        Some(covered) => Mode::Gap { until: covered, then: None },
                        None => Mode::Starting(subscription.covered),
                    };
                }
                Mode::Starting(mut starting) => {
                    let start = *starting.borrow_and_update();
                    if let Some(start) = start {
                        self.mode = Mode::Gap { until: start, then: None };
                        continue;
                    }
                    let (events, _) = self.read_itself(None).await?;
                    if !events.is_empty() {
                        self.mode = Mode::Starting(starting);
                        return Ok(events);
                    }
                    self.mode = match tokio::time::timeout(HORIZON_RETRY_MAX, starting.changed()).await {
                        // It stopped before starting (its runtime ends): subscribe again.
                        Ok(Err(_stopped)) => Mode::Unsubscribed,
                        _ => Mode::Starting(starting),
                    };
                }
                Mode::Gap { until, then } if until > self.after => {
                    let (events, complete) = self.read_itself(Some(until)).await?;
                    self.mode = if complete { Mode::Following { pending: then } } else { Mode::Gap { until, then } };
                    if !events.is_empty() {
                        return Ok(events);
                    }
                }
                Mode::Gap { then, .. } => self.mode = Mode::Following { pending: then },
                Mode::Direct => {
                    let (events, complete) = self.read_itself(None).await?;
                    // From the readable end on, the feed's pages (and gaps read directly) carry the rest.
                    self.mode = if complete { Mode::Following { pending: None } } else { Mode::Direct };
                    if !events.is_empty() {
                        return Ok(events);
                    }
                }
                Mode::Following { pending } => {
                    if let Some(events) = self.take_pages(pending).await {
                        return Ok(events);
                    }
                }
            }
        }
    }

    /// The events of the next page and of those already waiting, up to a batch: a tail slower
    /// than the feed folds several pages at once. `None` when it got none (the mode says what
    /// to do next: read a gap, read directly, subscribe again).
    async fn take_pages(&mut self, pending: Option<Arc<Page>>) -> Option<Vec<Arc<LogEvent>>> {
        let Some(pages) = self.pages.as_mut() else {
            self.mode = Mode::Unsubscribed;
            return None;
        };
        let page = match pending {
            Some(page) => page,
            None => match pages.recv().await {
                Ok(page) => page,
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    self.mode = Mode::Direct;
                    return None;
                }
                // The feed ended (its runtime stopped): start another, which tells this tail up
                // to where to read the log itself.
                Err(broadcast::error::RecvError::Closed) => {
                    self.mode = Mode::Unsubscribed;
                    return None;
                }
            },
        };
        let mut events = Vec::new();
        let mut next = Some(page);
        while let Some(page) = next.take() {
            if page.after > self.after {
                // Events between where this tail is and the page's start came before it
                // subscribed, or in pages it missed: read them from the log first.
                self.mode = if events.is_empty() {
                    Mode::Gap { until: page.after, then: Some(page) }
                } else {
                    Mode::Following { pending: Some(page) }
                };
                break;
            }
            let unseen = page.events.iter().filter(|e| e.position > self.after);
            events.extend(unseen.cloned());
            self.after = self.after.max(page.events.last().map_or(self.after, |e| e.position));
            if events.len() >= self.batch {
                break;
            }
            next = match pages.try_recv() {
                Ok(page) => Some(page),
                Err(broadcast::error::TryRecvError::Lagged(_)) => {
                    self.mode = Mode::Direct;
                    None
                }
                Err(_empty_or_closed) => None,
            };
        }
        (!events.is_empty()).then_some(events)
    }
}
