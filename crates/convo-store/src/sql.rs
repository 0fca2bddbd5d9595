//! What a SQL adapter provides beyond the log, for read models and the gateway's tables:
//! [`SqlStore`] (run a statement, fetch `row` JSON, run a guarded transaction) and the named
//! [`Checkpoint`]s that followers of the log move.

use std::future::Future;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::StoreError;

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

    /// `rows` tuples of `width` placeholders, numbered from 1 row after row: `($1, $2), ($3, $4)`,
    /// what a multi-row `VALUES` takes.
    fn tuples(&self, rows: usize, width: usize) -> String {
        let tuple = |row: usize| {
            let placeholders: Vec<String> = (1..=width).map(|n| self.placeholder(row * width + n)).collect();
            format!("({})", placeholders.join(", "))
        };
        (0..rows).map(tuple).collect::<Vec<_>>().join(", ")
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

/// A named checkpoint in `projection_checkpoints`: read models, scratch copies and publishers
/// each have one, and move it only from the value they read (a guard against a second runner)
/// and, when fenced, only while their lease still carries its token (decision 0003).
pub struct Checkpoint<S> {
    store: S,
    name: String,
    fence: Option<crate::Fence>,
}

impl<S: SqlStore> Checkpoint<S> {
    pub fn new(store: S, name: impl Into<String>) -> Self {
        Self { store, name: name.into(), fence: None }
    }

    /// Moves it only while `fence`'s lease holds from now on (or unfenced, with `None`).
    pub fn fence(&mut self, fence: Option<crate::Fence>) {
        self.fence = fence;
    }

    fn name(&self) -> [SqlValue; 1] {
        [SqlValue::Text(self.name.clone())]
    }

    /// The position (0 for a new checkpoint, which this creates). Only a plain read when it
    /// exists: a standby polling it never waits on the row lock of a holder's open transaction
    /// (an `INSERT … ON CONFLICT` would, behind a holder stalled in the middle of a commit).
    pub async fn read(&self) -> Result<i64, StoreError> {
        let read = self.store.sql("SELECT position FROM projection_checkpoints WHERE name = {1}");
        if let Some(position) = self.store.scalar(&read, &self.name()).await? {
            return Ok(position);
        }
        let init = "INSERT INTO projection_checkpoints (name, position) VALUES ({1}, 0) ON CONFLICT (name) DO NOTHING";
        self.store.execute(&self.store.sql(init), &self.name()).await?;
        Ok(self.store.scalar(&read, &self.name()).await?.unwrap_or(0))
    }

    /// The statement moving it from `from` to `to`: affects one row, or none if it moved meanwhile.
    pub fn guard(&self, from: i64, to: i64) -> Statement {
        let mut sql =
            self.store.sql("UPDATE projection_checkpoints SET position = {3} WHERE name = {1} AND position = {2}");
        let mut values = vec![SqlValue::Text(self.name.clone()), SqlValue::Int(from), SqlValue::Int(to)];
        if let Some(fence) = &self.fence {
            let (condition, fence_values) = fence.condition(&self.store, values.len() + 1);
            sql = format!("{sql} AND {condition}");
            values.extend(fence_values);
        }
        (sql, values)
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

#[cfg(test)]
mod placeholder_tests {
    #[test]
    fn every_numbered_placeholder_is_filled_and_other_braces_stay() {
        let filled =
            super::fill_placeholders("a = {1} AND b IN ({10}, {12}) AND c = '{x}' AND d = '{}'", |n| format!("${n}"));
        assert_eq!(filled, "a = $1 AND b IN ($10, $12) AND c = '{x}' AND d = '{}'");
    }
}
