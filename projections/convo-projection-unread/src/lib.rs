//! The read-state read model: per conversation how many inbound messages it has, per (user,
//! conversation) how many of them the user has read. A user's unread count in a conversation is
//! the difference; a user with no marker has read none. One projection (one checkpoint) holds
//! both, so an unread summary read in one statement is exactly the fold up to that checkpoint,
//! and its version (the checkpoint) never goes down.

use chrono::{DateTime, Utc};
use convo_domain::conversation::ConversationChange;
use convo_domain::{ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnreadKey {
    Conversation(Uuid),
    Marker(Uuid, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UnreadRow {
    Conversation(ConversationInbound),
    Marker(ReadMarker),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationInbound {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    pub inbound_count: u64,
    /// Latest activity of an activity-only group (which keeps no messages to count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadMarker {
    pub conversation_id: Uuid,
    pub user_id: String,
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    /// The last message read (none when the user only saw an activity-only group's activity).
    pub message_id: Option<Uuid>,
    pub seq: u64,
    pub inbound_read: u64,
    pub at: DateTime<Utc>,
    /// Activity of an activity-only group seen up to here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activity_seen_at: Option<DateTime<Utc>>,
}

impl UnreadRow {
    pub fn key(&self) -> UnreadKey {
        match self {
            Self::Conversation(c) => UnreadKey::Conversation(c.conversation_id),
            Self::Marker(m) => UnreadKey::Marker(m.conversation_id, m.user_id.clone()),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UnreadProjection;

impl Projection for UnreadProjection {
    const NAME: &'static str = "unread";
    type Event = (Uuid, ConversationEvent);
    type Key = UnreadKey;
    type Row = UnreadRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?;
        match decoded.change {
            ConversationChange::Started { .. }
            | ConversationChange::InboundMessageReceived { .. }
            | ConversationChange::ReadMarkerMoved { .. }
            | ConversationChange::GroupActivityRecorded { .. }
            | ConversationChange::ActivitySeen { .. } => {
                let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("conversation id: {e}"))?;
                Ok(Some((id, decoded.clone())))
            }
            _ => Ok(None),
        }
    }

    fn keys(&self, _: &LogEvent, (id, event): &Self::Event, into: &mut Vec<UnreadKey>) {
        into.push(UnreadKey::Conversation(*id));
        if let ConversationChange::ReadMarkerMoved { user_id, .. } | ConversationChange::ActivitySeen { user_id, .. } =
            &event.change
        {
            into.push(UnreadKey::Marker(*id, user_id.clone()));
        }
    }

    fn born_with(&self, key: &UnreadKey) -> Option<Stream> {
        match key {
            UnreadKey::Conversation(c) | UnreadKey::Marker(c, _) => Stream::conversation(*c),
        }
    }

    fn apply(
        &self,
        _: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<UnreadKey, UnreadRow>,
    ) -> Result<(), String> {
        let conversation = UnreadKey::Conversation(id);
        match event.change {
            ConversationChange::Started { workspace_id, inbox_id, .. } => rows.put(
                conversation,
                UnreadRow::Conversation(ConversationInbound {
                    conversation_id: id,
                    workspace_id,
                    inbox_id,
                    inbound_count: 0,
                    last_activity_at: None,
                }),
            ),
            ConversationChange::GroupActivityRecorded { at, .. } => match rows.get_mut(&conversation) {
                Some(UnreadRow::Conversation(c)) => {
                    c.last_activity_at = Some(c.last_activity_at.map_or(at, |t| t.max(at)))
                }
                _ => return Err(format!("conversation {id} has activity before it started")),
            },
            ConversationChange::ActivitySeen { user_id, at } => {
                let Some(UnreadRow::Conversation(c)) = rows.get(&conversation) else {
                    return Err(format!("conversation {id} has activity seen before it started"));
                };
                let (workspace_id, inbox_id) = (c.workspace_id, c.inbox_id);
                let key = UnreadKey::Marker(id, user_id.clone());
                let mut marker = match rows.get(&key) {
                    Some(UnreadRow::Marker(m)) => m.clone(),
                    _ => ReadMarker {
                        conversation_id: id,
                        user_id,
                        workspace_id,
                        inbox_id,
                        message_id: None,
                        seq: 0,
                        inbound_read: 0,
                        at: event.occurred_at,
                        activity_seen_at: None,
                    },
                };
                marker.activity_seen_at = Some(marker.activity_seen_at.map_or(at, |t| t.max(at)));
                rows.put(key, UnreadRow::Marker(marker));
            }
            ConversationChange::InboundMessageReceived { inbound_count, .. } => match rows.get_mut(&conversation) {
                Some(UnreadRow::Conversation(c)) => c.inbound_count = c.inbound_count.max(inbound_count),
                _ => return Err(format!("conversation {id} has messages before it started")),
            },
            ConversationChange::ReadMarkerMoved { user_id, message_id, seq, inbound_read } => {
                let Some(UnreadRow::Conversation(c)) = rows.get(&conversation) else {
                    return Err(format!("conversation {id} has a read marker before it started"));
                };
                let (workspace_id, inbox_id) = (c.workspace_id, c.inbox_id);
                let key = UnreadKey::Marker(id, user_id.clone());
                // Markers only move forward (the aggregate guarantees it; folding keeps it so).
                let activity_seen_at = match rows.get(&key) {
                    Some(UnreadRow::Marker(m)) if m.seq >= seq => return Ok(()),
                    Some(UnreadRow::Marker(m)) => m.activity_seen_at,
                    _ => None,
                };
                rows.put(
                    key,
                    UnreadRow::Marker(ReadMarker {
                        conversation_id: id,
                        user_id,
                        workspace_id,
                        inbox_id,
                        message_id: Some(message_id),
                        seq,
                        inbound_read,
                        at: event.occurred_at,
                        activity_seen_at,
                    }),
                );
            }
            _ => {}
        }
        Ok(())
    }
}
