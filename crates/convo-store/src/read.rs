//! The read models' tables and queries, written once for every SQL backend: what the list
//! can filter and sort on, and the keyset cursor.

use chrono::{DateTime, Utc};
use convo_domain::ChannelType;
use convo_domain::conversation::{ConversationKind, ConversationStatus};
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use convo_projection_inboxes::{InboxView, InboxesProjection};
use convo_projection_timeline::{MessageKey, TimelineMessage, TimelineProjection};
use convo_projection_unread::{UnreadKey, UnreadProjection, UnreadRow};
use uuid::Uuid;

use crate::StoreError;
use crate::sql::{SqlStore, SqlTable, SqlValue, TableStore};

/// `rm_inbox`: one row per conversation.
pub struct InboxTable;

fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl SqlTable<InboxProjection> for InboxTable {
    const TABLE: &'static str = "rm_inbox";
    const KEY: &'static [&'static str] = &["conversation_id"];
    const COLUMNS: &'static [&'static str] = &[
        "workspace_id",
        "inbox_id",
        "channel",
        "kind",
        "status",
        "archived",
        "assignee",
        "team",
        "last_message_at_us",
        "last_activity_at_us",
        "created_at_us",
    ];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &ConversationSummary) -> Uuid {
        row.conversation_id
    }

    fn columns(row: &ConversationSummary) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            SqlValue::Text(row.inbox_id.to_string()),
            SqlValue::Text(name(&row.channel)),
            SqlValue::Text(name(&row.kind)),
            SqlValue::Text(name(&row.status)),
            SqlValue::Bool(row.archived),
            row.assignee.clone().into(),
            row.team.clone().into(),
            SqlValue::Int(SortKey::LastMessageAt.value(row)),
            SqlValue::Int(SortKey::LastActivityAt.value(row)),
            SqlValue::Int(SortKey::CreatedAt.value(row)),
        ]
    }
}

/// The inbox read model on a SQL store.
pub type InboxModel<S> = TableStore<InboxProjection, InboxTable, S>;

impl<S: SqlStore> InboxModel<S> {
    pub async fn list(&self, query: &ConversationQuery) -> Result<Vec<ConversationSummary>, StoreError> {
        let (sql, values) = query.to_sql(|n| self.store.placeholder(n));
        self.select(&sql, &values).await
    }

    pub async fn get(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
    ) -> Result<Option<ConversationSummary>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_inbox WHERE conversation_id = {1} AND workspace_id = {2}");
        let values = [SqlValue::Text(conversation_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        Ok(self.select(&sql, &values).await?.pop())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    LastMessageAt,
    LastActivityAt,
    CreatedAt,
}

impl SortKey {
    /// The names [`SortKey::parse`] takes.
    pub const NAMES: [&'static str; 3] = ["last_message_at", "last_activity_at", "created_at"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "last_message_at" => Some(Self::LastMessageAt),
            "last_activity_at" => Some(Self::LastActivityAt),
            "created_at" => Some(Self::CreatedAt),
            _ => None,
        }
    }

    /// The integer column (microseconds since the epoch) it sorts on.
    pub const fn column(self) -> &'static str {
        match self {
            Self::LastMessageAt => "last_message_at_us",
            Self::LastActivityAt => "last_activity_at_us",
            Self::CreatedAt => "created_at_us",
        }
    }

    pub fn value(self, row: &ConversationSummary) -> i64 {
        match self {
            Self::LastMessageAt => row.last_message_at(),
            Self::LastActivityAt => row.last_activity_at,
            Self::CreatedAt => row.created_at,
        }
        .timestamp_micros()
    }
}

/// Where the previous page ended: the sort value and id of its last row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub value: i64,
    pub conversation_id: Uuid,
}

impl Cursor {
    /// Opaque to clients; stable while new writes arrive (keyset, not offset).
    pub fn encode(&self) -> String {
        format!("c1{:016x}{}", self.value as u64, self.conversation_id.simple())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("c1")?;
        // Hex digits only: `from_str_radix` would also take a sign.
        if rest.len() != 48 || !rest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let value = u64::from_str_radix(&rest[..16], 16).ok()? as i64;
        let conversation_id = Uuid::try_parse(&rest[16..]).ok()?;
        Some(Self { value, conversation_id })
    }
}

#[derive(Debug, Clone)]
pub struct ConversationQuery {
    pub workspace_id: Uuid,
    pub inbox_id: Option<Uuid>,
    pub status: Option<ConversationStatus>,
    /// `None`: both archived and not.
    pub archived: Option<bool>,
    pub assignee: Option<String>,
    pub team: Option<String>,
    pub kind: Option<ConversationKind>,
    pub channel: Option<ChannelType>,
    pub updated_after: Option<DateTime<Utc>>,
    /// Only conversations with inbound messages this user has not read.
    pub unread_for: Option<String>,
    pub sort: SortKey,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl ConversationQuery {
    /// Every conversation of a workspace, oldest first, up to `limit`.
    pub fn all(workspace_id: Uuid, limit: u32) -> Self {
        Self {
            workspace_id,
            inbox_id: None,
            status: None,
            archived: None,
            assignee: None,
            team: None,
            kind: None,
            channel: None,
            updated_after: None,
            unread_for: None,
            sort: SortKey::CreatedAt,
            descending: false,
            after: None,
            limit,
        }
    }

    /// The SQL selecting this page's `row` column, with `placeholder(n)` for the n-th value.
    pub fn to_sql(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<SqlValue>) {
        let mut values = Vec::new();
        let mut bind = |v: SqlValue| {
            values.push(v);
            placeholder(values.len())
        };
        let mut sql = format!(
            "SELECT row FROM rm_inbox WHERE workspace_id = {}",
            bind(SqlValue::Text(self.workspace_id.to_string()))
        );
        let mut text_filter = |sql: &mut String, column: &str, value: Option<String>| {
            if let Some(v) = value {
                sql.push_str(&format!(" AND {column} = {}", bind(SqlValue::Text(v))));
            }
        };
        text_filter(&mut sql, "inbox_id", self.inbox_id.map(|i| i.to_string()));
        text_filter(&mut sql, "status", self.status.as_ref().map(name));
        text_filter(&mut sql, "assignee", self.assignee.clone());
        text_filter(&mut sql, "team", self.team.clone());
        text_filter(&mut sql, "kind", self.kind.as_ref().map(name));
        text_filter(&mut sql, "channel", self.channel.as_ref().map(name));
        if let Some(archived) = self.archived {
            sql.push_str(&format!(" AND archived = {}", bind(SqlValue::Bool(archived))));
        }
        if let Some(after) = self.updated_after {
            sql.push_str(&format!(" AND last_activity_at_us > {}", bind(SqlValue::Int(after.timestamp_micros()))));
        }
        if let Some(user) = &self.unread_for {
            let user = bind(SqlValue::Text(user.clone()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM rm_unread c LEFT JOIN rm_unread m \
                   ON m.conversation_id = c.conversation_id AND m.user_id = {user} \
                   WHERE c.conversation_id = rm_inbox.conversation_id AND c.user_id = '' AND c.count > COALESCE(m.count, 0))"
            ));
        }
        let column = self.sort.column();
        let (cmp, dir) = if self.descending { ("<", "DESC") } else { (">", "ASC") };
        if let Some(cursor) = &self.after {
            let v = bind(SqlValue::Int(cursor.value));
            let v2 = bind(SqlValue::Int(cursor.value));
            let id = bind(SqlValue::Text(cursor.conversation_id.to_string()));
            sql.push_str(&format!(" AND ({column} {cmp} {v} OR ({column} = {v2} AND conversation_id {cmp} {id}))"));
        }
        let limit = bind(SqlValue::Int(i64::from(self.limit)));
        sql.push_str(&format!(" ORDER BY {column} {dir}, conversation_id {dir} LIMIT {limit}"));
        (sql, values)
    }
}

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
    pub async fn list(&self, workspace_id: Uuid, include_deleted: bool) -> Result<Vec<InboxView>, StoreError> {
        let filter = if include_deleted { "" } else { " AND deleted = {2}" };
        let sql =
            self.store.sql(&format!("SELECT row FROM rm_inboxes WHERE workspace_id = {{1}}{filter} ORDER BY inbox_id"));
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        if !include_deleted {
            values.push(SqlValue::Bool(false));
        }
        self.select(&sql, &values).await
    }

    pub async fn get(&self, workspace_id: Uuid, inbox_id: Uuid) -> Result<Option<InboxView>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_inboxes WHERE inbox_id = {1} AND workspace_id = {2}");
        let values = [SqlValue::Text(inbox_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        Ok(self.select(&sql, &values).await?.pop())
    }
}

/// `rm_unread`: conversations' inbound counts and users' read markers.
pub struct UnreadTable;

impl SqlTable<UnreadProjection> for UnreadTable {
    const TABLE: &'static str = "rm_unread";
    const KEY: &'static [&'static str] = &["conversation_id", "user_id"];
    const COLUMNS: &'static [&'static str] = &["kind", "workspace_id", "inbox_id", "count"];

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
        let (kind, workspace, inbox, count) = match row {
            UnreadRow::Conversation(c) => ("conversation", c.workspace_id, c.inbox_id, c.inbound_count),
            UnreadRow::Marker(m) => ("marker", m.workspace_id, m.inbox_id, m.inbound_read),
        };
        vec![
            SqlValue::Text(kind.to_owned()),
            SqlValue::Text(workspace.to_string()),
            SqlValue::Text(inbox.to_string()),
            SqlValue::Int(count as i64),
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
}

/// The read-state read model on a SQL store.
pub type UnreadModel<S> = TableStore<UnreadProjection, UnreadTable, S>;

impl<S: SqlStore> UnreadModel<S> {
    /// The summary and the checkpoint it reflects, read in one statement (one snapshot).
    pub async fn summary(&self, workspace_id: Uuid, user_id: &str) -> Result<UnreadSummary, StoreError> {
        let sql = self.store.sql(
            "SELECT CAST(cp.position AS TEXT) || '|' || COALESCE(u.inbox_id, '') || '|' \
                    || CAST(COALESCE(u.unread, 0) AS TEXT) || '|' || CAST(COALESCE(u.conversations, 0) AS TEXT)
               FROM projection_checkpoints cp
               LEFT JOIN (
                   SELECT c.inbox_id AS inbox_id, SUM(c.count - COALESCE(m.count, 0)) AS unread, COUNT(*) AS conversations
                     FROM rm_unread c
                     LEFT JOIN rm_unread m ON m.conversation_id = c.conversation_id AND m.user_id = {2}
                    WHERE c.user_id = '' AND c.workspace_id = {1} AND c.count > COALESCE(m.count, 0)
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
        let mut summary =
            UnreadSummary { user_id: user_id.to_owned(), total: 0, conversations: 0, inboxes: vec![], version: 0 };
        for line in self.store.text_rows(&sql, &values).await? {
            let parts: Vec<&str> = line.split('|').collect();
            let [version, inbox, unread, conversations] = parts[..] else { return Err(corrupt(&line)) };
            summary.version = version.parse().map_err(|_| corrupt(&line))?;
            if inbox.is_empty() {
                continue;
            }
            let unread: u64 = unread.parse().map_err(|_| corrupt(&line))?;
            let conversations: u64 = conversations.parse().map_err(|_| corrupt(&line))?;
            summary.total += unread;
            summary.conversations += conversations;
            summary.inboxes.push(InboxUnread {
                inbox_id: Uuid::parse_str(inbox).map_err(|_| corrupt(&line))?,
                unread,
                conversations,
            });
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_name_parses() {
        assert!(SortKey::NAMES.iter().all(|name| SortKey::parse(name).is_some()));
    }

    #[test]
    fn a_cursor_is_c1_and_48_hex_digits() {
        let cursor = Cursor { value: -5, conversation_id: Uuid::from_u128(7) };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor.clone()));
        assert_eq!(Cursor::decode(&cursor.encode().to_uppercase().replacen('C', "c", 1)), Some(cursor.clone()));
        let signed = format!("c1+{}", &cursor.encode()[3..]);
        assert_eq!(signed.len(), cursor.encode().len());
        assert_eq!(Cursor::decode(&signed), None);
        assert_eq!(Cursor::decode("abc"), None);
    }
}
