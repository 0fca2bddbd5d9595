//! The group read model: each member's membership as spans of the log, so the members of a
//! group are known at any position ("who was in the group when this message was sent"), with
//! their role then; and the join requests waiting for an admin.
//!
//! A member's current span is one row keyed by (conversation, member); a role change or a
//! departure closes it into a past row keyed by (conversation, member, the span's start).

use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationChange as C, ConversationKind, GroupRole, JoinedVia, LeftReason};
use convo_domain::{ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupKey {
    /// The group: which member is the inbox's own.
    Group(Uuid),
    /// A member's current span.
    Member(Uuid, String),
    /// A closed span: (conversation, member, the position it started at).
    Past(Uuid, String, i64),
    /// A pending join request.
    Request(Uuid, Uuid),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GroupRow {
    Group(GroupOwner),
    Member(Membership),
    Past(Membership),
    Request(JoinRequest),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOwner {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub self_member: Option<String>,
}

/// One member during one span of the log with one role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Membership {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub member_id: String,
    pub role: GroupRole,
    pub display_name: Option<String>,
    /// The inbox's own member.
    pub is_self: bool,
    /// How they joined, and when (the event's time) and where in the log.
    pub joined_via: JoinedVia,
    pub joined_at: DateTime<Utc>,
    pub joined_position: i64,
    /// Where this span (this role) started and ended in the log; `until_position` is absent
    /// while it lasts.
    pub since_position: i64,
    pub until_position: Option<i64>,
    /// Why the membership ended, on the span that ended it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left: Option<LeftReason>,
}

/// A join request waiting for an admin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JoinRequest {
    pub request_id: Uuid,
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub member_id: String,
    pub display_name: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub position: i64,
}

impl GroupRow {
    pub fn key(&self) -> GroupKey {
        match self {
            Self::Group(g) => GroupKey::Group(g.conversation_id),
            Self::Member(m) => GroupKey::Member(m.conversation_id, m.member_id.clone()),
            Self::Past(m) => GroupKey::Past(m.conversation_id, m.member_id.clone(), m.since_position),
            Self::Request(r) => GroupKey::Request(r.conversation_id, r.request_id),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct GroupsProjection;

fn is_group_event(change: &C) -> bool {
    matches!(
        change,
        C::Started { kind: ConversationKind::Group, .. }
            | C::GroupCreated { .. }
            | C::GroupMemberAdded { .. }
            | C::GroupMemberRemoved { .. }
            | C::GroupMemberRoleChanged { .. }
            | C::GroupMemberRenamed { .. }
            | C::GroupJoinRequested { .. }
            | C::GroupJoinRequestResolved { .. }
            | C::GroupLeft { .. }
    )
}

impl Projection for GroupsProjection {
    const NAME: &'static str = "groups";
    type Event = (Uuid, ConversationEvent);
    type Key = GroupKey;
    type Row = GroupRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        // Most events are not about membership: skip them before decoding the payload.
        if !(event.event_type.starts_with("Group") || event.event_type == "ConversationStarted") {
            return Ok(None);
        }
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?;
        if !is_group_event(&decoded.change) {
            return Ok(None);
        }
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("conversation id: {e}"))?;
        Ok(Some((id, decoded.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, event): &Self::Event, into: &mut Vec<GroupKey>) {
        into.push(GroupKey::Group(*id));
        let member = |m: &str| GroupKey::Member(*id, m.to_owned());
        match &event.change {
            C::GroupCreated { members, .. } => into.extend(members.iter().map(|m| member(&m.member_id))),
            C::GroupMemberAdded { member_id, .. }
            | C::GroupMemberRemoved { member_id, .. }
            | C::GroupMemberRoleChanged { member_id, .. }
            | C::GroupMemberRenamed { member_id, .. }
            | C::GroupLeft { member_id: Some(member_id), .. } => into.push(member(member_id)),
            C::GroupJoinRequested { request_id, .. } | C::GroupJoinRequestResolved { request_id, .. } => {
                into.push(GroupKey::Request(*id, *request_id))
            }
            _ => {}
        }
    }

    fn born_with(&self, key: &GroupKey) -> Option<Stream> {
        match key {
            GroupKey::Group(c) | GroupKey::Member(c, _) | GroupKey::Past(c, ..) | GroupKey::Request(c, _) => {
                Stream::conversation(*c)
            }
        }
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<GroupKey, GroupRow>,
    ) -> Result<(), String> {
        let group_key = GroupKey::Group(id);
        if let C::Started { workspace_id, .. } = event.change {
            rows.put(group_key, GroupRow::Group(GroupOwner { conversation_id: id, workspace_id, self_member: None }));
            return Ok(());
        }
        let Some(GroupRow::Group(owner)) = rows.get(&group_key).cloned() else {
            return Err(format!("group {id} has events before it started"));
        };
        let at = event.occurred_at;
        let join = |rows: &mut Rows<GroupKey, GroupRow>,
                    self_member: Option<&str>,
                    member_id: String,
                    role: GroupRole,
                    display_name: Option<String>,
                    via: JoinedVia| {
            rows.put(
                GroupKey::Member(id, member_id.clone()),
                GroupRow::Member(Membership {
                    conversation_id: id,
                    workspace_id: owner.workspace_id,
                    is_self: self_member == Some(member_id.as_str()),
                    member_id,
                    role,
                    display_name,
                    joined_via: via,
                    joined_at: at,
                    joined_position: log.position,
                    since_position: log.position,
                    until_position: None,
                    left: None,
                }),
            )
        };
        match event.change {
            C::GroupCreated { self_member, members, .. } => {
                for m in members {
                    join(rows, Some(&self_member), m.member_id, m.role, m.display_name, m.via);
                }
                rows.put(group_key, GroupRow::Group(GroupOwner { self_member: Some(self_member), ..owner }));
            }
            C::GroupMemberAdded { member_id, role, display_name, via } => {
                let display_name = display_name.or_else(|| current(rows, id, &member_id).and_then(|m| m.display_name));
                if current(rows, id, &member_id).is_none() {
                    join(rows, owner.self_member.as_deref(), member_id, role, display_name, via);
                }
            }
            C::GroupMemberRemoved { member_id, reason } => end(rows, id, &member_id, log.position, Some(reason)),
            C::GroupLeft { member_id: Some(member_id), reason } => {
                end(rows, id, &member_id, log.position, Some(reason))
            }
            C::GroupMemberRoleChanged { member_id, to, .. } => {
                if let Some(mut m) = current(rows, id, &member_id) {
                    end(rows, id, &member_id, log.position, None);
                    m.role = to;
                    m.since_position = log.position;
                    rows.put(GroupKey::Member(id, member_id), GroupRow::Member(m));
                }
            }
            C::GroupMemberRenamed { member_id, display_name } => {
                if let Some(GroupRow::Member(m)) = rows.get_mut(&GroupKey::Member(id, member_id)) {
                    m.display_name = Some(display_name);
                }
            }
            C::GroupJoinRequested { request_id, member_id, display_name } => rows.put(
                GroupKey::Request(id, request_id),
                GroupRow::Request(JoinRequest {
                    request_id,
                    conversation_id: id,
                    workspace_id: owner.workspace_id,
                    member_id,
                    display_name,
                    requested_at: at,
                    position: log.position,
                }),
            ),
            C::GroupJoinRequestResolved { request_id, .. } => rows.remove(&GroupKey::Request(id, request_id)),
            _ => {}
        }
        Ok(())
    }
}

fn current(rows: &Rows<GroupKey, GroupRow>, id: Uuid, member_id: &str) -> Option<Membership> {
    match rows.get(&GroupKey::Member(id, member_id.to_owned())) {
        Some(GroupRow::Member(m)) => Some(m.clone()),
        _ => None,
    }
}

/// Closes a member's current span at `position`: a past row from then on.
fn end(rows: &mut Rows<GroupKey, GroupRow>, id: Uuid, member_id: &str, position: i64, left: Option<LeftReason>) {
    let Some(mut m) = current(rows, id, member_id) else { return };
    rows.remove(&GroupKey::Member(id, member_id.to_owned()));
    m.until_position = Some(position);
    m.left = left;
    rows.put(GroupKey::Past(id, member_id.to_owned(), m.since_position), GroupRow::Past(m));
}
