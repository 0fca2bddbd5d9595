//! `rm_agent_load`: per conversation what its assignee's counts are summed from.

use std::collections::HashMap;

use convo_domain::conversation::ConversationStatus;
use convo_projection_inbox::{AgentLoadProjection, AgentLoadRow};
use uuid::Uuid;

use super::name;
use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_agent_load`: one row per conversation.
pub struct AgentLoadTable;

impl SqlTable<AgentLoadProjection> for AgentLoadTable {
    const TABLE: &'static str = "rm_agent_load";
    const KEY: &'static [&'static str] = &["conversation_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "assignee", "status", "archived", "unread"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &AgentLoadRow) -> Uuid {
        row.conversation_id
    }

    fn columns(row: &AgentLoadRow) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            row.assignee.clone().into(),
            SqlValue::Text(name(&row.status)),
            SqlValue::Bool(row.archived),
            SqlValue::Bool(row.assignee_unread()),
        ]
    }
}

/// Agent ids per statement of [`AgentLoadModel::counts`].
const AGENTS_PER_COUNT: usize = 500;

/// An agent's load: their assigned conversations that are not archived.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AgentCounts {
    /// Those in status `open`.
    pub open: u64,
    /// Those in status `pending`.
    pub pending: u64,
    /// Those, in any status, with inbound messages the agent has not read.
    pub unread: u64,
}

/// The agents' load read model on a SQL store.
pub type AgentLoadModel<S> = TableStore<AgentLoadProjection, AgentLoadTable, S>;

impl<S: SqlStore> AgentLoadModel<S> {
    /// The conversations assigned to each of `agent_ids` in the workspace, counted: one
    /// statement per 500 ids, reading only `rm_agent_load_by_assignee` (each agent's range of
    /// conversations not archived, which holds every column summed). An agent without assigned
    /// conversations has no entry; no ids, no query.
    pub async fn counts(
        &self,
        workspace_id: Uuid,
        agent_ids: &[String],
    ) -> Result<HashMap<String, AgentCounts>, StoreError> {
        let mut counts = HashMap::new();
        for chunk in agent_ids.chunks(AGENTS_PER_COUNT) {
            let ids: Vec<String> = (0..chunk.len()).map(|i| format!("{{{}}}", i + 6)).collect();
            // Counts first, the assignee last: an agent id may hold a `|`.
            let sql = self.store.sql(&format!(
                "SELECT CAST(SUM(CASE WHEN status = {{2}} THEN 1 ELSE 0 END) AS TEXT) || '|' \
                        || CAST(SUM(CASE WHEN status = {{3}} THEN 1 ELSE 0 END) AS TEXT) || '|' \
                        || CAST(SUM(CASE WHEN unread = {{5}} THEN 1 ELSE 0 END) AS TEXT) || '|' \
                        || assignee \
                   FROM rm_agent_load \
                  WHERE workspace_id = {{1}} AND assignee IN ({}) AND archived = {{4}} \
                  GROUP BY assignee",
                ids.join(", ")
            ));
            let mut values = vec![
                SqlValue::Text(workspace_id.to_string()),
                SqlValue::Text(name(&ConversationStatus::Open)),
                SqlValue::Text(name(&ConversationStatus::Pending)),
                SqlValue::Bool(false),
                SqlValue::Bool(true),
            ];
            values.extend(chunk.iter().map(|id| SqlValue::Text(id.clone())));
            for line in self.store.text_rows(&sql, &values).await? {
                let corrupt = || StoreError::Corrupt(format!("agent counts row {line:?}"));
                let mut parts = line.splitn(4, '|');
                let mut count = || parts.next().and_then(|n| n.parse::<u64>().ok()).ok_or_else(corrupt);
                let agent = AgentCounts { open: count()?, pending: count()?, unread: count()? };
                let agent_id = parts.next().ok_or_else(corrupt)?;
                counts.insert(agent_id.to_owned(), agent);
            }
        }
        Ok(counts)
    }
}
