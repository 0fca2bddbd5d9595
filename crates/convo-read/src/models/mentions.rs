//! `rm_mentions`: the agents private notes mention, and where each has read to.

use convo_projection_timeline::{MentionView, MentionsKey, MentionsProjection, MentionsRow};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_mentions`: one row per (conversation, note, agent mentioned), and per (conversation,
/// agent mentioned) the agent's read marker under an empty `message_id`.
pub struct MentionsTable;

impl SqlTable<MentionsProjection> for MentionsTable {
    const TABLE: &'static str = "rm_mentions";
    const KEY: &'static [&'static str] = &["conversation_id", "message_id", "agent_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "seq", "position"];

    fn key(key: &MentionsKey) -> Vec<SqlValue> {
        let (conversation, message, agent) = match key {
            MentionsKey::Mention(c, m, a) => (c, m.to_string(), a),
            MentionsKey::Marker(c, a) => (c, String::new(), a),
        };
        vec![SqlValue::Text(conversation.to_string()), SqlValue::Text(message), SqlValue::Text(agent.clone())]
    }

    fn key_of(row: &MentionsRow) -> MentionsKey {
        row.key()
    }

    fn columns(row: &MentionsRow) -> Vec<SqlValue> {
        let (workspace, seq, position) = match row {
            MentionsRow::Mention(m) => (m.workspace_id, m.seq, m.position),
            // Below every note's position: the end of an agent's range in the index.
            MentionsRow::Marker(m) => (m.workspace_id, m.read_seq, -1),
        };
        vec![SqlValue::Text(workspace.to_string()), SqlValue::Int(seq as i64), SqlValue::Int(position)]
    }
}

/// The mentions read model on a SQL store.
pub type MentionsModel<S> = TableStore<MentionsProjection, MentionsTable, S>;

impl<S: SqlStore> MentionsModel<S> {
    /// A page of the notes mentioning `agent_id`, newest first: up to `limit` before the log
    /// position `before`, each read or not by the agent's marker in its conversation, in one
    /// statement (the agent's range of `rm_mentions_by_agent`, each marker by primary key).
    pub async fn page(
        &self,
        workspace_id: Uuid,
        agent_id: &str,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MentionView>, StoreError> {
        let sql = self.store.sql(
            "SELECT CASE WHEN r.seq >= m.seq THEN 'r' ELSE 'u' END || m.row \
               FROM rm_mentions m \
               LEFT JOIN rm_mentions r \
                 ON r.conversation_id = m.conversation_id AND r.message_id = '' AND r.agent_id = m.agent_id \
              WHERE m.workspace_id = {1} AND m.agent_id = {2} AND m.position >= 0 AND m.position < {3} \
              ORDER BY m.position DESC \
              LIMIT {4}",
        );
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(agent_id.to_owned()),
            SqlValue::Int(before.unwrap_or(i64::MAX)),
            SqlValue::Int(i64::from(limit)),
        ];
        self.store.text_rows(&sql, &values).await?.iter().map(|line| parse(line)).collect()
    }
}

/// A row of [`MentionsModel::page`]: `r` (read) or `u`, then the mention's row.
fn parse(line: &str) -> Result<MentionView, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("mentions row {line:?}: {why}"));
    let (flag, row) = line.split_at_checked(1).ok_or_else(|| corrupt("empty".into()))?;
    match serde_json::from_str(row).map_err(|e| corrupt(e.to_string()))? {
        MentionsRow::Mention(mention) => Ok(MentionView { read: flag == "r", ..mention }),
        MentionsRow::Marker(_) => Err(corrupt("a marker where a mention was asked for".into())),
    }
}
