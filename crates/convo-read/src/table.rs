//! A read model's table, written once for every SQL backend: a [`SqlTable`] describes how a
//! projection's rows are laid out, and [`TableStore`] keeps them and the checkpoint, through
//! the adapter's [`SqlStore`].

use std::collections::HashMap;
use std::marker::PhantomData;

use convo_projection::Projection;
use convo_store::{Checkpoint, Durability, Fence, SqlStore, SqlValue, Statement, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ProjectionStore;

/// How one projection's rows are laid out in a table: the whole row as JSON in `row`, and the
/// columns queries filter and sort on beside it.
pub trait SqlTable<P: Projection>: Send + Sync + 'static
where
    P::Row: Serialize + DeserializeOwned,
{
    const TABLE: &'static str;
    /// The key columns, in the order of [`SqlTable::key`]'s values.
    const KEY: &'static [&'static str];
    /// The other columns besides `row`, in the order of [`SqlTable::columns`]' values.
    const COLUMNS: &'static [&'static str];

    fn key(key: &P::Key) -> Vec<SqlValue>;
    fn key_of(row: &P::Row) -> P::Key;
    fn columns(row: &P::Row) -> Vec<SqlValue>;
}
/// Keys per `SELECT` when loading a batch's rows.
const KEYS_PER_SELECT: usize = 200;

/// Bound values per statement, well under SQLite's (32 766) and PostgreSQL's (65 535) limits.
const MAX_VALUES_PER_STATEMENT: usize = 10_000;

/// A projection's rows and checkpoint in a [`SqlTable`] of a [`SqlStore`]: the live table, or a
/// scratch copy that a rebuild or a verification folds into.
pub struct TableStore<P, T, S> {
    pub store: S,
    /// The table's name: `T::TABLE`, or a scratch copy's.
    pub table: String,
    /// The checkpoint's name: `P::NAME`, or a scratch copy's.
    pub checkpoint_name: String,
    /// The lease its checkpoint moves under, when a runner holds one.
    pub fence: Option<Fence>,
    _table: PhantomData<fn() -> (P, T)>,
}

impl<P, T, S: Clone> Clone for TableStore<P, T, S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            table: self.table.clone(),
            checkpoint_name: self.checkpoint_name.clone(),
            fence: self.fence.clone(),
            _table: PhantomData,
        }
    }
}

impl<P, T, S> TableStore<P, T, S>
where
    P: Projection,
    P::Row: Serialize + DeserializeOwned,
    T: SqlTable<P>,
    S: SqlStore,
{
    pub fn new(store: S) -> Self {
        Self {
            store,
            table: T::TABLE.to_owned(),
            checkpoint_name: P::NAME.to_owned(),
            fence: None,
            _table: PhantomData,
        }
    }

    fn checkpoint_row(&self) -> Checkpoint<S> {
        let mut checkpoint = Checkpoint::new(self.store.clone(), self.checkpoint_name.clone());
        checkpoint.fence(self.fence.clone());
        checkpoint
    }

    /// A scratch copy next to the live table (`<table>__<suffix>`), empty, with its own checkpoint.
    pub async fn scratch(&self, suffix: &str) -> Result<Self, StoreError> {
        let scratch = Self {
            store: self.store.clone(),
            table: format!("{}__{suffix}", T::TABLE),
            checkpoint_name: format!("{}__{suffix}", P::NAME),
            fence: None,
            _table: PhantomData,
        };
        self.store.clone_table(T::TABLE, &scratch.table).await?;
        scratch.checkpoint_row().remove().await?;
        Ok(scratch)
    }

    /// Makes this scratch copy the live table, with its checkpoint, in one transaction. A live
    /// runner's next commit then fails its checkpoint guard, and it carries on from here.
    pub async fn swap_in(self) -> Result<(), StoreError> {
        // The live checkpoint row may not exist yet (no runner ever started on this database):
        // create it, so the guard below has its one row to move.
        Checkpoint::new(self.store.clone(), P::NAME).read().await?;
        let live = T::TABLE;
        let guard = (
            self.store.sql(
                "UPDATE projection_checkpoints \
                    SET position = (SELECT position FROM projection_checkpoints WHERE name = {2}) \
                  WHERE name = {1}",
            ),
            vec![SqlValue::Text(P::NAME.to_owned()), SqlValue::Text(self.checkpoint_name.clone())],
        );
        let statements = vec![
            (format!("ALTER TABLE {live} RENAME TO {live}__old"), vec![]),
            (format!("ALTER TABLE {} RENAME TO {live}", self.table), vec![]),
            (format!("DROP TABLE {live}__old"), vec![]),
            (
                self.store.sql("DELETE FROM projection_checkpoints WHERE name = {1}"),
                vec![SqlValue::Text(self.checkpoint_name.clone())],
            ),
        ];
        self.store.guarded_transaction(guard, statements, Durability::Flushed).await
    }

    /// Drops this scratch copy.
    pub async fn discard(self) -> Result<(), StoreError> {
        self.store.execute(&format!("DROP TABLE IF EXISTS {}", self.table), &[]).await?;
        self.checkpoint_row().remove().await
    }

    /// Rows in one table and not in the other, both ways (as JSON text), at most `limit`.
    pub async fn differences(&self, other: &Self, limit: usize) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        // Compared as JSON: a row written before the rows were stored as text keeps jsonb's
        // formatting, and equals its rebuilt twin all the same.
        let row = self.store.json_value("row");
        for (a, b, side) in [(&self.table, &other.table, "only in "), (&other.table, &self.table, "only in ")] {
            let sql = format!(
                "SELECT CAST(row AS TEXT) FROM (SELECT {row} AS row FROM {a} EXCEPT SELECT {row} AS row FROM {b}) d \
                 LIMIT {limit}"
            );
            found.extend(self.store.text_rows(&sql, &[]).await?.into_iter().map(|r| format!("{side}{a}: {r}")));
        }
        Ok(found)
    }

    /// Rows of `sql` (which selects the `row` column), decoded.
    pub async fn select(&self, sql: &str, values: &[SqlValue]) -> Result<Vec<P::Row>, StoreError> {
        self.store.json_rows(sql, values).await
    }

    /// One statement inserting or replacing `rows` (their keys are distinct).
    fn upsert(&self, rows: &[&P::Row]) -> Result<Statement, StoreError> {
        let columns: Vec<&str> = T::KEY.iter().chain(T::COLUMNS).copied().chain(["row"]).collect();
        let mut values = Vec::with_capacity(rows.len() * columns.len());
        for row in rows {
            values.extend(T::key(&T::key_of(row)));
            values.extend(T::columns(row));
            values.push(SqlValue::json(row)?);
        }
        let updates: Vec<String> = T::COLUMNS.iter().chain(&["row"]).map(|c| format!("{c} = excluded.{c}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
            self.table,
            columns.join(", "),
            self.store.tuples(rows.len(), columns.len()),
            T::KEY.join(", "),
            updates.join(", ")
        );
        Ok((sql, values))
    }

    fn key_condition(&self, offset: usize) -> String {
        let parts: Vec<String> = T::KEY
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} = {}", self.store.placeholder(offset + i + 1)))
            .collect();
        format!("({})", parts.join(" AND "))
    }
}

impl<P, T, S> ProjectionStore<P> for TableStore<P, T, S>
where
    P: Projection,
    P::Row: Serialize + DeserializeOwned,
    T: SqlTable<P>,
    S: SqlStore,
{
    async fn checkpoint(&self) -> Result<i64, StoreError> {
        self.checkpoint_row().read().await
    }

    fn fenced(&self, fence: Option<Fence>) -> Self {
        Self { fence, ..self.clone() }
    }

    async fn load(&self, keys: &[P::Key]) -> Result<HashMap<P::Key, P::Row>, StoreError> {
        let mut loaded = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_SELECT) {
            // `(k1, k2) IN (VALUES (…), …)`: one probe per key, and about half the time of the
            // same keys as ORed conditions on PostgreSQL (less to plan).
            let sql = format!(
                "SELECT row FROM {} WHERE ({}) IN (VALUES {})",
                self.table,
                T::KEY.join(", "),
                self.store.tuples(chunk.len(), T::KEY.len())
            );
            let values: Vec<SqlValue> = chunk.iter().flat_map(T::key).collect();
            for row in self.select(&sql, &values).await? {
                loaded.insert(T::key_of(&row), row);
            }
        }
        Ok(loaded)
    }

    async fn commit(&self, changes: &[(P::Key, Option<P::Row>)], from: i64, to: i64) -> Result<(), StoreError> {
        let guard = self.checkpoint_row().guard(from, to);
        let (upserts, deletes): (Vec<_>, Vec<_>) = changes.iter().partition(|(_, row)| row.is_some());
        let rows: Vec<&P::Row> = upserts.iter().filter_map(|(_, row)| row.as_ref()).collect();
        // Many rows per statement: a batch is one round trip per chunk, not one per row.
        let per_statement = (MAX_VALUES_PER_STATEMENT / (T::KEY.len() + T::COLUMNS.len() + 1)).max(1);
        let mut statements =
            rows.chunks(per_statement).map(|chunk| self.upsert(chunk)).collect::<Result<Vec<_>, _>>()?;
        statements.extend(
            deletes
                .into_iter()
                .map(|(key, _)| (format!("DELETE FROM {} WHERE {}", self.table, self.key_condition(0)), T::key(key))),
        );
        self.store.guarded_transaction(guard, statements, Durability::Lazy).await
    }
}
