//! Read-model storage on the SQL backends, written once: an adapter only provides
//! [`SqlStore`] (run a statement, fetch `row` JSON, run a guarded transaction); a read model's
//! table is described by a [`SqlTable`], and [`TableStore`] keeps its rows and checkpoint.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;

use convo_projection::Projection;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::{ProjectionStore, StoreError};

/// A value bound into a statement.
#[derive(Debug, Clone)]
pub enum SqlValue {
    Text(String),
    Int(i64),
    Bool(bool),
    /// JSON text, stored as text (the `row` columns, stored responses).
    Json(Box<RawValue>),
    Null,
}

impl SqlValue {
    /// `value` serialized straight to JSON text (no `Value` tree in between).
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Self::Json)
    }
}

impl From<Option<String>> for SqlValue {
    fn from(v: Option<String>) -> Self {
        v.map_or(Self::Null, Self::Text)
    }
}

/// A statement and its values.
pub type Statement = (String, Vec<SqlValue>);

/// Whether a transaction's commit must be on disk before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// On disk when the commit returns (what an operator is told is done).
    Flushed,
    /// Visible at once, on disk a moment later: for what a runner folds, since a commit lost in
    /// a crash takes its checkpoint with it and the same events are folded again.
    Lazy,
}

/// `template` with each `{n}` (any number) replaced by `placeholder(n)`; other braces stay.
pub fn fill_placeholders(template: &str, placeholder: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[digits..].starts_with('}').then(|| after[..digits].parse::<usize>()) {
            Some(Ok(n)) if digits > 0 => {
                out.push_str(&placeholder(n));
                rest = &after[digits + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// What a SQL adapter provides for read models.
pub trait SqlStore: Clone + Send + Sync + 'static {
    /// The n-th (1-based) placeholder: `$n` or `?n`.
    fn placeholder(&self, n: usize) -> String;

    /// `template` with `{n}` replaced by the n-th placeholder.
    fn sql(&self, template: &str) -> String {
        fill_placeholders(template, |n| self.placeholder(n))
    }

    /// The first column of each row, JSON decoded straight into `T` (no `Value` in between).
    fn json_rows<T: DeserializeOwned + Send>(
        &self,
        sql: &str,
        values: &[SqlValue],
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send;

    /// `column`, holding JSON text, as a value that compares as JSON (key order and spacing
    /// aside): what verification compares rows by.
    fn json_value(&self, column: &str) -> String {
        column.to_owned()
    }

    /// The first column of each row, as text.
    fn text_rows(&self, sql: &str, values: &[SqlValue])
    -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The first column of the first row, as an integer.
    fn scalar(&self, sql: &str, values: &[SqlValue]) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    fn execute(&self, sql: &str, values: &[SqlValue]) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// (Re)creates `scratch` empty, with the columns, keys and indexes of `live`.
    fn clone_table(&self, live: &str, scratch: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs `guard` then `statements` in one transaction, committed only if `guard` affected
    /// exactly one row; otherwise nothing is written and the answer is [`StoreError::Conflict`].
    fn guarded_transaction(
        &self,
        guard: Statement,
        statements: Vec<Statement>,
        durability: Durability,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

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

/// A named checkpoint in `projection_checkpoints`: read models, scratch copies and publishers
/// each have one, and move it only from the value they read (a guard against a second runner).
pub struct Checkpoint<S> {
    store: S,
    name: String,
}

impl<S: SqlStore> Checkpoint<S> {
    pub fn new(store: S, name: impl Into<String>) -> Self {
        Self { store, name: name.into() }
    }

    fn name(&self) -> [SqlValue; 1] {
        [SqlValue::Text(self.name.clone())]
    }

    /// The position (0 for a new checkpoint, which this creates).
    pub async fn read(&self) -> Result<i64, StoreError> {
        let init = "INSERT INTO projection_checkpoints (name, position) VALUES ({1}, 0) ON CONFLICT (name) DO NOTHING";
        self.store.execute(&self.store.sql(init), &self.name()).await?;
        let read = "SELECT position FROM projection_checkpoints WHERE name = {1}";
        Ok(self.store.scalar(&self.store.sql(read), &self.name()).await?.unwrap_or(0))
    }

    /// The statement moving it from `from` to `to`: affects one row, or none if it moved meanwhile.
    pub fn guard(&self, from: i64, to: i64) -> Statement {
        (
            self.store.sql("UPDATE projection_checkpoints SET position = {3} WHERE name = {1} AND position = {2}"),
            vec![SqlValue::Text(self.name.clone()), SqlValue::Int(from), SqlValue::Int(to)],
        )
    }

    /// Moves it from `from` to `to`, or fails with [`StoreError::Conflict`] if it is no longer `from`.
    pub async fn advance(&self, from: i64, to: i64) -> Result<(), StoreError> {
        self.store.guarded_transaction(self.guard(from, to), vec![], Durability::Lazy).await
    }

    pub async fn remove(&self) -> Result<(), StoreError> {
        self.store
            .execute(&self.store.sql("DELETE FROM projection_checkpoints WHERE name = {1}"), &self.name())
            .await?;
        Ok(())
    }
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
    _table: PhantomData<fn() -> (P, T)>,
}

impl<P, T, S: Clone> Clone for TableStore<P, T, S> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            table: self.table.clone(),
            checkpoint_name: self.checkpoint_name.clone(),
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
        Self { store, table: T::TABLE.to_owned(), checkpoint_name: P::NAME.to_owned(), _table: PhantomData }
    }

    fn checkpoint_row(&self) -> Checkpoint<S> {
        Checkpoint::new(self.store.clone(), self.checkpoint_name.clone())
    }

    /// A scratch copy next to the live table (`<table>__<suffix>`), empty, with its own checkpoint.
    pub async fn scratch(&self, suffix: &str) -> Result<Self, StoreError> {
        let scratch = Self {
            store: self.store.clone(),
            table: format!("{}__{suffix}", T::TABLE),
            checkpoint_name: format!("{}__{suffix}", P::NAME),
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
        let mut tuples = Vec::with_capacity(rows.len());
        for row in rows {
            let first = values.len();
            values.extend(T::key(&T::key_of(row)));
            values.extend(T::columns(row));
            values.push(SqlValue::json(row)?);
            let placeholders: Vec<String> = (first + 1..=values.len()).map(|n| self.store.placeholder(n)).collect();
            tuples.push(format!("({})", placeholders.join(", ")));
        }
        let updates: Vec<String> = T::COLUMNS.iter().chain(&["row"]).map(|c| format!("{c} = excluded.{c}")).collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {} ON CONFLICT ({}) DO UPDATE SET {}",
            self.table,
            columns.join(", "),
            tuples.join(", "),
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

    async fn load(&self, keys: &[P::Key]) -> Result<HashMap<P::Key, P::Row>, StoreError> {
        let mut loaded = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(KEYS_PER_SELECT) {
            let width = T::KEY.len();
            // `(k1, k2) IN (VALUES (…), …)`: one probe per key, and about half the time of the
            // same keys as ORed conditions on PostgreSQL (less to plan).
            let tuples: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let placeholders: Vec<String> =
                        (1..=width).map(|n| self.store.placeholder(i * width + n)).collect();
                    format!("({})", placeholders.join(", "))
                })
                .collect();
            let sql = format!(
                "SELECT row FROM {} WHERE ({}) IN (VALUES {})",
                self.table,
                T::KEY.join(", "),
                tuples.join(", ")
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

#[cfg(test)]
mod placeholder_tests {
    #[test]
    fn every_numbered_placeholder_is_filled_and_other_braces_stay() {
        let filled =
            super::fill_placeholders("a = {1} AND b IN ({10}, {12}) AND c = '{x}' AND d = '{}'", |n| format!("${n}"));
        assert_eq!(filled, "a = $1 AND b IN ($10, $12) AND c = '{x}' AND d = '{}'");
    }
}
