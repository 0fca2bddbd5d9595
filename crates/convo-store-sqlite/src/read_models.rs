//! Read-model storage on SQLite: the statements convo-store writes, run with `?n`
//! placeholders; rows and checkpoints commit in one transaction.

use convo_store::{Durability, SqlStore, SqlValue, Statement, StoreError, detached};
use serde::de::DeserializeOwned;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;
use sqlx::types::Json;
use sqlx::{Row, Sqlite, SqlitePool};

use crate::map_sqlx;

/// Transactions that write take the write lock up front. A deferred transaction that reads first
/// (DROP TABLE IF EXISTS on a missing table, a guard that matches nothing yet) and writes later
/// fails at once with "database is locked" when another connection committed in between: SQLite
/// cannot upgrade a stale read snapshot and does not call the busy handler for it.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

fn bind<'q>(
    mut query: Query<'q, Sqlite, SqliteArguments<'q>>,
    values: &'q [SqlValue],
) -> Query<'q, Sqlite, SqliteArguments<'q>> {
    for value in values {
        query = match value {
            SqlValue::Text(s) => query.bind(s.as_str()),
            SqlValue::Int(i) => query.bind(*i),
            SqlValue::Bool(b) => query.bind(*b),
            SqlValue::Json(j) => query.bind(Json(j.as_ref())),
            SqlValue::Null => query.bind(None::<String>),
        };
    }
    query
}

#[derive(Clone)]
pub struct SqliteSql {
    pub(crate) pool: SqlitePool,
}

impl SqlStore for SqliteSql {
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }

    async fn json_rows<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> Result<Vec<T>, StoreError> {
        let rows = bind(sqlx::query(sql), values).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(|r| r.try_get::<Json<T>, _>(0).map(|j| j.0)).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn text_rows(&self, sql: &str, values: &[SqlValue]) -> Result<Vec<String>, StoreError> {
        let rows = bind(sqlx::query(sql), values).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<_, _>>().map_err(map_sqlx)
    }

    async fn scalar(&self, sql: &str, values: &[SqlValue]) -> Result<Option<i64>, StoreError> {
        let row = bind(sqlx::query(sql), values).fetch_optional(&self.pool).await.map_err(map_sqlx)?;
        row.map(|r| r.try_get::<i64, _>(0)).transpose().map_err(map_sqlx)
    }

    async fn execute(&self, sql: &str, values: &[SqlValue]) -> Result<u64, StoreError> {
        let done = bind(sqlx::query(sql), values).execute(&self.pool).await.map_err(map_sqlx)?;
        Ok(done.rows_affected())
    }

    async fn clone_table(&self, live: &str, scratch: &str) -> Result<(), StoreError> {
        // SQLite has no CREATE TABLE … LIKE: replay the live table's own DDL under the new name.
        let ddl: Vec<String> = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE tbl_name = ?1 AND sql IS NOT NULL ORDER BY type DESC",
        )
        .bind(live)
        .fetch_all(&self.pool)
        .await
        .map_err(map_sqlx)?;
        if ddl.is_empty() {
            return Err(StoreError::Database(format!("no table {live}")));
        }
        let (pool, live, scratch) = (self.pool.clone(), live.to_owned(), scratch.to_owned());
        detached(async move {
            let mut tx = pool.begin_with(BEGIN_WRITE).await.map_err(map_sqlx)?;
            sqlx::query(&format!("DROP TABLE IF EXISTS {scratch}")).execute(&mut *tx).await.map_err(map_sqlx)?;
            for statement in ddl {
                sqlx::query(&statement.replace(&live, &scratch)).execute(&mut *tx).await.map_err(map_sqlx)?;
            }
            tx.commit().await.map_err(map_sqlx)
        })
        .await?
    }

    async fn guarded_transaction(
        &self,
        guard: Statement,
        statements: Vec<Statement>,
        _durability: Durability,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        detached(async move {
            let mut tx = pool.begin_with(BEGIN_WRITE).await.map_err(map_sqlx)?;
            let guarded = bind(sqlx::query(&guard.0), &guard.1).execute(&mut *tx).await.map_err(map_sqlx)?;
            if guarded.rows_affected() != 1 {
                return Err(StoreError::Conflict);
            }
            for (sql, values) in &statements {
                bind(sqlx::query(sql), values).execute(&mut *tx).await.map_err(map_sqlx)?;
            }
            tx.commit().await.map_err(map_sqlx)
        })
        .await?
    }
}
