//! convo-store-postgres: the production event store on PostgreSQL.
//!
//! Events are written and read per aggregate by postgres-es; our migrations extend its table
//! with a global position, the writing transaction's id, recorded_at and the workspace, and
//! [`PostgresBackend::read_log`] reads the global log without ever skipping a late commit.

use std::time::Duration;

mod committer;
mod read_models;
pub use read_models::PgSql;

use chrono::{DateTime, Utc};
use convo_store::{Backend, LogEvent, LogFilter, LogNotifier, StoreError};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot};
use postgres_es::PostgresEventRepository;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The embedded migrations, run by `convo migrate` and at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pooled connection idle for longer than this is pinged before it is used.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens a pool; fails (does not panic) when the server is unreachable.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    // Readers of the log wait below the cluster's oldest open transaction (decision 0002): a
    // transaction left open by a cancelled task must not hold every reader back for long.
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Connection(e.to_string()))?
        .options([("idle_in_transaction_session_timeout", "10s")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection before handing it out, on top of the ping when it comes
        // back: a round trip more per query, which under load cost more than the queries
        // themselves (docs/BENCHMARKS.md). Only a connection that sat idle, which a server
        // restart may have closed meanwhile, is pinged first.
        .test_before_acquire(false)
        .before_acquire(|connection, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_WHEN_IDLE_FOR {
                    sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await
        .map_err(map_sqlx)
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
}

/// Whether `err` says the database is away (down, restarting, out of connections) rather than
/// that it refused what it was asked: such a request is worth retrying later (503), not a defect.
fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        // Class 08: connection exceptions; 57P: the server shutting down, crashed or starting
        // ("terminating connection due to administrator command", "… unexpected postmaster
        // exit", "the database system is starting up"); 53300: too many connections.
        sqlx::Error::Database(db) => {
            db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300")
        }
        _ => false,
    }
}

/// The events table's primary key, `(aggregate_type, aggregate_id, sequence)` (named by
/// PostgreSQL after the table: migration 0001 declares it inline).
const SEQUENCE_KEY: &str = "events_pkey";

/// Whether `db` says another writer took one of the sequences first: a violation of the events
/// table's primary key, and of no other unique index. Any other (two events given one position,
/// say) is a defect, which retrying would only repeat.
fn sequence_taken(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code().as_deref() == Some("23505") && db.constraint() == Some(SEQUENCE_KEY)
}

fn map_sqlx(err: sqlx::Error) -> StoreError {
    match err {
        ref e if unavailable(e) => StoreError::Connection(err.to_string()),
        sqlx::Error::Database(ref db) if sequence_taken(&**db) => StoreError::Conflict,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => StoreError::Corrupt(err.to_string()),
        other => StoreError::Database(other.to_string()),
    }
}

#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    repo: Arc<PostgresEventRepository>,
    /// Commits appends together (started by the first append, on its runtime).
    committer: Arc<OnceLock<committer::Committer>>,
}

impl PostgresBackend {
    pub fn new(pool: PgPool) -> Self {
        let repo = Arc::new(PostgresEventRepository::new(pool.clone()));
        Self { pool, repo, committer: Arc::default() }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

const LOG_COLUMNS: &str = "global_position, workspace_id, aggregate_type, aggregate_id, sequence, event_type, \
                           event_version, payload, metadata, recorded_at";

fn log_event(row: &sqlx::postgres::PgRow) -> Result<LogEvent, sqlx::Error> {
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

/// `filter`'s conditions, its values numbered from `$2` in the order [`bind_filter`] binds them.
fn filter_sql(filter: &LogFilter) -> String {
    let conditions = [
        (filter.workspace.is_some(), "workspace_id ="),
        (filter.until_position.is_some(), "global_position <="),
        (filter.since.is_some(), "recorded_at >="),
        (filter.until.is_some(), "recorded_at <"),
        (!filter.event_types.is_empty(), "event_type = ANY"),
    ];
    let used = conditions.iter().filter(|(used, _)| *used).map(|(_, condition)| condition);
    used.zip(2..).map(|(condition, n)| format!(" AND {condition} (${n})")).collect()
}

fn bind_filter<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    filter: &'q LogFilter,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = query;
    if let Some(w) = &filter.workspace {
        query = query.bind(w);
    }
    if let Some(p) = filter.until_position {
        query = query.bind(p);
    }
    if let Some(t) = filter.since {
        query = query.bind(t);
    }
    if let Some(t) = filter.until {
        query = query.bind(t);
    }
    if !filter.event_types.is_empty() {
        query = query.bind(&filter.event_types);
    }
    query
}

impl Backend for PostgresBackend {
    type Sql = read_models::PgSql;

    fn sql(&self) -> Self::Sql {
        read_models::PgSql { pool: self.pool.clone() }
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn position_of(&self, aggregate_type: &str, aggregate_id: &str, sequence: usize) -> Result<i64, StoreError> {
        sqlx::query_scalar(
            "SELECT global_position FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence = $3",
        )
        .bind(aggregate_type)
        .bind(aggregate_id)
        .bind(sequence as i64)
        .fetch_one(&self.pool)
        .await
        .map_err(map_sqlx)
    }

    async fn read_log(&self, after: i64, limit: usize, workspace: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        // Only positions of transactions that have ended are final (see the migration).
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE global_position > $1
                AND global_position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
                {}
              ORDER BY global_position
              LIMIT $2",
            // Two statements rather than `$3 IS NULL OR …`, so each keeps its index plan.
            if workspace.is_some() { "AND workspace_id = $3" } else { "" }
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
            "SELECT {LOG_COLUMNS} FROM events
              WHERE global_position > $1
                AND global_position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)
                {}
              ORDER BY global_position
              LIMIT {limit}",
            filter_sql(filter)
        );
        let rows = bind_filter(sqlx::query(&sql).bind(after), filter).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(log_event).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn count_log_filtered(&self, after: i64, filter: &LogFilter) -> Result<u64, StoreError> {
        let sql = format!("SELECT count(*) FROM events WHERE global_position > $1 {}", filter_sql(filter));
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
              WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence > $3
              ORDER BY sequence LIMIT $4"
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

    /// Concurrent commands are committed together (group commit, see `committer.rs`): one
    /// statement, one transaction, each event taking its position from the column default.
    async fn append<A: cqrs_es::Aggregate>(&self, events: &[SerializedEvent]) -> Result<i64, PersistenceError> {
        let committer = self.committer.get_or_init(|| committer::Committer::start(self.pool.clone()));
        committer.append(A::TYPE, events.to_vec()).await
    }

    async fn idempotent_events(&self, workspace: &str, key: &str) -> Result<Vec<LogEvent>, StoreError> {
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE workspace_id = $1 AND metadata ? 'idempotency_key' AND metadata ->> 'idempotency_key' = $2
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
              WHERE aggregate_type = 'conversation' AND aggregate_id = $1
                AND payload ? 'message_id' AND payload ->> 'message_id' = $2
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

    fn relay_commits(&self, notifier: &LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(announce(self.pool.clone(), notifier.clone())),
            tokio::spawn(listen(self.pool.clone(), notifier.clone())),
        ]
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(map_sqlx)
    }
}

/// The channel commits are announced on.
const CHANNEL: &str = "convo_events";

/// Announces this process's commits with NOTIFY, outside the commands' transactions (a NOTIFY
/// inside them would serialize every commit on the notification queue's lock) and coalesced:
/// while one is in flight, later commits only raise the position the next one carries.
async fn announce(pool: PgPool, notifier: LogNotifier) {
    let mut commits = notifier.local_commits();
    while commits.changed().await.is_ok() {
        let position = *commits.borrow_and_update();
        if let Err(e) =
            sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(position.to_string()).execute(&pool).await
        {
            tracing::debug!(error = %e, "could not announce a commit; readers will poll");
        }
    }
}

/// Wakes this process's tails on other processes' commits.
async fn listen(pool: PgPool, notifier: LogNotifier) {
    let mut backoff = convo_store::Backoff::new();
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "cannot listen for commits; readers will poll");
                backoff.wait().await;
                continue;
            }
        };
        if listener.listen(CHANNEL).await.is_err() {
            backoff.wait().await;
            continue;
        }
        backoff.reset();
        while let Ok(notification) = listener.recv().await {
            if let Ok(position) = notification.payload().parse() {
                notifier.remote(position);
            }
        }
    }
}

/// postgres-es reports a server shutting down or a pool timeout as an unknown error: the
/// database being away is a connection error here, whoever met it.
fn reclassify(err: PersistenceError) -> PersistenceError {
    match err {
        PersistenceError::UnknownError(e) if e.downcast_ref::<sqlx::Error>().is_some_and(unavailable) => {
            PersistenceError::ConnectionError(e)
        }
        other => other,
    }
}

impl PersistedEventRepository for PostgresBackend {
    async fn get_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_events::<A>(aggregate_id).await.map_err(reclassify)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_last_events::<A>(aggregate_id, last_sequence).await.map_err(reclassify)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.repo.get_snapshot::<A>(aggregate_id).await.map_err(reclassify)
    }

    /// Events alone go through [`Backend::append`]: postgres-es reports every unique violation
    /// as a conflict, ours only a taken sequence. (Snapshots are not used; see ARCHITECTURE.md.)
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match snapshot_update {
            None if events.is_empty() => Ok(()),
            None => self.append::<A>(events).await.map(|_| ()),
            Some(_) => self.repo.persist::<A>(events, snapshot_update).await.map_err(reclassify),
        }
    }

    async fn stream_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_events::<A>(aggregate_id).await.map_err(reclassify)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_all_events::<A>().await.map_err(reclassify)
    }
}
