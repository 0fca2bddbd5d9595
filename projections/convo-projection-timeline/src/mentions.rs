//! The mentions read model: one row per agent a private note mentions, and per conversation and
//! mentioned agent how far the agent has read it. A mention is read once the agent's read
//! marker in its conversation reaches the note: both sit in this one model (one checkpoint), so
//! a page of mentions and its read flags are the fold up to the same position.

use chrono::{DateTime, Utc};
use convo_domain::conversation::ConversationChange;
use convo_domain::{Actor, ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MentionsKey {
    /// (conversation, note, agent).
    Mention(Uuid, Uuid, String),
    /// (conversation, agent): the agent's read marker, kept where the agent is mentioned.
    Marker(Uuid, String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MentionsRow {
    Mention(MentionView),
    Marker(MentionMarker),
}

impl MentionsRow {
    pub fn key(&self) -> MentionsKey {
        match self {
            Self::Mention(m) => MentionsKey::Mention(m.conversation_id, m.message_id, m.agent_id.clone()),
            Self::Marker(m) => MentionsKey::Marker(m.conversation_id, m.agent_id.clone()),
        }
    }
}

/// A note mentioning an agent, as `GET /v1/agents/{id}/mentions` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MentionView {
    /// The agent mentioned.
    pub agent_id: String,
    pub workspace_id: Uuid,
    pub conversation_id: Uuid,
    /// The note (its id in the conversation's timeline).
    pub message_id: Uuid,
    /// The note's place in the timeline.
    pub seq: u64,
    /// Who wrote the note.
    pub author: Actor,
    pub body: String,
    /// When the note was written.
    pub at: DateTime<Utc>,
    /// The note's global log position: the list is newest first by it.
    pub position: i64,
    /// The agent has read the conversation up to the note or past it (their read marker, the
    /// one `POST /v1/conversations/{id}/read` moves): set as the list is read.
    #[serde(default)]
    pub read: bool,
}

/// How far a mentioned agent has read a conversation (the seq of their read marker).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MentionMarker {
    pub workspace_id: Uuid,
    pub conversation_id: Uuid,
    pub agent_id: String,
    pub read_seq: u64,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct MentionsProjection;

impl Projection for MentionsProjection {
    const NAME: &'static str = "mentions";
    type Event = (Uuid, ConversationEvent);
    type Key = MentionsKey;
    type Row = MentionsRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        // Notes and read markers only: skip everything else before decoding the payload.
        if !matches!(event.event_type.as_str(), "NoteAdded" | "ReadMarkerMoved") {
            return Ok(None);
        }
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?;
        let conversation = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("conversation id: {e}"))?;
        Ok(Some((conversation, decoded.clone())))
    }

    fn keys(&self, _: &LogEvent, (conversation, event): &Self::Event, into: &mut Vec<MentionsKey>) {
        match &event.change {
            ConversationChange::NoteAdded { mentions, .. } => {
                into.extend(mentions.iter().map(|agent| MentionsKey::Marker(*conversation, agent.clone())));
            }
            ConversationChange::ReadMarkerMoved { user_id, .. } => {
                into.push(MentionsKey::Marker(*conversation, user_id.clone()));
            }
            _ => {}
        }
    }

    fn born_with(&self, key: &MentionsKey) -> Option<Stream> {
        match key {
            MentionsKey::Mention(c, ..) | MentionsKey::Marker(c, _) => Stream::conversation(*c),
        }
    }

    fn apply(
        &self,
        log: &LogEvent,
        (conversation, event): Self::Event,
        rows: &mut Rows<MentionsKey, MentionsRow>,
    ) -> Result<(), String> {
        match event.change {
            ConversationChange::NoteAdded { message_id, seq, body, mentions, .. } => {
                let workspace_id = log.workspace()?;
                for agent_id in mentions {
                    let marker = MentionsKey::Marker(conversation, agent_id.clone());
                    if rows.get(&marker).is_none() {
                        let conversation_id = conversation;
                        let row =
                            MentionMarker { workspace_id, conversation_id, agent_id: agent_id.clone(), read_seq: 0 };
                        rows.put(marker, MentionsRow::Marker(row));
                    }
                    let mention = MentionView {
                        agent_id,
                        workspace_id,
                        conversation_id: conversation,
                        message_id,
                        seq,
                        author: event.actor.clone(),
                        body: body.clone(),
                        at: event.occurred_at,
                        position: log.position,
                        // A marker is never past a note as it is written: the list reads the
                        // marker beside the row.
                        read: false,
                    };
                    let row = MentionsRow::Mention(mention);
                    rows.put(row.key(), row);
                }
            }
            ConversationChange::ReadMarkerMoved { user_id, seq, .. } => {
                // Only where the user is mentioned: everyone else's markers are the unread model's.
                if let Some(MentionsRow::Marker(marker)) = rows.get_mut(&MentionsKey::Marker(conversation, user_id)) {
                    marker.read_seq = marker.read_seq.max(seq);
                }
            }
            _ => {}
        }
        Ok(())
    }
}
