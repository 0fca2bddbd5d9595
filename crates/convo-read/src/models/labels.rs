//! `rm_conversation_labels`: one row per label on a conversation; the labels in use, counted.

use convo_projection_inbox::{ConversationLabelsProjection, LabelKey, LabelRow};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_conversation_labels`: one row per conversation and label on it, keyed by both, with the
/// conversation's sort times; and one per conversation (`label` empty) holding its labels.
pub struct ConversationLabelsTable;

impl SqlTable<ConversationLabelsProjection> for ConversationLabelsTable {
    const TABLE: &'static str = "rm_conversation_labels";
    const KEY: &'static [&'static str] = &["conversation_id", "label"];
    const COLUMNS: &'static [&'static str] =
        &["workspace_id", "last_message_at_us", "last_activity_at_us", "created_at_us", "open"];

    fn key((conversation_id, label): &LabelKey) -> Vec<SqlValue> {
        vec![SqlValue::Text(conversation_id.to_string()), SqlValue::Text(label.clone())]
    }

    fn key_of(row: &LabelRow) -> LabelKey {
        row.key()
    }

    fn columns(row: &LabelRow) -> Vec<SqlValue> {
        match row {
            // No list reads a conversation's own row by its times (they are in `row`): constant
            // columns leave its indexes as they are when it changes, which is on almost every
            // event (PostgreSQL then updates it in place, touching no index).
            LabelRow::Conversation(c) => vec![
                SqlValue::Text(c.workspace_id.to_string()),
                SqlValue::Int(0),
                SqlValue::Int(0),
                SqlValue::Int(0),
                SqlValue::Bool(false),
            ],
            LabelRow::Label(l) => vec![
                SqlValue::Text(l.workspace_id.to_string()),
                SqlValue::Int(l.times.last_message_or_created().timestamp_micros()),
                SqlValue::Int(l.times.last_activity_at.timestamp_micros()),
                SqlValue::Int(l.times.created_at.timestamp_micros()),
                SqlValue::Bool(l.open),
            ],
        }
    }
}

/// A label in use in a workspace, with the conversations carrying it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LabelCount {
    /// The label, in its canonical spelling (lower case).
    pub label: String,
    /// The conversations carrying it.
    pub conversations: u64,
    /// Of those, the ones in status `open` and not archived.
    pub open: u64,
}

/// The labels read model on a SQL store: what `InboxModel::list` filters a label by, and the
/// labels in use.
pub type ConversationLabelsModel<S> = TableStore<ConversationLabelsProjection, ConversationLabelsTable, S>;

impl<S: SqlStore> ConversationLabelsModel<S> {
    /// A page of the workspace's labels in use (on at least one conversation), by label in byte
    /// order: up to `limit` after the label `after` (keyset), each with its conversations
    /// counted, in one statement: the workspace's range of the label rows grouped by label,
    /// each row saying whether its conversation is open (the model folds status and archiving
    /// too). It reads every row of the page's labels, and nothing else.
    pub async fn counts(
        &self,
        workspace_id: Uuid,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LabelCount>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string()), SqlValue::Bool(true)];
        // After the label `after`, or after the empty one: a conversation's own row is no label.
        values.push(SqlValue::Text(after.unwrap_or_default().to_owned()));
        let keyset = format!(" AND l.label > {{{}}}", values.len());
        values.push(SqlValue::Int(i64::from(limit)));
        // Counts first, the label last: a label may hold a `|`.
        let sql = self.store.sql(&format!(
            "SELECT CAST(COUNT(*) AS TEXT) || '|' \
                    || CAST(SUM(CASE WHEN l.open = {{2}} THEN 1 ELSE 0 END) AS TEXT) || '|' \
                    || l.label \
               FROM rm_conversation_labels l \
              WHERE l.workspace_id = {{1}} AND l.label <> ''{keyset} \
              GROUP BY l.label \
              ORDER BY l.label \
              LIMIT {{{}}}",
            values.len()
        ));
        self.store.text_rows(&sql, &values).await?.iter().map(|line| parse_count(line)).collect()
    }
}

/// A row of [`ConversationLabelsModel::counts`]: `conversations|open|label`.
fn parse_count(line: &str) -> Result<LabelCount, StoreError> {
    let corrupt = || StoreError::Corrupt(format!("label counts row {line:?}"));
    let mut parts = line.splitn(3, '|');
    let mut count = || parts.next().and_then(|n| n.parse::<u64>().ok()).ok_or_else(corrupt);
    let (conversations, open) = (count()?, count()?);
    let label = parts.next().ok_or_else(corrupt)?;
    Ok(LabelCount { label: label.to_owned(), conversations, open })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counts_row_is_two_counts_then_the_label_which_may_hold_a_bar() {
        assert_eq!(parse_count("12|3|vip").ok(), Some(LabelCount { label: "vip".into(), conversations: 12, open: 3 }));
        assert_eq!(parse_count("1|0|a|b").ok(), Some(LabelCount { label: "a|b".into(), conversations: 1, open: 0 }));
        assert!(matches!(parse_count("1|x|vip"), Err(StoreError::Corrupt(_))));
        assert!(matches!(parse_count("1|0"), Err(StoreError::Corrupt(_))));
    }
}
