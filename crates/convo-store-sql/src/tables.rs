//! Read-model and gateway tables on any dialect: the statements convo-read and convo-store
//! write, run with the dialect's placeholders; rows and checkpoints commit in one transaction.
//! Also where the log's rows are decoded, for the backend's reads.

use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use convo_store::{Durability, LogEvent, SqlStore, SqlValue, Statement, StoreError, detached};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use crate::{Dialect, Query};

/// The tables of one database (`Backend::sql`).
pub struct Sql<D: Dialect> {
    pub(crate) pool: Pool<D::Db>,
    dialect: PhantomData<D>,
}

impl<D: Dialect> Clone for Sql<D> {
    fn clone(&self) -> Self {
        Self::new(self.pool.clone())
    }
}

/// What the generic adapter needs of a sqlx driver (PostgreSQL's and SQLite's have all of it);
/// the same list stands on the `SqlStore` and `Backend` impls, since Rust does not carry it over.
impl<D> Sql<D>
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
    pub(crate) fn bind<'q>(mut query: Query<'q, D::Db>, values: &'q [SqlValue]) -> Query<'q, D::Db> {
        for value in values {
            query = match value {
                SqlValue::Text(s) => query.bind(s.as_str()),
                SqlValue::Int(i) => query.bind(*i),
                SqlValue::Bool(b) => query.bind(*b),
                SqlValue::Json(j) => query.bind(j.get()),
                SqlValue::Null => query.bind(None::<String>),
            };
        }
        query
    }

    /// The events `query` selects, its columns [`crate::log::LOG_COLUMNS`].
    pub(crate) async fn log_events(&self, query: Query<'_, D::Db>) -> Result<Vec<LogEvent>, StoreError> {
        let rows = query.fetch_all(&self.pool).await.map_err(D::map_sqlx)?;
        let event = |row: &<D::Db as Database>::Row| -> Result<LogEvent, sqlx::Error> {
            Ok(LogEvent {
                position: row.try_get(0)?,
                workspace_id: row.try_get(1)?,
                aggregate_type: row.try_get(2)?,
                aggregate_id: row.try_get(3)?,
                sequence: row.try_get(4)?,
                event_type: row.try_get(5)?,
                event_version: row.try_get(6)?,
                payload: row.try_get(7)?,
                metadata: row.try_get(8)?,
                recorded_at: row.try_get(9)?,
                decoded: Default::default(),
            })
        };
        rows.iter().map(event).collect::<Result<_, _>>().map_err(D::map_sqlx)
    }

    /// Runs `guard` (if any) then `statements` in one write transaction, in a task of its own
    /// (`detached`); commits only if `guard` affected exactly one row, else answers `Conflict`.
    async fn transaction(
        &self,
        durability: Durability,
        guard: Option<Statement>,
        statements: Vec<Statement>,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        detached(async move {
            let mut tx = pool.begin_with(D::begin(durability)).await.map_err(D::map_sqlx)?;
            if let Some((sql, values)) = &guard {
                let guarded = Self::bind(sqlx::query(sql), values).execute(&mut *tx).await.map_err(D::map_sqlx)?;
                if D::rows_affected(&guarded) != 1 {
                    return Err(StoreError::Conflict);
                }
            }
            for (sql, values) in &statements {
                Self::bind(sqlx::query(sql), values).execute(&mut *tx).await.map_err(D::map_sqlx)?;
            }
            tx.commit().await.map_err(D::map_sqlx)
        })
        .await?
    }
}

impl<D: Dialect> Sql<D> {
    pub(crate) fn new(pool: Pool<D::Db>) -> Self {
        Self { pool, dialect: PhantomData }
    }
}

impl<D> SqlStore for Sql<D>
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
    fn placeholder(&self, n: usize) -> String {
        D::placeholder(n)
    }

    async fn json_rows<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> Result<Vec<T>, StoreError> {
        let rows = Self::bind(sqlx::query(sql), values).fetch_all(&self.pool).await.map_err(D::map_sqlx)?;
        rows.iter()
            .map(|r| {
                let text = r.try_get::<&str, _>(0).map_err(D::map_sqlx)?;
                serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a stored row: {e}")))
            })
            .collect()
    }

    fn json_value(&self, column: &str) -> String {
        D::json_value(column)
    }

    async fn text_rows(&self, sql: &str, values: &[SqlValue]) -> Result<Vec<String>, StoreError> {
        let rows = Self::bind(sqlx::query(sql), values).fetch_all(&self.pool).await.map_err(D::map_sqlx)?;
        rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>().map_err(D::map_sqlx)
    }

    async fn scalar(&self, sql: &str, values: &[SqlValue]) -> Result<Option<i64>, StoreError> {
        let row = Self::bind(sqlx::query(sql), values).fetch_optional(&self.pool).await.map_err(D::map_sqlx)?;
        row.map(|r| r.try_get::<i64, _>(0)).transpose().map_err(D::map_sqlx)
    }

    async fn execute(&self, sql: &str, values: &[SqlValue]) -> Result<u64, StoreError> {
        let done = Self::bind(sqlx::query(sql), values).execute(&self.pool).await.map_err(D::map_sqlx)?;
        Ok(D::rows_affected(&done))
    }

    async fn clone_table(&self, live: &str, scratch: &str) -> Result<(), StoreError> {
        let create = D::clone_statements(&self.pool, live, scratch).await?;
        let statements = std::iter::once(format!("DROP TABLE IF EXISTS {scratch}")).chain(create);
        self.transaction(Durability::Flushed, None, statements.map(|sql| (sql, vec![])).collect()).await
    }

    async fn guarded_transaction(
        &self,
        guard: Statement,
        statements: Vec<Statement>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        self.transaction(durability, Some(guard), statements).await
    }
}
