//! The backend chosen at start: PostgreSQL when DATABASE_URL is set, else the SQLite file.

use std::path::Path;

use convo_store::{Backend, Durability, LogEvent, LogFilter, SqlStore, SqlValue, Statement, StoreError};
use convo_store_postgres::{PgSql, PostgresBackend};
use convo_store_sqlite::{SqliteBackend, SqliteSql};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot};
use serde_json::Value;

#[derive(Clone)]
pub enum AnyBackend {
    Postgres(PostgresBackend),
    Sqlite(SqliteBackend),
}

/// Connects and runs the embedded migrations.
pub async fn open(database_url: Option<&str>, data_dir: &Path, max_connections: u32) -> anyhow::Result<AnyBackend> {
    use anyhow::Context;
    Ok(match database_url {
        Some(url) => {
            let pool = convo_store_postgres::connect(url, max_connections).await.context("connecting to PostgreSQL")?;
            convo_store_postgres::migrate(&pool).await.context("migrating PostgreSQL")?;
            AnyBackend::Postgres(PostgresBackend::new(pool))
        }
        None => {
            let pool = convo_store_sqlite::connect(data_dir).await.context("opening the SQLite database")?;
            convo_store_sqlite::migrate(&pool).await.context("migrating SQLite")?;
            AnyBackend::Sqlite(SqliteBackend::new(pool))
        }
    })
}

macro_rules! both {
    ($self:ident, $b:ident => $e:expr) => {
        both!($self, AnyBackend, $b => $e)
    };
    ($self:ident, $enum:ident, $b:ident => $e:expr) => {
        match $self {
            $enum::Postgres($b) => $e,
            $enum::Sqlite($b) => $e,
        }
    };
}

impl Backend for AnyBackend {
    type Sql = AnySql;

    fn sql(&self) -> AnySql {
        match self {
            AnyBackend::Postgres(b) => AnySql::Postgres(b.sql()),
            AnyBackend::Sqlite(b) => AnySql::Sqlite(b.sql()),
        }
    }

    fn name(&self) -> &'static str {
        both!(self, b => b.name())
    }
    async fn position_of(&self, aggregate_type: &str, aggregate_id: &str, sequence: usize) -> Result<i64, StoreError> {
        both!(self, b => b.position_of(aggregate_type, aggregate_id, sequence).await)
    }
    async fn read_log(&self, after: i64, limit: usize, workspace: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        both!(self, b => b.read_log(after, limit, workspace).await)
    }
    async fn read_log_filtered(&self, after: i64, limit: usize, f: &LogFilter) -> Result<Vec<LogEvent>, StoreError> {
        both!(self, b => b.read_log_filtered(after, limit, f).await)
    }
    async fn count_log_filtered(&self, after: i64, filter: &LogFilter) -> Result<u64, StoreError> {
        both!(self, b => b.count_log_filtered(after, filter).await)
    }
    async fn aggregate_events(&self, t: &str, id: &str, after: i64, limit: usize) -> Result<Vec<LogEvent>, StoreError> {
        both!(self, b => b.aggregate_events(t, id, after, limit).await)
    }
    async fn message_events(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        both!(self, b => b.message_events(conversation_id, message_id).await)
    }
    async fn append(&self, events: &[SerializedEvent]) -> Result<i64, cqrs_es::persist::PersistenceError> {
        both!(self, b => b.append(events).await)
    }
    async fn idempotent_events(&self, workspace: &str, key: &str) -> Result<Vec<LogEvent>, StoreError> {
        both!(self, b => b.idempotent_events(workspace, key).await)
    }
    async fn head(&self) -> Result<i64, StoreError> {
        both!(self, b => b.head().await)
    }
    fn relay_commits(&self, notifier: &convo_store::LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        both!(self, b => b.relay_commits(notifier))
    }
    fn relay_progress(
        &self,
        announce: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
        follow: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        both!(self, b => b.relay_progress(announce, follow))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        both!(self, b => b.ping().await)
    }
}

impl PersistedEventRepository for AnyBackend {
    async fn get_events<A: Aggregate>(&self, id: &str) -> Result<Vec<SerializedEvent>, PersistenceError> {
        both!(self, b => b.get_events::<A>(id).await)
    }
    async fn get_last_events<A: Aggregate>(
        &self,
        id: &str,
        last: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        both!(self, b => b.get_last_events::<A>(id, last).await)
    }
    async fn get_snapshot<A: Aggregate>(&self, id: &str) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        both!(self, b => b.get_snapshot::<A>(id).await)
    }
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        both!(self, b => b.persist::<A>(events, snapshot).await)
    }
    async fn stream_events<A: Aggregate>(&self, id: &str) -> Result<ReplayStream, PersistenceError> {
        both!(self, b => b.stream_events::<A>(id).await)
    }
    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        both!(self, b => b.stream_all_events::<A>().await)
    }
}

#[derive(Clone)]
pub enum AnySql {
    Postgres(PgSql),
    Sqlite(SqliteSql),
}

impl SqlStore for AnySql {
    fn placeholder(&self, n: usize) -> String {
        both!(self, AnySql, s => s.placeholder(n))
    }
    async fn json_rows<T: serde::de::DeserializeOwned + Send>(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> Result<Vec<T>, StoreError> {
        both!(self, AnySql, s => s.json_rows(sql, values).await)
    }
    fn json_value(&self, column: &str) -> String {
        both!(self, AnySql, s => s.json_value(column))
    }
    async fn text_rows(&self, sql: &str, values: &[SqlValue]) -> Result<Vec<String>, StoreError> {
        both!(self, AnySql, s => s.text_rows(sql, values).await)
    }
    async fn scalar(&self, sql: &str, values: &[SqlValue]) -> Result<Option<i64>, StoreError> {
        both!(self, AnySql, s => s.scalar(sql, values).await)
    }
    async fn execute(&self, sql: &str, values: &[SqlValue]) -> Result<u64, StoreError> {
        both!(self, AnySql, s => s.execute(sql, values).await)
    }
    async fn clone_table(&self, live: &str, scratch: &str) -> Result<(), StoreError> {
        both!(self, AnySql, s => s.clone_table(live, scratch).await)
    }
    async fn guarded_transaction(
        &self,
        guard: Statement,
        statements: Vec<Statement>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        both!(self, AnySql, s => s.guarded_transaction(guard, statements, durability).await)
    }
}
