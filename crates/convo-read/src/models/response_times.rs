//! `rm_response_times`: each response's time and the summary per inbox and responder.

use convo_projection_response_times::{
    ResponseKey, ResponseRow, ResponseSummary, ResponseTime, ResponseTimesProjection,
};
use uuid::Uuid;

use super::name;
use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_response_times`: per conversation its summary (seq 0) and one row per response (its seq).
pub struct ResponseTimesTable;

impl SqlTable<ResponseTimesProjection> for ResponseTimesTable {
    const TABLE: &'static str = "rm_response_times";
    const KEY: &'static [&'static str] = &["conversation_id", "seq"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "inbox_id", "responder", "responded_at_us", "seconds"];

    fn key(key: &ResponseKey) -> Vec<SqlValue> {
        let (conversation, seq) = match key {
            ResponseKey::Summary(c) => (c, 0),
            ResponseKey::Response(c, seq) => (c, *seq),
        };
        vec![SqlValue::Text(conversation.to_string()), SqlValue::Int(seq as i64)]
    }

    fn key_of(row: &ResponseRow) -> ResponseKey {
        row.key()
    }

    fn columns(row: &ResponseRow) -> Vec<SqlValue> {
        let (workspace, inbox, responder, at, seconds) = match row {
            ResponseRow::Summary(s) => (s.workspace_id, s.inbox_id, String::new(), 0, 0),
            ResponseRow::Response(r) => {
                (r.workspace_id, r.inbox_id, name(&r.responder), r.responded_at.timestamp_micros(), r.seconds as i64)
            }
        };
        vec![
            SqlValue::Text(workspace.to_string()),
            SqlValue::Text(inbox.to_string()),
            SqlValue::Text(responder),
            SqlValue::Int(at),
            SqlValue::Int(seconds),
        ]
    }
}

/// A conversation's response times: its summary and a page of its responses.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseTimes {
    pub summary: Option<ResponseSummary>,
    pub responses: Vec<ResponseTime>,
}

/// The response-time read model on a SQL store.
pub type ResponseTimesModel<S> = TableStore<ResponseTimesProjection, ResponseTimesTable, S>;

impl<S: SqlStore> ResponseTimesModel<S> {
    /// A conversation's summary and up to `limit` of its responses after seq `after`, in seq
    /// order, read in one statement (one snapshot).
    pub async fn conversation(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<ResponseTimes, StoreError> {
        let sql = self.store.sql(
            "SELECT row FROM rm_response_times WHERE conversation_id = {1} AND workspace_id = {2} \
             AND (seq = 0 OR seq > {3}) ORDER BY seq LIMIT {4}",
        );
        let values = [
            SqlValue::Text(conversation_id.to_string()),
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Int(after as i64),
            // The summary sorts first (seq 0), then the responses.
            SqlValue::Int(i64::from(limit) + 1),
        ];
        let mut found = ResponseTimes { summary: None, responses: vec![] };
        for row in self.select(&sql, &values).await? {
            match row {
                ResponseRow::Summary(s) => found.summary = Some(*s),
                ResponseRow::Response(r) => found.responses.push(r),
            }
        }
        Ok(found)
    }
}
