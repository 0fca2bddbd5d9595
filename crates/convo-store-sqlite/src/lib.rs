//! convo-store-sqlite: the embedded event store, one SQLite file, for `convo serve` on a bare
//! machine. The SQL adapter (convo-store-sql) on SQLite's [`SqliteDialect`]: same contract as
//! PostgreSQL, sqlite-es reads each aggregate's events, our migrations add the global position,
//! recorded_at and the workspace. Durable by default: WAL with `synchronous=FULL` (sqlite-es's
//! default pool uses NORMAL, which can lose the last commits on power loss).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use convo_store::{Durability, StoreError, detached};
use convo_store_sql::{Dialect, Query, Sql, SqlBackend, persistence_error};
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::error::DatabaseError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteQueryResult, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

/// The embedded migrations, run by `convo migrate` and at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database file inside a data directory.
pub const DATABASE_FILE: &str = "convo.db";

/// Opens (creating if needed) the database file `data_dir/convo.db`.
pub async fn connect(data_dir: &Path) -> Result<SqlitePool, StoreError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::Connection(format!("cannot create {}: {e}", data_dir.display())))?;
    let options = SqliteConnectOptions::new()
        .filename(data_dir.join(DATABASE_FILE))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30));
    SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(SqliteDialect::map_sqlx)
}

pub async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
}

pub type SqliteBackend = SqlBackend<SqliteDialect>;
pub type SqliteSql = Sql<SqliteDialect>;

/// Transactions that write take the write lock up front. A deferred transaction that reads first
/// (DROP TABLE IF EXISTS on a missing table, a guard that matches nothing yet) and writes later
/// fails at once with "database is locked" when another connection committed in between: SQLite
/// cannot upgrade a stale read snapshot and does not call the busy handler for it.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// A time as `recorded_at` stores it (milliseconds, text), rounded up: stored times are whole
/// milliseconds, so comparing with the rounded-up time gives the same answer as with the time.
fn recorded_at_text(t: DateTime<Utc>) -> String {
    let below_ms = t.timestamp_subsec_nanos() % 1_000_000;
    let t = if below_ms == 0 { t } else { t + chrono::TimeDelta::nanoseconds(i64::from(1_000_000 - below_ms)) };
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// SQLite's part of the SQL adapter.
#[derive(Clone, Default)]
pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    type Db = Sqlite;
    type Repository = SqliteEventRepository;
    const NAME: &'static str = "sqlite";
    // One writer at a time: positions are assigned in commit order (decision 0002).
    const READABLE: &'static str = "";

    fn repository(pool: SqlitePool) -> SqliteEventRepository {
        SqliteEventRepository::new(pool)
    }

    fn placeholder(n: usize) -> String {
        format!("?{n}")
    }

    fn json_field_is(column: &str, field: &str, value: &str) -> String {
        format!("json_extract({column}, '$.{field}') = {value}")
    }

    fn is_one_of(column: &str, list: &str) -> String {
        format!("{column} IN (SELECT value FROM json_each({list}))")
    }

    fn bind_texts<'q>(query: Query<'q, Sqlite>, texts: &'q [String]) -> Query<'q, Sqlite> {
        query.bind(Value::from(texts).to_string())
    }

    fn bind_ints<'q>(query: Query<'q, Sqlite>, ints: &'q [i64]) -> Query<'q, Sqlite> {
        query.bind(Value::from(ints).to_string())
    }

    fn bind_time<'q>(query: Query<'q, Sqlite>, time: DateTime<Utc>) -> Query<'q, Sqlite> {
        query.bind(recorded_at_text(time))
    }

    fn begin(_durability: Durability) -> &'static str {
        BEGIN_WRITE
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// SQLite has no CREATE TABLE … LIKE: the live table's own DDL under the new name.
    async fn clone_statements(pool: &SqlitePool, live: &str, scratch: &str) -> Result<Vec<String>, StoreError> {
        let ddl: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL ORDER BY type DESC",
        )
        .bind(live)
        .fetch_all(pool)
        .await
        .map_err(Self::map_sqlx)?;
        if ddl.is_empty() {
            return Err(StoreError::Database(format!("no table {live}")));
        }
        Ok(ddl.iter().map(|statement| statement.replace(live, scratch)).collect())
    }

    /// SQLITE_CONSTRAINT_PRIMARYKEY, 1555, on `events` (SQLite names no constraint, only its
    /// columns); SQLITE_CONSTRAINT_UNIQUE, 2067, is another unique index.
    fn sequence_taken(db: &dyn DatabaseError) -> bool {
        db.code().as_deref() == Some("1555") && db.message().starts_with("UNIQUE constraint failed: events.")
    }

    /// A file has no server to go away; a lost file or worker is an I/O or driver error.
    fn server_away(_db: &dyn DatabaseError) -> bool {
        false
    }

    /// The events and their last position in one IMMEDIATE transaction: the write lock is
    /// taken (waiting on the busy handler) before anything is read, so a concurrent commit can
    /// never make the transaction fail with "database is locked". (The position is the trigger's,
    /// so `RETURNING` cannot give it.)
    async fn append(&self, pool: &SqlitePool, events: &[SerializedEvent]) -> Result<i64, PersistenceError> {
        let last = events.last().ok_or_else(|| PersistenceError::UnknownError("no events to append".into()))?;
        let map = |e| persistence_error(&Self::map_sqlx(e));
        let (pool, events) = (pool.clone(), events.to_vec());
        let (last_type, last_id, last_sequence) =
            (last.aggregate_type.clone(), last.aggregate_id.clone(), last.sequence as i64);
        detached(async move {
            let mut tx = pool.begin_with(BEGIN_WRITE).await.map_err(map)?;
            for event in &events {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(&event.aggregate_type)
                .bind(&event.aggregate_id)
                .bind(event.sequence as i64)
                .bind(&event.event_type)
                .bind(&event.event_version)
                .bind(&event.payload)
                .bind(&event.metadata)
                .execute(&mut *tx)
                .await
                .map_err(map)?;
            }
            let position: i64 = sqlx::query_scalar(
                "SELECT global_position FROM events WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence = ?3",
            )
            .bind(&last_type)
            .bind(&last_id)
            .bind(last_sequence)
            .fetch_one(&mut *tx)
            .await
            .map_err(map)?;
            tx.commit().await.map_err(map)?;
            Ok(position)
        })
        .await
        .map_err(|e| PersistenceError::UnknownError(Box::new(e)))?
    }
}
