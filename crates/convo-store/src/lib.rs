//! convo-store: the write path and the global log, independent of the database.
//!
//! - [`Backend`] is what a database adapter provides on top of cqrs-es's
//!   `PersistedEventRepository`: the global position of a commit and a reader of the global log.
//! - [`AggregateStore`] executes commands: a per-aggregate lock and a versioned in-memory cache
//!   (decided on directly; caught up with `get_last_events` after a conflict, a rejection or a
//!   no-op), optimistic-concurrency conflicts retried, and the
//!   version and position of what was written returned to the caller.
//! - [`Unit`] commits commands on several aggregates together, all or nothing.
//! - [`Engine`] wires the aggregate stores with their lookup services.
//! - [`EventLog`] reads and tails the global log in commit order.

mod aggregate_store;
mod backoff;
mod engine;
mod error;
mod follow;
mod lease;
mod log;
mod sql;
mod unit;

pub use aggregate_store::{AggregateStore, Committed, RetryPolicy};
pub use backoff::Backoff;
pub use engine::{DEFAULT_CACHE_CAPACITY, Engine, INBOX_MAX_AGE, metadata};
pub use error::{CommandError, StoreError};
pub use follow::{CHECKPOINT_EVERY, FollowError, Follower, Handled, ProjectionStatus, Start, follow};
pub use lease::{Fence, Held, LEASE_TTL, Lease, released};
pub use log::{EventLog, LogEvent, LogFilter, LogNotifier};
pub use sql::{Checkpoint, Durability, SqlStore, SqlValue, Statement};
pub use unit::{Decided, Unit};

use std::future::Future;

use cqrs_es::persist::{PersistedEventRepository, SerializedEvent};

/// A database adapter: cqrs-es's repository plus what the global log needs.
pub trait Backend: PersistedEventRepository + Clone + Send + Sync + 'static {
    /// Where this backend keeps read models.
    type Sql: SqlStore;
    fn sql(&self) -> Self::Sql;

    /// A short name for logs: "postgres" or "sqlite".
    fn name(&self) -> &'static str;

    /// The global position of one stored event.
    fn position_of(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: usize,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Up to `limit` events after `after`, in commit order. Never returns an event while an
    /// event before it in that order may still become visible: a reader that checkpoints the
    /// last position it saw never skips one.
    /// With `workspace`, only that workspace's events (same order, same guarantee).
    fn read_log(
        &self,
        after: i64,
        limit: usize,
        workspace: Option<&str>,
    ) -> impl Future<Output = Result<Vec<LogEvent>, StoreError>> + Send;

    /// Up to `limit` events matching `filter` after `after`, in commit order, with
    /// [`Backend::read_log`]'s guarantee. An empty answer means no match up to the last final
    /// position.
    fn read_log_filtered(
        &self,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> impl Future<Output = Result<Vec<LogEvent>, StoreError>> + Send;

    /// How many committed events after `after` match `filter`.
    fn count_log_filtered(
        &self,
        after: i64,
        filter: &LogFilter,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// One aggregate's events after `after_sequence`, in sequence order.
    fn aggregate_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEvent>, StoreError>> + Send;

    /// The events a command with idempotency key `key` wrote in `workspace` (its metadata's
    /// `idempotency_key`), in order.
    fn idempotent_events(
        &self,
        workspace: &str,
        key: &str,
    ) -> impl Future<Output = Result<Vec<LogEvent>, StoreError>> + Send;

    /// The events of one conversation about one message (its `message_id` field), in order.
    fn message_events(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> impl Future<Output = Result<Vec<SerializedEvent>, StoreError>> + Send;

    /// Appends events atomically, each under its own aggregate type and id: one command's (one
    /// stream, consecutive sequences), or several streams' decided together ([`Unit`]), all or
    /// nothing. Returns the global position of the last one. A sequence already taken, in any
    /// of the streams, is `OptimisticLockError`, and nothing is written.
    fn append(
        &self,
        events: &[SerializedEvent],
    ) -> impl Future<Output = Result<i64, cqrs_es::persist::PersistenceError>> + Send;

    /// The position of the latest committed event (0 for an empty log). Events up to it may
    /// not all be readable yet on PostgreSQL, while transactions that started before them run.
    fn head(&self) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Relays commits between processes, so tails everywhere wake at once: this process's
    /// commits out, other processes' in. Backends with a single process (SQLite) need nothing.
    fn relay_commits(&self, _notifier: &LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }

    /// Relays followers' progress between processes (`convo serve --role worker` and `api`):
    /// the positions of `announce` (this process's runners) out, as they move, and other
    /// processes' into `follow` (statuses of the same names here), so a read-your-writes wait on
    /// a node that runs no runner ends as soon as a worker has folded. Single-process backends
    /// (SQLite) need nothing.
    fn relay_progress(
        &self,
        _announce: Vec<std::sync::Arc<ProjectionStatus>>,
        _follow: Vec<std::sync::Arc<ProjectionStatus>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }

    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Runs `work` (a transaction) to its end even when the caller stops waiting for it (a request
/// that timed out, an aborted task). sqlx 0.8 leaves a connection whose `begin` was cancelled
/// inside a transaction it no longer knows about, and hands it out again: what later runs on it
/// is committed late or rolled back with it, and its open transaction holds back every reader
/// of the log (decision 0002). So the adapters run every transaction in a task of its own.
pub async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::spawn(work).await.map_err(|e| StoreError::Database(format!("a store task failed: {e}")))
}
