//! The read models' tables and queries, written once for every SQL backend: what the list
//! can filter and sort on, and the keyset cursor.

use chrono::{DateTime, Utc};
use convo_domain::ChannelType;
use convo_domain::conversation::{ConversationKind, ConversationStatus};
use convo_projection_groups::{GroupKey, GroupRow, GroupsProjection, JoinRequest, Membership};
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use convo_projection_inboxes::{InboxView, InboxesProjection};
use convo_projection_response_times::{
    ResponseKey, ResponseRow, ResponseSummary, ResponseTime, ResponseTimesProjection,
};
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

/// `rm_groups`: groups' owners, members' spans and pending join requests.
pub struct GroupsTable;

impl SqlTable<GroupsProjection> for GroupsTable {
    const TABLE: &'static str = "rm_groups";
    const KEY: &'static [&'static str] = &["conversation_id", "kind", "entry_id", "span"];
    const COLUMNS: &'static [&'static str] =
        &["workspace_id", "self_rank", "role_rank", "joined_at_us", "since_pos", "until_pos"];

    fn key(key: &GroupKey) -> Vec<SqlValue> {
        let (conversation, kind, entry, span) = match key {
            GroupKey::Group(c) => (c, "group", String::new(), 0),
            GroupKey::Member(c, m) => (c, "member", m.clone(), 0),
            GroupKey::Past(c, m, since) => (c, "past", m.clone(), *since),
            GroupKey::Request(c, r) => (c, "request", r.to_string(), 0),
        };
        vec![
            SqlValue::Text(conversation.to_string()),
            SqlValue::Text(kind.to_owned()),
            SqlValue::Text(entry),
            SqlValue::Int(span),
        ]
    }

    fn key_of(row: &GroupRow) -> GroupKey {
        row.key()
    }

    fn columns(row: &GroupRow) -> Vec<SqlValue> {
        let (workspace, self_rank, role_rank, joined_at, since, until) = match row {
            GroupRow::Group(g) => (g.workspace_id, 1, 1, 0, 0, None),
            GroupRow::Member(m) | GroupRow::Past(m) => (
                m.workspace_id,
                i64::from(!m.is_self),
                i64::from(m.role != convo_domain::conversation::GroupRole::Admin),
                m.joined_at.timestamp_micros(),
                m.since_position,
                m.until_position,
            ),
            GroupRow::Request(r) => (r.workspace_id, 1, 1, r.requested_at.timestamp_micros(), r.position, None),
        };
        vec![
            SqlValue::Text(workspace.to_string()),
            SqlValue::Int(self_rank),
            SqlValue::Int(role_rank),
            SqlValue::Int(joined_at),
            SqlValue::Int(since),
            // An open span lasts for ever: no NULL, so `until_pos > P` is the whole test.
            SqlValue::Int(until.unwrap_or(i64::MAX)),
        ]
    }
}

/// Where a members page starts: after the member with these sort values (the inbox's own
/// member first, then admins, then by joining time and id). Its order is the members' order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberCursor {
    pub self_rank: i64,
    pub role_rank: i64,
    pub joined_at_us: i64,
    pub member_id: String,
}

impl MemberCursor {
    pub fn of(m: &Membership) -> Self {
        Self {
            self_rank: i64::from(!m.is_self),
            role_rank: i64::from(m.role != convo_domain::conversation::GroupRole::Admin),
            joined_at_us: m.joined_at.timestamp_micros(),
            member_id: m.member_id.clone(),
        }
    }

    /// `m1.` and the values, the member id hex-encoded: opaque to clients, safe in a URL.
    pub fn encode(&self) -> String {
        let hex: String = self.member_id.bytes().map(|b| format!("{b:02x}")).collect();
        format!("m1.{}.{}.{}.{hex}", self.self_rank, self.role_rank, self.joined_at_us)
    }

    pub fn decode(text: &str) -> Option<Self> {
        let mut parts = text.strip_prefix("m1.")?.split('.');
        let self_rank = parts.next()?.parse().ok().filter(|r| (0..=1).contains(r))?;
        let role_rank = parts.next()?.parse().ok().filter(|r| (0..=1).contains(r))?;
        let joined_at_us = parts.next()?.parse().ok()?;
        let hex = parts.next()?;
        if parts.next().is_some() || hex.is_empty() || hex.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
        let member_id = String::from_utf8(bytes?).ok()?;
        Some(Self { self_rank, role_rank, joined_at_us, member_id })
    }
}

/// Where a join-requests page starts: after the request asked at this position (requests in
/// the order they were asked, the id breaking ties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequestCursor {
    pub position: i64,
    pub request_id: Uuid,
}

impl JoinRequestCursor {
    pub fn of(r: &JoinRequest) -> Self {
        Self { position: r.position, request_id: r.request_id }
    }

    /// `r1.`, the position and the request id's 32 hex digits: opaque to clients, safe in a URL.
    pub fn encode(&self) -> String {
        format!("r1.{}.{}", self.position, self.request_id.simple())
    }

    pub fn decode(text: &str) -> Option<Self> {
        let (position, id) = text.strip_prefix("r1.")?.split_once('.')?;
        let position = decimal(position)?;
        // Exactly the 32 lowercase hex digits `encode` writes; `Uuid::try_parse` takes more forms.
        if id.len() != 32 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        Some(Self { position, request_id: Uuid::try_parse(id).ok()? })
    }
}

/// A non-negative integer of 1 to 18 decimal digits (so any such text fits an `i64`), else
/// `None`: signs, spaces and other forms `str::parse` takes are not a cursor.
fn decimal(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The group read model on a SQL store.
pub type GroupsModel<S> = TableStore<GroupsProjection, GroupsTable, S>;

impl<S: SqlStore> GroupsModel<S> {
    /// A page of a group's members: the current ones, or those at `at_position` with their role
    /// then; the inbox's own member first, then admins, then by joining time.
    pub async fn members(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
        at_position: Option<i64>,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<Membership>, StoreError> {
        let mut values = vec![SqlValue::Text(conversation_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT row FROM rm_groups WHERE conversation_id = {1} AND workspace_id = {2} AND ");
        match at_position {
            None => sql.push_str("kind = 'member'"),
            Some(p) => {
                values.push(SqlValue::Int(p));
                sql.push_str("kind IN ('member', 'past') AND since_pos <= {3} AND until_pos > {3}");
            }
        }
        if let Some(c) = after {
            let n = values.len();
            sql.push_str(&format!(
                " AND (self_rank, role_rank, joined_at_us, entry_id) > ({{{}}}, {{{}}}, {{{}}}, {{{}}})",
                n + 1,
                n + 2,
                n + 3,
                n + 4
            ));
            values.extend([
                SqlValue::Int(c.self_rank),
                SqlValue::Int(c.role_rank),
                SqlValue::Int(c.joined_at_us),
                SqlValue::Text(c.member_id.clone()),
            ]);
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY self_rank, role_rank, joined_at_us, entry_id LIMIT {{{}}}", values.len()));
        let rows = self.select(&self.store.sql(&sql), &values).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r {
                GroupRow::Member(m) | GroupRow::Past(m) => Some(m),
                _ => None,
            })
            .collect())
    }

    /// A page of a group's pending join requests, oldest first: up to `limit` after `after`.
    pub async fn join_requests(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
        after: Option<&JoinRequestCursor>,
        limit: u32,
    ) -> Result<Vec<JoinRequest>, StoreError> {
        let mut values = vec![SqlValue::Text(conversation_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from(
            "SELECT row FROM rm_groups WHERE conversation_id = {1} AND workspace_id = {2} AND kind = 'request'",
        );
        if let Some(c) = after {
            values.extend([SqlValue::Int(c.position), SqlValue::Text(c.request_id.to_string())]);
            sql.push_str(" AND (since_pos, entry_id) > ({3}, {4})");
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY since_pos, entry_id LIMIT {{{}}}", values.len()));
        let rows = self.select(&self.store.sql(&sql), &values).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| match r {
                GroupRow::Request(r) => Some(r),
                _ => None,
            })
            .collect())
    }

    /// The latest membership of each of `member_ids` in a group (current, else the last one
    /// that ended): what a mention of them resolves to, whatever they are called now.
    pub async fn latest(
        &self,
        workspace_id: Uuid,
        conversation_id: Uuid,
        member_ids: &[String],
    ) -> Result<Vec<Membership>, StoreError> {
        let mut found: std::collections::BTreeMap<String, Membership> = std::collections::BTreeMap::new();
        for chunk in member_ids.chunks(100) {
            let placeholders: Vec<String> = (0..chunk.len()).map(|i| self.store.placeholder(i + 3)).collect();
            let sql = format!(
                "SELECT row FROM rm_groups WHERE conversation_id = {} AND workspace_id = {} \
                 AND kind IN ('member', 'past') AND entry_id IN ({})",
                self.store.placeholder(1),
                self.store.placeholder(2),
                placeholders.join(", ")
            );
            let mut values =
                vec![SqlValue::Text(conversation_id.to_string()), SqlValue::Text(workspace_id.to_string())];
            values.extend(chunk.iter().map(|m| SqlValue::Text(m.clone())));
            for row in self.select(&sql, &values).await? {
                let (GroupRow::Member(m) | GroupRow::Past(m)) = row else { continue };
                let newer = |old: &Membership| match (old.until_position, m.until_position) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(a), Some(b)) => b > a,
                };
                if found.get(&m.member_id).is_none_or(newer) {
                    found.insert(m.member_id.clone(), m);
                }
            }
        }
        Ok(found.into_values().collect())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_cursor_round_trips_any_member_id() {
        for id in ["+15550100", "120363@g.us", "a.b.c", "ünï"] {
            let c = MemberCursor { self_rank: 1, role_rank: 0, joined_at_us: -3, member_id: id.into() };
            assert_eq!(MemberCursor::decode(&c.encode()), Some(c));
        }
        for bad in ["", "m1.", "m1.2.0.0.41", "m1.0.0.0.4", "m1.0.0.x.41", "m2.0.0.0.41", "m1.0.0.0.41.1"] {
            assert_eq!(MemberCursor::decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_join_request_cursor_round_trips_and_takes_only_what_it_writes() {
        let c = JoinRequestCursor { position: 42, request_id: Uuid::from_u128(0xabc) };
        assert_eq!(JoinRequestCursor::decode(&c.encode()), Some(c.clone()));
        let id = c.request_id.simple().to_string();
        for bad in [
            String::new(),
            "r1.42".into(),
            format!("r1.-1.{id}"),
            format!("r1.+42.{id}"),
            format!("r1.1234567890123456789.{id}"),
            format!("r1.42.{}", c.request_id),
            format!("r1.42.{}", id.to_uppercase()),
            format!("r2.42.{id}"),
        ] {
            assert_eq!(JoinRequestCursor::decode(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_decimal_is_1_to_18_digits() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("999999999999999999"), Some(999_999_999_999_999_999));
        for bad in ["", "-1", "+1", " 1", "1.5", "1e3", "9999999999999999999"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }

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
