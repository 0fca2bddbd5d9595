//! `rm_inbox`: one row per conversation; the conversation list's filters, sort keys and keyset cursor.

use chrono::{DateTime, Utc};
use convo_domain::ChannelType;
use convo_domain::conversation::{ConversationKind, ConversationStatus};
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use uuid::Uuid;

use super::name;
use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_inbox`: one row per conversation.
pub struct InboxTable;

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
    /// A page of conversations (see [`ConversationQuery::to_sql`]).
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
    /// Only conversations carrying this label (in its canonical spelling).
    pub label: Option<String>,
    /// Only conversations whose attribute (key, value) has this value, as
    /// `convo_projection_inbox::canonical_value` writes it.
    pub attribute: Option<(String, String)>,
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
            label: None,
            attribute: None,
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

    /// The SQL selecting this page's `row` column, with `placeholder(n)` for the n-th value: a
    /// range of the sort key's index on `rm_inbox`, read in order until a page is found; or,
    /// filtered by a label, the same range of the label's rows in `rm_conversation_labels`
    /// (which carry the conversations' sort times), each conversation found by `rm_inbox`'s
    /// primary key for the other filters. Either way the index gives the order: a page reads
    /// about as many rows as it shows, however common or rare the label.
    pub fn to_sql(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<SqlValue>) {
        self.to_sql_from(placeholder)
    }

    fn to_sql_from(&self, placeholder: impl Fn(usize) -> String) -> (String, Vec<SqlValue>) {
        let mut values = Vec::new();
        let mut bind = |v: SqlValue| {
            values.push(v);
            placeholder(values.len())
        };
        let workspace = bind(SqlValue::Text(self.workspace_id.to_string()));
        let from_label = self.label.as_ref();
        let mut sql = match from_label {
            // CROSS JOIN: SQLite joins in the order written. The labels' range drives.
            Some(label) => format!(
                "SELECT i.row FROM rm_conversation_labels l CROSS JOIN rm_inbox i \
                 WHERE l.workspace_id = {workspace} AND l.label = {} AND l.label <> '' \
                 AND i.conversation_id = l.conversation_id AND i.workspace_id = {}",
                bind(SqlValue::Text(label.clone())),
                bind(SqlValue::Text(self.workspace_id.to_string()))
            ),
            None => format!("SELECT i.row FROM rm_inbox i WHERE i.workspace_id = {workspace}"),
        };
        let mut text_filter = |sql: &mut String, column: &str, value: Option<String>| {
            if let Some(v) = value {
                sql.push_str(&format!(" AND i.{column} = {}", bind(SqlValue::Text(v))));
            }
        };
        text_filter(&mut sql, "inbox_id", self.inbox_id.map(|i| i.to_string()));
        text_filter(&mut sql, "status", self.status.as_ref().map(name));
        text_filter(&mut sql, "assignee", self.assignee.clone());
        text_filter(&mut sql, "team", self.team.clone());
        text_filter(&mut sql, "kind", self.kind.as_ref().map(name));
        text_filter(&mut sql, "channel", self.channel.as_ref().map(name));
        if let Some(archived) = self.archived {
            sql.push_str(&format!(" AND i.archived = {}", bind(SqlValue::Bool(archived))));
        }
        if let Some(after) = self.updated_after {
            sql.push_str(&format!(" AND i.last_activity_at_us > {}", bind(SqlValue::Int(after.timestamp_micros()))));
        }
        if let Some((key, value)) = &self.attribute {
            // Checked row by row on the primary key, as a common label is.
            let (key, value) = (bind(SqlValue::Text(key.clone())), bind(SqlValue::Text(value.clone())));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM rm_conversation_attributes a \
                   WHERE a.conversation_id = i.conversation_id AND a.key = {key} AND a.value = {value})"
            ));
        }
        if let Some(user) = &self.unread_for {
            let user = bind(SqlValue::Text(user.clone()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM rm_unread c LEFT JOIN rm_unread m \
                   ON m.conversation_id = c.conversation_id AND m.user_id = {user} \
                   WHERE c.conversation_id = i.conversation_id AND c.user_id = '' AND c.count > COALESCE(m.count, 0))"
            ));
        }
        // The sort key of the rows driving the query: the label's, when it is filtered by one.
        let table = if from_label.is_some() { "l" } else { "i" };
        let column = format!("{table}.{}", self.sort.column());
        let (cmp, dir) = if self.descending { ("<", "DESC") } else { (">", "ASC") };
        if let Some(cursor) = &self.after {
            // The bound alone (`<=` or `>=`) is what the index's range starts from: neither
            // SQLite (with the two values bound apart) nor PostgreSQL makes a range of the OR,
            // and a deep page would read the index from its first entry.
            let bound = bind(SqlValue::Int(cursor.value));
            let v = bind(SqlValue::Int(cursor.value));
            let v2 = bind(SqlValue::Int(cursor.value));
            let id = bind(SqlValue::Text(cursor.conversation_id.to_string()));
            sql.push_str(&format!(
                " AND {column} {cmp}= {bound} AND ({column} {cmp} {v} OR ({column} = {v2} AND {table}.conversation_id {cmp} {id}))"
            ));
        }
        let limit = bind(SqlValue::Int(i64::from(self.limit)));
        sql.push_str(&format!(" ORDER BY {column} {dir}, {table}.conversation_id {dir} LIMIT {limit}"));
        (sql, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sort_name_parses() {
        assert!(SortKey::NAMES.iter().all(|name| SortKey::parse(name).is_some()));
    }

    fn labelled(label: Option<&str>) -> ConversationQuery {
        ConversationQuery {
            label: label.map(str::to_owned),
            archived: Some(false),
            sort: SortKey::LastMessageAt,
            descending: true,
            after: Some(Cursor { value: 5, conversation_id: Uuid::from_u128(7) }),
            ..ConversationQuery::all(Uuid::from_u128(1), 26)
        }
    }

    fn texts(values: &[SqlValue]) -> Vec<String> {
        values
            .iter()
            .map(|v| match v {
                SqlValue::Text(t) => t.clone(),
                SqlValue::Int(i) => i.to_string(),
                SqlValue::Bool(b) => b.to_string(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_label_drives_the_query_along_its_rows_sort_times() {
        let (sql, values) = labelled(Some("vip")).to_sql(|n| format!("${n}"));
        assert_eq!(
            sql,
            "SELECT i.row FROM rm_conversation_labels l CROSS JOIN rm_inbox i \
             WHERE l.workspace_id = $1 AND l.label = $2 AND l.label <> '' \
             AND i.conversation_id = l.conversation_id AND i.workspace_id = $3 AND i.archived = $4 \
             AND l.last_message_at_us <= $5 AND (l.last_message_at_us < $6 \
             OR (l.last_message_at_us = $7 AND l.conversation_id < $8)) \
             ORDER BY l.last_message_at_us DESC, l.conversation_id DESC LIMIT $9"
        );
        let ws = Uuid::from_u128(1).to_string();
        let id = Uuid::from_u128(7).to_string();
        assert_eq!(texts(&values), [ws.as_str(), "vip", ws.as_str(), "false", "5", "5", "5", id.as_str(), "26"]);
    }

    #[test]
    fn without_a_label_the_inbox_sort_index_drives() {
        let query = ConversationQuery { descending: false, ..labelled(None) };
        let (sql, _) = query.to_sql(|n| format!("?{n}"));
        assert!(!sql.contains("rm_conversation_labels"), "{sql}");
        assert!(sql.contains("i.last_message_at_us >= ?3 AND"), "{sql}");
        assert!(sql.ends_with("ORDER BY i.last_message_at_us ASC, i.conversation_id ASC LIMIT ?7"), "{sql}");
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
