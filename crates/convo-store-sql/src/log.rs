//! The events table on any dialect: the global log, the lookups the write path and the
//! gateway make in it, and cqrs-es's repository.

use chrono::{DateTime, Utc};
use convo_store::{Backend, LogEvent, LogFilter, LogNotifier, StoreError};
use cqrs_es::Aggregate;
use cqrs_es::persist::{PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot};
use serde_json::Value;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type};

use crate::{Dialect, Query, Sql, SqlBackend, unavailable};

/// What every read of events selects, in the order `Sql::log_events` decodes.
pub(crate) const LOG_COLUMNS: &str = "global_position, workspace_id, aggregate_type, aggregate_id, sequence, \
                                      event_type, event_version, payload, metadata, recorded_at";

/// The dialect's first `N` placeholders.
fn placeholders<D: Dialect, const N: usize>() -> [String; N] {
    std::array::from_fn(|i| D::placeholder(i + 1))
}

/// `filter`'s conditions (`{}` where its value goes), its values numbered from the second
/// placeholder in the order [`bind_filter`] binds them.
fn filter_sql<D: Dialect>(filter: &LogFilter) -> String {
    let conditions = [
        (filter.workspace.is_some(), "workspace_id = {}".to_owned()),
        (filter.until_position.is_some(), "global_position <= {}".to_owned()),
        (filter.since.is_some(), "recorded_at >= {}".to_owned()),
        (filter.until.is_some(), "recorded_at < {}".to_owned()),
        (!filter.event_types.is_empty(), D::is_one_of("event_type", "{}")),
        (!filter.positions.is_empty(), D::is_one_of("global_position", "{}")),
    ];
    let used = conditions.iter().filter(|(used, _)| *used).map(|(_, condition)| condition);
    used.zip(2..).map(|(condition, n)| format!(" AND {}", condition.replace("{}", &D::placeholder(n)))).collect()
}

fn bind_filter<'q, D: Dialect>(query: Query<'q, D::Db>, filter: &'q LogFilter) -> Query<'q, D::Db>
where
    for<'a> i64: Encode<'a, D::Db> + Type<D::Db>,
    for<'a> &'a str: Encode<'a, D::Db> + Type<D::Db>,
{
    let mut query = query;
    if let Some(w) = &filter.workspace {
        query = query.bind(w.as_str());
    }
    if let Some(p) = filter.until_position {
        query = query.bind(p);
    }
    if let Some(t) = filter.since {
        query = D::bind_time(query, t);
    }
    if let Some(t) = filter.until {
        query = D::bind_time(query, t);
    }
    if !filter.event_types.is_empty() {
        query = D::bind_texts(query, &filter.event_types);
    }
    if !filter.positions.is_empty() {
        query = D::bind_ints(query, &filter.positions);
    }
    query
}

impl<D> Backend for SqlBackend<D>
where
    D: Dialect,
    for<'c> &'c mut <D::Db as Database>::Connection: Executor<'c, Database = D::Db>,
    for<'q> <D::Db as Database>::Arguments<'q>: IntoArguments<'q, D::Db>,
    usize: ColumnIndex<<D::Db as Database>::Row>,
    for<'q> i64: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> bool: Encode<'q, D::Db> + Type<D::Db>,
    for<'q> &'q str: Encode<'q, D::Db> + Decode<'q, D::Db> + Type<D::Db>,
    for<'q> String: Decode<'q, D::Db> + Type<D::Db>,
    for<'q> Option<String>: Encode<'q, D::Db>,
    for<'q> Value: Decode<'q, D::Db> + Type<D::Db>,
    for<'q> DateTime<Utc>: Decode<'q, D::Db> + Type<D::Db>,
{
    type Sql = Sql<D>;

    fn sql(&self) -> Sql<D> {
        self.sql.clone()
    }

    fn name(&self) -> &'static str {
        D::NAME
    }

    async fn position_of(&self, aggregate_type: &str, aggregate_id: &str, sequence: usize) -> Result<i64, StoreError> {
        let [p1, p2, p3] = placeholders::<D, 3>();
        let sql = format!(
            "SELECT global_position FROM events WHERE aggregate_type = {p1} AND aggregate_id = {p2} AND sequence = {p3}"
        );
        let query = sqlx::query_scalar(&sql).bind(aggregate_type).bind(aggregate_id).bind(sequence as i64);
        query.fetch_one(&self.sql.pool).await.map_err(D::map_sqlx)
    }

    async fn read_log(&self, after: i64, limit: usize, workspace: Option<&str>) -> Result<Vec<LogEvent>, StoreError> {
        let ([p1, p2, p3], readable) = (placeholders::<D, 3>(), D::READABLE);
        // Two statements rather than `… IS NULL OR …`, so each keeps its index plan.
        let in_workspace = workspace.map_or_else(String::new, |_| format!("AND workspace_id = {p3}"));
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE global_position > {p1} {readable} {in_workspace}
              ORDER BY global_position
              LIMIT {p2}"
        );
        let query = sqlx::query(&sql).bind(after).bind(limit as i64);
        self.sql.log_events(if let Some(w) = workspace { query.bind(w) } else { query }).await
    }

    async fn read_log_filtered(
        &self,
        after: i64,
        limit: usize,
        filter: &LogFilter,
    ) -> Result<Vec<LogEvent>, StoreError> {
        let ([p1], readable, filtered) = (placeholders::<D, 1>(), D::READABLE, filter_sql::<D>(filter));
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE global_position > {p1} {readable} {filtered}
              ORDER BY global_position
              LIMIT {limit}"
        );
        self.sql.log_events(bind_filter::<D>(sqlx::query(&sql).bind(after), filter)).await
    }

    async fn count_log_filtered(&self, after: i64, filter: &LogFilter) -> Result<u64, StoreError> {
        let ([p1], filtered) = (placeholders::<D, 1>(), filter_sql::<D>(filter));
        let sql = format!("SELECT count(*) FROM events WHERE global_position > {p1} {filtered}");
        let query = bind_filter::<D>(sqlx::query(&sql).bind(after), filter);
        let row = query.fetch_one(&self.sql.pool).await.map_err(D::map_sqlx)?;
        Ok(u64::try_from(row.try_get::<i64, _>(0).map_err(D::map_sqlx)?).unwrap_or(0))
    }

    async fn aggregate_events(
        &self,
        aggregate_type: &str,
        aggregate_id: &str,
        after_sequence: i64,
        limit: usize,
    ) -> Result<Vec<LogEvent>, StoreError> {
        let [p1, p2, p3, p4] = placeholders::<D, 4>();
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE aggregate_type = {p1} AND aggregate_id = {p2} AND sequence > {p3}
              ORDER BY sequence LIMIT {p4}"
        );
        let query = sqlx::query(&sql).bind(aggregate_type).bind(aggregate_id).bind(after_sequence).bind(limit as i64);
        self.sql.log_events(query).await
    }

    async fn append(&self, events: &[SerializedEvent]) -> Result<i64, PersistenceError> {
        self.dialect.append(&self.sql.pool, events).await
    }

    async fn idempotent_events(&self, workspace: &str, key: &str) -> Result<Vec<LogEvent>, StoreError> {
        let [p1, p2] = placeholders::<D, 2>();
        let has_key = D::json_field_is("metadata", "idempotency_key", &p2);
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events WHERE workspace_id = {p1} AND {has_key} ORDER BY global_position"
        );
        self.sql.log_events(sqlx::query(&sql).bind(workspace).bind(key)).await
    }

    async fn message_events(
        &self,
        conversation_id: &str,
        message_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let [p1, p2] = placeholders::<D, 2>();
        let about = D::json_field_is("payload", "message_id", &p2);
        let sql = format!(
            "SELECT {LOG_COLUMNS} FROM events
              WHERE aggregate_type = 'conversation' AND aggregate_id = {p1} AND {about}
              ORDER BY sequence"
        );
        let events = self.sql.log_events(sqlx::query(&sql).bind(conversation_id).bind(message_id)).await?;
        let serialized = |e: LogEvent| {
            let (id, sequence, aggregate_type) = (e.aggregate_id, e.sequence as usize, e.aggregate_type);
            SerializedEvent::new(id, sequence, aggregate_type, e.event_type, e.event_version, e.payload, e.metadata)
        };
        Ok(events.into_iter().map(serialized).collect())
    }

    async fn head(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.sql.pool)
            .await
            .map_err(D::map_sqlx)
    }

    fn relay_commits(&self, notifier: &LogNotifier) -> Vec<tokio::task::JoinHandle<()>> {
        D::relay_commits(&self.sql.pool, notifier)
    }

    fn relay_progress(
        &self,
        announce: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
        follow: Vec<std::sync::Arc<convo_store::ProjectionStatus>>,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        D::relay_progress(&self.sql.pool, announce, follow)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.sql.pool).await.map(|_| ()).map_err(D::map_sqlx)
    }
}

/// A repository's error for the database being away (postgres-es and sqlite-es report a pool
/// timeout or a server shutting down as unknown) is a connection error here, whoever met it.
fn reclassify<D: Dialect>(err: PersistenceError) -> PersistenceError {
    match err {
        PersistenceError::UnknownError(e) if e.downcast_ref::<sqlx::Error>().is_some_and(unavailable::<D>) => {
            PersistenceError::ConnectionError(e)
        }
        other => other,
    }
}

impl<D: Dialect> PersistedEventRepository for SqlBackend<D> {
    async fn get_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_events::<A>(aggregate_id).await.map_err(reclassify::<D>)
    }

    async fn get_last_events<A: Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        self.repo.get_last_events::<A>(aggregate_id, last_sequence).await.map_err(reclassify::<D>)
    }

    async fn get_snapshot<A: Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        self.repo.get_snapshot::<A>(aggregate_id).await.map_err(reclassify::<D>)
    }

    /// Events alone go through the dialect's append, whose errors only call a taken sequence a
    /// conflict (postgres-es calls every unique violation one). Snapshots are not used
    /// (ARCHITECTURE.md), and stay the repository's.
    async fn persist<A: Aggregate>(
        &self,
        events: &[SerializedEvent],
        snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        match snapshot_update {
            None if events.is_empty() => Ok(()),
            None => self.dialect.append(&self.sql.pool, events).await.map(|_| ()),
            Some(_) => self.repo.persist::<A>(events, snapshot_update).await.map_err(reclassify::<D>),
        }
    }

    async fn stream_events<A: Aggregate>(&self, aggregate_id: &str) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_events::<A>(aggregate_id).await.map_err(reclassify::<D>)
    }

    async fn stream_all_events<A: Aggregate>(&self) -> Result<ReplayStream, PersistenceError> {
        self.repo.stream_all_events::<A>().await.map_err(reclassify::<D>)
    }
}
