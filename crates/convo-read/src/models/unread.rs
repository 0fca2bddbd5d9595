//! `rm_unread`: unread counts per user and conversation, and the summary per user.

use convo_projection_unread::{UnreadKey, UnreadProjection, UnreadRow};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_unread`: conversations' inbound counts and users' read markers.
pub struct UnreadTable;

impl SqlTable<UnreadProjection> for UnreadTable {
    const TABLE: &'static str = "rm_unread";
    const KEY: &'static [&'static str] = &["conversation_id", "user_id"];
    const COLUMNS: &'static [&'static str] = &["kind", "workspace_id", "inbox_id", "count", "activity_us"];

    fn key(key: &UnreadKey) -> Vec<SqlValue> {
        let (conversation, user) = match key {
            UnreadKey::Conversation(c) => (c, ""),
            UnreadKey::Marker(c, user) => (c, user.as_str()),
        };
        vec![SqlValue::Text(conversation.to_string()), SqlValue::Text(user.to_owned())]
    }

    fn key_of(row: &UnreadRow) -> UnreadKey {
        row.key()
    }

    fn columns(row: &UnreadRow) -> Vec<SqlValue> {
        let (kind, workspace, inbox, count, activity) = match row {
            UnreadRow::Conversation(c) => {
                ("conversation", c.workspace_id, c.inbox_id, c.inbound_count, c.last_activity_at)
            }
            UnreadRow::Marker(m) => ("marker", m.workspace_id, m.inbox_id, m.inbound_read, m.activity_seen_at),
        };
        vec![
            SqlValue::Text(kind.to_owned()),
            SqlValue::Text(workspace.to_string()),
            SqlValue::Text(inbox.to_string()),
            SqlValue::Int(count as i64),
            SqlValue::Int(activity.map_or(0, |t| t.timestamp_micros())),
        ]
    }
}

/// A user's unread messages across the workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct UnreadSummary {
    pub user_id: String,
    /// Inbound messages the user has not read.
    pub total: u64,
    /// Conversations with at least one of them.
    pub conversations: u64,
    /// Activity-only group conversations with activity the user has not seen: an unread dot
    /// each (they keep no messages to count).
    pub activity: u64,
    pub inboxes: Vec<InboxUnread>,
    /// The global position this summary reflects: it never goes down.
    pub version: i64,
}

/// A user's unread messages in one inbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct InboxUnread {
    pub inbox_id: Uuid,
    pub unread: u64,
    pub conversations: u64,
    /// Activity-only groups with unseen activity.
    pub activity: u64,
}

/// The read-state read model on a SQL store.
pub type UnreadModel<S> = TableStore<UnreadProjection, UnreadTable, S>;

impl<S: SqlStore> UnreadModel<S> {
    /// How many inbound messages `user_id` has not read in each of `conversations` (those with
    /// none received are absent), read in one statement.
    pub async fn unread_in(
        &self,
        user_id: &str,
        conversations: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, u64>, StoreError> {
        if conversations.is_empty() {
            return Ok(Default::default());
        }
        let ids: Vec<String> = (2..conversations.len() + 2).map(|n| format!("{{{n}}}")).collect();
        let sql = self.store.sql(&format!(
            "SELECT c.conversation_id || '|' || CAST(CASE WHEN c.count > COALESCE(m.count, 0) \
                    THEN c.count - COALESCE(m.count, 0) ELSE 0 END AS TEXT) \
               FROM rm_unread c \
               LEFT JOIN rm_unread m ON m.conversation_id = c.conversation_id AND m.user_id = {{1}} \
              WHERE c.user_id = '' AND c.conversation_id IN ({})",
            ids.join(", ")
        ));
        let mut values = vec![SqlValue::Text(user_id.to_owned())];
        values.extend(conversations.iter().map(|c| SqlValue::Text(c.to_string())));
        let corrupt = |line: &str| StoreError::Corrupt(format!("unread row {line:?}"));
        let mut unread = std::collections::HashMap::with_capacity(conversations.len());
        for line in self.store.text_rows(&sql, &values).await? {
            let (id, count) = line.split_once('|').ok_or_else(|| corrupt(&line))?;
            unread.insert(Uuid::parse_str(id).map_err(|_| corrupt(&line))?, count.parse().map_err(|_| corrupt(&line))?);
        }
        Ok(unread)
    }

    /// The summary and the checkpoint it reflects, read in one statement (one snapshot).
    pub async fn summary(&self, workspace_id: Uuid, user_id: &str) -> Result<UnreadSummary, StoreError> {
        let sql = self.store.sql(
            "SELECT CAST(cp.position AS TEXT) || '|' || COALESCE(u.inbox_id, '') || '|' \
                    || CAST(COALESCE(u.unread, 0) AS TEXT) || '|' || CAST(COALESCE(u.conversations, 0) AS TEXT) \
                    || '|' || CAST(COALESCE(u.activity, 0) AS TEXT)
               FROM projection_checkpoints cp
               LEFT JOIN (
                   SELECT c.inbox_id AS inbox_id,
                          SUM(CASE WHEN c.count > COALESCE(m.count, 0) THEN c.count - COALESCE(m.count, 0) ELSE 0 END) AS unread,
                          SUM(CASE WHEN c.count > COALESCE(m.count, 0) THEN 1 ELSE 0 END) AS conversations,
                          SUM(CASE WHEN c.activity_us > COALESCE(m.activity_us, 0) THEN 1 ELSE 0 END) AS activity
                     FROM rm_unread c
                     LEFT JOIN rm_unread m ON m.conversation_id = c.conversation_id AND m.user_id = {2}
                    WHERE c.user_id = '' AND c.workspace_id = {1}
                      AND (c.count > COALESCE(m.count, 0) OR c.activity_us > COALESCE(m.activity_us, 0))
                    GROUP BY c.inbox_id
               ) u ON 1 = 1
              WHERE cp.name = {3}
              ORDER BY u.inbox_id",
        );
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(user_id.to_owned()),
            SqlValue::Text(<UnreadProjection as convo_projection::Projection>::NAME.to_owned()),
        ];
        let corrupt = |line: &str| StoreError::Corrupt(format!("unread summary row {line:?}"));
        let mut summary = UnreadSummary {
            user_id: user_id.to_owned(),
            total: 0,
            conversations: 0,
            activity: 0,
            inboxes: vec![],
            version: 0,
        };
        for line in self.store.text_rows(&sql, &values).await? {
            let parts: Vec<&str> = line.split('|').collect();
            let [version, inbox, unread, conversations, activity] = parts[..] else { return Err(corrupt(&line)) };
            summary.version = version.parse().map_err(|_| corrupt(&line))?;
            if inbox.is_empty() {
                continue;
            }
            let unread: u64 = unread.parse().map_err(|_| corrupt(&line))?;
            let conversations: u64 = conversations.parse().map_err(|_| corrupt(&line))?;
            let activity: u64 = activity.parse().map_err(|_| corrupt(&line))?;
            summary.total += unread;
            summary.conversations += conversations;
            summary.activity += activity;
            summary.inboxes.push(InboxUnread {
                inbox_id: Uuid::parse_str(inbox).map_err(|_| corrupt(&line))?,
                unread,
                conversations,
                activity,
            });
        }
        Ok(summary)
    }
}
