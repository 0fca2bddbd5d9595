//! convo-store-sql: the event store written once for every database sqlx drives.
//!
//! [`SqlBackend`] is convo-store's `Backend` (the global log, per-aggregate reads through the
//! database's cqrs-es repository) and [`Sql`] its `SqlStore` (read-model and gateway tables,
//! guarded transactions), generic over a [`Dialect`] that says only what differs between
//! databases. The adapter crates are a dialect each, plus their pools, migrations and appends.

mod log;
mod tables;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use convo_store::{Durability, LogNotifier, StoreError};
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, SerializedEvent};
use sqlx::error::DatabaseError;
use sqlx::{Database, Pool};

pub use tables::Sql;

/// A statement with its values bound so far, on database `DB`.
pub type Query<'q, DB> = sqlx::query::Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// What differs between databases; everything else is written once, here.
pub trait Dialect: Clone + Default + Send + Sync + 'static {
    type Db: Database;
    /// cqrs-es's repository on this database, for per-aggregate reads.
    type Repository: PersistedEventRepository;
    /// A short name for logs: "postgres" or "sqlite".
    const NAME: &'static str;
    /// What `read_log` adds to its condition so that it never returns an event while one before
    /// it may still become visible (decision 0002); empty where assignment order is commit order.
    const READABLE: &'static str;

    fn repository(pool: Pool<Self::Db>) -> Self::Repository;

    /// The n-th (1-based) placeholder: `$n` or `?n`.
    fn placeholder(n: usize) -> String;

    /// The condition "JSON column `column`'s text field `field` equals `value`", written as the
    /// events table's partial indexes on that field are, so that they serve it.
    fn json_field_is(column: &str, field: &str, value: &str) -> String;

    /// `column`, holding JSON text, as a value that compares as JSON (`SqlStore::json_value`).
    fn json_value(column: &str) -> String {
        column.to_owned()
    }

    /// The condition "`column` is one of the texts (or integers) bound at `list`" (see
    /// [`Dialect::bind_texts`], [`Dialect::bind_ints`]).
    fn is_one_of(column: &str, list: &str) -> String;
    fn bind_texts<'q>(query: Query<'q, Self::Db>, texts: &'q [String]) -> Query<'q, Self::Db>;
    fn bind_ints<'q>(query: Query<'q, Self::Db>, ints: &'q [i64]) -> Query<'q, Self::Db>;
    /// Binds a time as `recorded_at` compares with it.
    fn bind_time<'q>(query: Query<'q, Self::Db>, time: DateTime<Utc>) -> Query<'q, Self::Db>;

    /// The statement that begins a transaction that writes, committed with `durability`.
    fn begin(durability: Durability) -> &'static str;

    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// The statements that create `scratch` empty, with the columns, keys and indexes of `live`.
    fn clone_statements(
        pool: &Pool<Self::Db>,
        live: &str,
        scratch: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Whether `db` says another writer took one of the sequences first: a violation of the
    /// events table's primary key, and of no other unique index. Any other (two events given one
    /// position, say) is a defect, which retrying would only repeat.
    fn sequence_taken(db: &dyn DatabaseError) -> bool;

    /// Whether `db` says the server is away (shutting down, out of connections) rather than that
    /// it refused what it was asked.
    fn server_away(db: &dyn DatabaseError) -> bool;

    /// Appends events atomically (`Backend::append`: one stream's, or several streams' all or
    /// nothing), each under its own aggregate type, and returns the global position of the last
    /// one; a sequence already taken is `OptimisticLockError`. Every write of events goes
    /// through it (`persist` too), so only [`Dialect::sequence_taken`] is a conflict.
    fn append(
        &self,
        pool: &Pool<Self::Db>,
        events: &[SerializedEvent],
    ) -> impl Future<Output = Result<i64, PersistenceError>> + Send;

    /// Relays commits between processes (`Backend::relay_commits`); nothing by default.
    fn relay_commits(_pool: &Pool<Self::Db>, _notifier: &LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }

    /// Relays followers' progress between processes (`Backend::relay_progress`); nothing by
    /// default.
    fn relay_progress(
        _pool: &Pool<Self::Db>,
        _announce: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
        _follow: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        Vec::new()
    }

    /// The one mapping of this database's errors to the store's.
    fn map_sqlx(err: sqlx::Error) -> StoreError {
        match err {
            ref e if unavailable::<Self>(e) => StoreError::Connection(err.to_string()),
            sqlx::Error::Database(ref db) if Self::sequence_taken(&**db) => StoreError::Conflict,
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(err.to_string()),
            other => StoreError::Database(other.to_string()),
        }
    }
}

/// Whether `err` says the database is away (down, restarting, out of connections) rather than
/// that it refused what it was asked: such a request is worth retrying later (503), not a defect.
fn unavailable<D: Dialect>(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => D::server_away(&**db),
        _ => false,
    }
}

/// The error each caller of a failed append gets (one store error may answer a whole batch).
pub fn persistence_error(e: &StoreError) -> PersistenceError {
    match e {
        StoreError::Conflict => PersistenceError::OptimisticLockError,
        StoreError::Connection(reason) => PersistenceError::ConnectionError(reason.clone().into()),
        other => PersistenceError::UnknownError(other.to_string().into()),
    }
}

/// The event store on one database: the global log and the events' writes of [`Dialect`] `D`,
/// per-aggregate reads by its cqrs-es repository.
pub struct SqlBackend<D: Dialect> {
    sql: Sql<D>,
    repo: Arc<D::Repository>,
    dialect: D,
}

impl<D: Dialect> Clone for SqlBackend<D> {
    fn clone(&self) -> Self {
        Self { sql: self.sql.clone(), repo: self.repo.clone(), dialect: self.dialect.clone() }
    }
}

impl<D: Dialect> SqlBackend<D> {
    pub fn new(pool: Pool<D::Db>) -> Self {
        let repo = Arc::new(D::repository(pool.clone()));
        Self { sql: Sql::new(pool), repo, dialect: D::default() }
    }

    pub fn pool(&self) -> &Pool<D::Db> {
        &self.sql.pool
    }
}
