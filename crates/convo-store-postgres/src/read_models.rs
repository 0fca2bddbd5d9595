//! Read-model storage on PostgreSQL: the statements convo-store writes, run with `$n`
//! placeholders; rows and checkpoints commit in one transaction.

use convo_store::{Durability, SqlStore, SqlValue, Statement, StoreError, detached};
use serde::de::DeserializeOwned;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres, Row};

use crate::map_sqlx;

fn bind<'q>(mut query: Query<'q, Postgres, PgArguments>, values: &'q [SqlValue]) -> Query<'q, Postgres, PgArguments> {
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

#[derive(Clone)]
pub struct PgSql {
    pub(crate) pool: PgPool,
}

impl SqlStore for PgSql {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }

    async fn json_rows<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> Result<Vec<T>, StoreError> {
        let rows = bind(sqlx::query(sql), values).fetch_all(&self.pool).await.map_err(map_sqlx)?;
        rows.iter()
            .map(|r| {
                let text = r.try_get::<&str, _>(0).map_err(map_sqlx)?;
                serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a stored row: {e}")))
            })
            .collect()
    }

    fn json_value(&self, column: &str) -> String {
        format!("CAST({column} AS jsonb)")
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
        let (pool, live, scratch) = (self.pool.clone(), live.to_owned(), scratch.to_owned());
        detached(async move {
            let mut tx = pool.begin().await.map_err(map_sqlx)?;
            for sql in [
                format!("DROP TABLE IF EXISTS {scratch}"),
                format!("CREATE TABLE {scratch} (LIKE {live} INCLUDING ALL)"),
            ] {
                sqlx::query(&sql).execute(&mut *tx).await.map_err(map_sqlx)?;
            }
            tx.commit().await.map_err(map_sqlx)
        })
        .await?
    }

    async fn guarded_transaction(
        &self,
        guard: Statement,
        statements: Vec<Statement>,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        detached(async move {
            let mut tx = match durability {
                Durability::Flushed => pool.begin().await,
                Durability::Lazy => pool.begin_with("BEGIN; SET LOCAL synchronous_commit = off").await,
            }
            .map_err(map_sqlx)?;
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
