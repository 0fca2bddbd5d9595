//! convo-store-sqlite: the embedded event store, one SQLite file, for `convo serve` on a bare
//! machine. Same contract as PostgreSQL: events through sqlite-es, our migrations add the global
//! position, recorded_at and the workspace. Durable by default: WAL with `synchronous=FULL`
//! (sqlite-es's default pool uses NORMAL, which can lose the last commits on power loss).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

mod read_models;
pub use read_models::SqliteSql;

use chrono::{DateTime, Utc};
use convo_store::{Backend, LogEvent, LogFilter, StoreError, detached};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot};
use serde_json::Value;
use sqlite_es::SqliteEventRepository;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

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
    SqlitePoolOptions::new().max_connections(4).connect_with(options).await.map_err(map_sqlx)
}

pub async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
}

/// Whether `db` says another writer took one of the sequences first: a violation of the events
/// table's primary key (SQLITE_CONSTRAINT_PRIMARYKEY, 1555, on `events`: SQLite names no
/// constraint, only its columns), and of no other unique index. Any other (SQLITE_CONSTRAINT_UNIQUE,
/// 2067: two events given one position, say) is a defect, which retrying would only repeat.
fn sequence_taken(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code().as_deref() == Some("1555") && db.message().starts_with("UNIQUE constraint failed: events.")
}

fn map_sqlx(err: sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
            StoreError::Connection(err.to_string())
        }
        sqlx::Error::Database(ref db) if sequence_taken(&**db) => StoreError::Conflict,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(err.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

#[derive(Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
    repo: Arc<SqliteEventRepository>,
}

impl SqliteBackend {
    pub fn new(pool: SqlitePool) -> Self {
        let repo = Arc::new(SqliteEventRepository::new(pool.clone()));
        Self { pool, repo }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

const LOG_COLUMNS: &str = "global_position, workspace_id, aggregate_type, aggregate_id, sequence, event_type, \
                           event_version, payload, metadata, recorded_at";

fn log_event(row: &sqlx::sqlite::SqliteRow) -> Result<LogEvent, sqlx::Error> {
    Ok(LogEvent {
        position: row.try_get("global_position")?,
        workspace_id: row.try_get("workspace_id")?,
        aggregate_type: row.try_get("aggregate_type")?,
        aggregate_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get::<Value, _>("payload")?,
        metadata: row.try_get::<Value, _>("metadata")?,
        recorded_at: row.try_get::<DateTime<Utc>, _>("recorded_at")?,
        decoded: Default::default(),
    })
}

/// `filter`'s conditions, its values numbered from `?2` in the order [`bind_filter`] binds them.
fn filter_sql(filter: &LogFilter) -> String {
    let conditions = [
        (filter.workspace.is_some(), "workspace_id = ?"),
        (filter.until_position.is_some(), "global_position <= ?"),
        (filter.since.is_some(), "recorded_at >= ?"),
        (filter.until.is_some(), "recorded_at < ?"),
        (!filter.event_types.is_empty(), "event_type IN (SELECT value FROM json_each(?))"),
    ];
    let used = conditions.iter().filter(|(used, _)| *used).map(|(_, condition)| condition);
    used.zip(2..).map(|(condition, n)| format!(" AND {}", condition.replace('?', &format!("?{n}")))).collect()
}

/// A time as `recorded_at` stores it (milliseconds, text), rounded up: stored times are whole
/// milliseconds, so comparing with the rounded-up time gives the same answer as with the time.
fn recorded_at_text(t: DateTime<Utc>) -> String {
    let below_ms = t.timestamp_subsec_nanos() % 1_000_000;
    let t = if below_ms == 0 { t } else { t + chrono::TimeDelta::nanoseconds(i64::from(1_000_000 - below_ms)) };
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    filter: &'q LogFilter,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    let mut query = query;
    if let Some(w) = &filter.workspace {
        query = query.bind(w);
    }
    if let Some(p) = filter.until_position {
        query = query.bind(p);
    }
    if let Some(t) = filter.since {
        query = query.bind(recorded_at_text(t));
    }
    if let Some(t) = filter.until {
        query = query.bind(recorded_at_text(t));
    }
    if !filter.event_types.is_empty() {
        query = query.bind(Value::from(filter.event_types.clone()).to_string());
    }
    query
}

impl Backend for SqliteBackend {
    type Sql = read_models::SqliteSql;

    fn sql(&self) -> Self::Sql {
        read_models::SqliteSql { pool: self.pool.clone() }
    }

    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn position_of(&self, aggregate_type: &str, aggregate_id: &str, sequence: usize) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT global_position FROM events WHERE aggregate_type = ? AND aggregate_id = ? AND sequence = ?",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence as i64)
        .fetch_one(&self.pool)
        .await
        .map_err(map_sqlx)
    }

    async fn read_log(&self, after: i64, limit: usize, workspace: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE global_position > ?1 {}
              ORDER BY global_position LIMIT ?2",
            if workspace.is_some() { "AND workspace_id = ?3" } else { "" }
        );
        let mut query = sqlx::query(&sql).bind(after).bind(limit as i64);
        if let Some(w) = workspace {
            query = query.bind(w);
        }
        let rows = query.fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(log_event).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn read_log_filtered(
        &self,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<LogEvent>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events WHERE global_position > ?1 {} ORDER BY global_position LIMIT {limit}",
            filter_sql(filter)
        );
        let rows = bind_filter(sqlx::query(&sql).bind(after), filter).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(log_event).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn count_log_filtered(&self, after: i64, filter: &LogFilter) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM events WHERE global_position > ?1 {}", filter_sql(filter));
        let row = bind_filter(sqlx::query(&sql).bind(after), filter).fetch_one(&self.pool).await.map_err(map_sqlx)?;
        Ok(u64::try_from(row.try_get::<i64, _>(0).map_err(map_sqlx)?).unwrap_or(0))
    }

    async fn aggregate_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE aggregate_type = ?1 AND aggregate_id = ?2 AND sequence > ?3
              ORDER BY sequence LIMIT ?4"
        );
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(aggregate_id)
            .bind(after_sequence)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx)?;
        rows.iter().map(log_event).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    /// The events and their last position in one IMMEDIATE transaction: the write lock is
    /// taken (waiting on the busy handler) before anything is read, so a concurrent commit can
    /// never make the transaction fail with "database is locked".
    async fn append<A: Aggregate>(&self, events: &[SerializedEvent]) -> Result<i64, PersistenceError> {
        let last = events.last().ok_or_else(|| PersistenceError::UnknownError("no events to append".into()))?;
        let map = |e: sqlx::Error| match map_sqlx(e) {
            StoreError::Conflict => PersistenceError::OptimisticLockError,
            StoreError::Connection(reason) => PersistenceError::ConnectionError(reason.into()),
            other => PersistenceError::UnknownError(Box::new(other)),
        };
        // In a task of its own: a cancelled `begin` must not leave the connection in a transaction.
        let (pool, events, aggregate_type) = (self.pool.clone(), events.to_vec(), A::TYPE);
        let (last_id, last_sequence) = (last.aggregate_id.clone(), last.sequence as i64);
        detached(async move {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(map)?;
            for event in &events {
                sqlx::query(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(aggregate_type)
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
            .bind(aggregate_type)
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

    async fn idempotent_events(&self, workspace: &str, key: &str) -> Result<Vec<LogEvent>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE workspace_id = ?1 AND json_extract(metadata, '$.idempotency_key') = ?2
              ORDER BY global_position"
        );
        let rows = sqlx::query(&sql).bind(workspace).bind(key).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(log_event).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn message_events(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
               FROM events
              WHERE aggregate_type = 'conversation' AND aggregate_id = ?
                AND json_extract(payload, '$.message_id') = ?
              ORDER BY sequence",
        )
        .bind(conversation_id)
        .bind(message_id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?;
        rows.iter()
            .map(|row| {
                Ok(SerializedEvent::new(
                    row.try_get("aggregate_id")?,
                    row.try_get::<i64, _>("sequence")? as usize,
                    row.try_get("aggregate_type")?,
                    row.try_get("event_type")?,
                    row.try_get("event_version")?,
                    row.try_get::<Value, _>("payload")?,
                    row.try_get::<Value, _>("metadata")?,
                ))
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(map_sqlx)
    }

    async fn head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(map_sqlx)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(map_sqlx)
    }
}

impl PersistedEventRepository for SqliteBackend {
    async fn get_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_events::<A>(aggregate_id).await
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_last_events::<A>(aggregate_id, last_sequence).await
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.repo.get_snapshot::<A>(aggregate_id).await
    }

    /// sqlite-es reports 1555 alone as a conflict, and events alone (snapshots are not used)
    /// can only break the events table's primary key with it: the same mapping as `append`'s.
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        self.repo.persist::<A>(events, snapshot_update).await
    }

    async fn stream_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_events::<A>(aggregate_id).await
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_all_events::<A>().await
    }
}
