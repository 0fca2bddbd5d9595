//! `rm_timeline`: one row per message.

use convo_projection_timeline::{MessageKey, TimelineMessage, TimelineProjection};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_timeline`: one row per message.
pub struct TimelineTable;

impl SqlTable<TimelineProjection> for TimelineTable {
    const TABLE: &'static str = "rm_timeline";
    const KEY: &'static [&'static str] = &["conversation_id", "message_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "seq"];

    fn key((conversation, message): &MessageKey) -> Vec<SqlValue> {
        vec![SqlValue::Text(conversation.to_string()), SqlValue::Text(message.to_string())]
    }

    fn key_of(row: &TimelineMessage) -> MessageKey {
        (row.conversation_id, row.message_id)
    }

    fn columns(row: &TimelineMessage) -> Vec<SqlValue> {
        vec![SqlValue::Text(row.workspace_id.to_string()), SqlValue::Int(row.seq as i64)]
    }
}

/// The timeline read model on a SQL store.
pub type TimelineModel<S> = TableStore<TimelineProjection, TimelineTable, S>;

impl<S: SqlStore> TimelineModel<S> {
    /// A page of a conversation's messages by seq: after `after` ascending, or before `before`
    /// descending (newest first when neither is given and `descending`).
    pub async fn page(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
        from: Option<u64>,
        descending: bool,
        limit: u32,
    ) -> Result<Vec<TimelineMessage>, StoreError> {
        let (cmp, dir, bound) = if descending {
            ("<", "DESC", from.map_or(i64::MAX, |s| s as i64))
        } else {
            (">", "ASC", from.unwrap_or(0) as i64)
        };
        let sql = self.store.sql(&format!(
            "SELECT row FROM rm_timeline WHERE conversation_id = {{1}} AND workspace_id = {{2}} AND seq {cmp} {{3}} \
             ORDER BY seq {dir} LIMIT {{4}}"
        ));
        let values = [
            SqlValue::Text(conversation_id.to_string()),
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Int(bound),
            SqlValue::Int(i64::from(limit)),
        ];
        self.select(&sql, &values).await
    }
}
