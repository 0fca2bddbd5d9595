//! `rm_groups`: a group's members, join requests and settings, with their keyset cursors.

use convo_projection_groups::{GroupKey, GroupRow, GroupsProjection, JoinRequest, Membership};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

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
}
