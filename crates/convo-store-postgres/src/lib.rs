//! convo-store-postgres: the production event store on PostgreSQL.
//!
//! The SQL adapter (convo-store-sql) on PostgreSQL's [`PostgresDialect`]: postgres-es reads
//! each aggregate's events; our migrations extend its table with a global position, the
//! writing transaction's id, recorded_at and the workspace, and `read_log` reads the global log
//! without ever skipping a late commit. Appends are committed together (`committer.rs`), and
//! commits are announced to other processes with NOTIFY.

use std::time::Duration;

mod committer;

use chrono::{DateTime, Utc};
use convo_store::{Durability, LogNotifier, ProjectionStatus, StoreError};
use convo_store_sql::{Dialect, Query, Sql, SqlBackend};
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use postgres_es::PostgresEventRepository;
use sqlx::error::DatabaseError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgQueryResult};
use sqlx::{PgPool, Postgres};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

/// The embedded migrations, run by `convo migrate` and at start.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A pooled connection idle for longer than this is pinged before it is used.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// Opens a pool; fails (does not panic) when the server is unreachable.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    // Readers of the log wait below the cluster's oldest open transaction (decision 0002): a
    // transaction left open by a cancelled task must not hold every reader back for long. And a
    // process stalled in the middle of a transaction (SIGSTOP, a long pause) must not hold its
    // row locks past its leases: PostgreSQL ends such a transaction once it has been idle for
    // the lease's TTL, so the worker taking the leases over waits behind it at most until
    // then (a commit the stalled one finishes before that is caught by the checkpoint's
    // compare-and-set: the new holder starts again from it).
    let idle = format!("{}ms", convo_store::LEASE_TTL.as_millis());
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Connection(e.to_string()))?
        .options([("idle_in_transaction_session_timeout", idle.as_str())]);
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
        .map_err(PostgresDialect::map_sqlx)
}

pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| StoreError::Database(format!("migration failed: {e}")))
}

pub type PostgresBackend = SqlBackend<PostgresDialect>;
pub type PgSql = Sql<PostgresDialect>;

/// The events table's primary key, `(aggregate_type, aggregate_id, sequence)` (named by
/// PostgreSQL after the table: migration 0001 declares it inline).
const SEQUENCE_KEY: &str = "events_pkey";

/// PostgreSQL's part of the SQL adapter, and its group committer (started by the first append,
/// on its runtime; one per backend, shared by its clones).
#[derive(Clone, Default)]
pub struct PostgresDialect {
    committer: Arc<OnceLock<committer::Committer>>,
}

impl Dialect for PostgresDialect {
    type Db = Postgres;
    type Repository = PostgresEventRepository;
    const NAME: &'static str = "postgres";
    // Only positions of transactions that have ended are final (see migration 0001).
    const READABLE: &'static str =
        "AND global_position < (pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16)";

    fn repository(pool: PgPool) -> PostgresEventRepository {
        PostgresEventRepository::new(pool)
    }

    fn placeholder(n: usize) -> String {
        format!("${n}")
    }

    fn json_field_is(column: &str, field: &str, value: &str) -> String {
        format!("{column} ? '{field}' AND {column} ->> '{field}' = {value}")
    }

    fn json_value(column: &str) -> String {
        format!("CAST({column} AS jsonb)")
    }

    fn is_one_of(column: &str, list: &str) -> String {
        format!("{column} = ANY({list})")
    }

    fn bind_texts<'q>(query: Query<'q, Postgres>, texts: &'q [String]) -> Query<'q, Postgres> {
        query.bind(texts)
    }

    fn bind_ints<'q>(query: Query<'q, Postgres>, ints: &'q [i64]) -> Query<'q, Postgres> {
        query.bind(ints)
    }

    fn bind_time<'q>(query: Query<'q, Postgres>, time: DateTime<Utc>) -> Query<'q, Postgres> {
        query.bind(time)
    }

    fn begin(durability: Durability) -> &'static str {
        match durability {
            Durability::Flushed => "BEGIN",
            Durability::Lazy => "BEGIN; SET LOCAL synchronous_commit = off",
        }
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    async fn clone_statements(_pool: &PgPool, live: &str, scratch: &str) -> Result<Vec<String>, StoreError> {
        Ok(vec![format!("CREATE TABLE {scratch} (LIKE {live} INCLUDING ALL)")])
    }

    fn sequence_taken(db: &dyn DatabaseError) -> bool {
        db.code().as_deref() == Some("23505") && db.constraint() == Some(SEQUENCE_KEY)
    }

    /// Class 08: connection exceptions; 57P: the server shutting down, crashed or starting
    /// ("terminating connection due to administrator command", "… unexpected postmaster exit",
    /// "the database system is starting up"); 53300: too many connections.
    fn server_away(db: &dyn DatabaseError) -> bool {
        db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P") || code == "53300")
    }

    /// Concurrent commands are committed together (group commit, see `committer.rs`): one
    /// statement, one transaction, each event taking its position from the column default.
    async fn append(&self, pool: &PgPool, events: &[SerializedEvent]) -> Result<i64, PersistenceError> {
        let committer = self.committer.get_or_init(|| committer::Committer::start(pool.clone()));
        committer.append(events.to_vec()).await
    }

    fn relay_commits(pool: &PgPool, notifier: &LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        vec![
            tokio::spawn(announce(pool.clone(), notifier.clone())),
            tokio::spawn(listen(pool.clone(), notifier.clone())),
        ]
    }

    fn relay_progress(
        pool: &PgPool,
        announce: Vec<Arc<ProjectionStatus>>,
        follow: Vec<Arc<ProjectionStatus>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = Vec::new();
        if !announce.is_empty() {
            tasks.push(tokio::spawn(announce_progress(pool.clone(), announce)));
        }
        if !follow.is_empty() {
            tasks.push(tokio::spawn(listen_progress(pool.clone(), follow)));
        }
        tasks
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

/// The channel followers' progress is announced on: `name:position` pairs, comma-separated.
const PROGRESS_CHANNEL: &str = "convo_progress";

/// Announces this process's followers' positions as they move, coalesced like commits: one
/// NOTIFY carries every follower's position, and while it is in flight later moves only raise
/// what the next one carries.
async fn announce_progress(pool: PgPool, statuses: Vec<Arc<ProjectionStatus>>) {
    let mut changes: Vec<_> = statuses.iter().map(|s| s.changes()).collect();
    loop {
        let moved = futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed()))).await;
        if moved.0.is_err() {
            return; // the follower is gone
        }
        drop(moved);
        let payload: Vec<String> =
            statuses.iter().zip(&mut changes).map(|(s, c)| format!("{}:{}", s.name, *c.borrow_and_update())).collect();
        let notify = sqlx::query("SELECT pg_notify($1, $2)").bind(PROGRESS_CHANNEL).bind(payload.join(","));
        if let Err(e) = notify.execute(&pool).await {
            tracing::debug!(error = %e, "could not announce progress; API nodes will poll");
        }
    }
}

/// Moves this process's statuses to what other processes' followers announce.
async fn listen_progress(pool: PgPool, statuses: Vec<Arc<ProjectionStatus>>) {
    listen_on(pool, PROGRESS_CHANNEL, |payload| {
        for (name, position) in payload.split(',').filter_map(|pair| pair.split_once(':')) {
            if let (Some(status), Ok(position)) = (statuses.iter().find(|s| s.name == name), position.parse()) {
                status.advance(position);
            }
        }
    })
    .await
}

/// Wakes this process's tails on other processes' commits.
async fn listen(pool: PgPool, notifier: LogNotifier) {
    listen_on(pool, CHANNEL, |payload| {
        if let Ok(position) = payload.parse() {
            notifier.remote(position);
        }
    })
    .await
}

/// Hands every notification on `channel` to `on`, for ever: a lost connection is made again on
/// the followers' backoff (meanwhile readers poll).
async fn listen_on(pool: PgPool, channel: &str, mut on: impl FnMut(&str)) {
    let mut backoff = convo_store::Backoff::new();
    loop {
        let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(channel, error = %e, "cannot listen; readers poll meanwhile");
                backoff.wait().await;
                continue;
            }
        };
        if listener.listen(channel).await.is_err() {
            backoff.wait().await;
            continue;
        }
        backoff.reset();
        while let Ok(notification) = listener.recv().await {
            on(notification.payload());
        }
    }
}
