//! `rm_inboxes`: one row per inbox.

use convo_projection_inboxes::{InboxView, InboxesProjection};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_inboxes`: one row per inbox.
pub struct InboxesTable;

impl SqlTable<InboxesProjection> for InboxesTable {
    const TABLE: &'static str = "rm_inboxes";
    const KEY: &'static [&'static str] = &["inbox_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "deleted"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &InboxView) -> Uuid {
        row.inbox_id
    }

    fn columns(row: &InboxView) -> Vec<SqlValue> {
        vec![SqlValue::Text(row.workspace_id.to_string()), SqlValue::Bool(row.deleted_at.is_some())]
    }
}

/// The inboxes read model on a SQL store.
pub type InboxesModel<S> = TableStore<InboxesProjection, InboxesTable, S>;

impl<S: SqlStore> InboxesModel<S> {
    /// A page of a workspace's inboxes by id: up to `limit` after the inbox `after` (keyset on
    /// `rm_inboxes_by_workspace`).
    pub async fn list(
        &self,
        workspace_id: Uuid,
        include_deleted: bool,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<InboxView>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT row FROM rm_inboxes WHERE workspace_id = {1}");
        if !include_deleted {
            values.push(SqlValue::Bool(false));
            sql.push_str(&format!(" AND deleted = {{{}}}", values.len()));
        }
        if let Some(after) = after {
            values.push(SqlValue::Text(after.to_string()));
            sql.push_str(&format!(" AND inbox_id > {{{}}}", values.len()));
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY inbox_id LIMIT {{{}}}", values.len()));
        self.select(&self.store.sql(&sql), &values).await
    }

    pub async fn get(&self, workspace_id: Uuid, inbox_id: Uuid) -> Result<Option<InboxView>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_inboxes WHERE inbox_id = {1} AND workspace_id = {2}");
        let values = [SqlValue::Text(inbox_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        Ok(self.select(&sql, &values).await?.pop())
    }
}
