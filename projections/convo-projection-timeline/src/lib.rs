//! The timeline read model: one row per message of a conversation, as a chat view shows it.
//! Delivery status is a monotone lattice (a late or repeated report never moves it back), one
//! reaction per reactor, edits replace the content, and a deletion leaves a tombstone. Private
//! notes have their place among the messages (direction `note`, by the agent or bot who wrote it).
//! The mentions read model (`mentions.rs`) lists the notes that mention each agent.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationChange, DeliveryFailure};
use convo_domain::message::Direction;
use convo_domain::{Actor, ConversationEvent, DeliveryStatus, LogEvent, MessageContent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod mentions;
pub use mentions::{MentionMarker, MentionView, MentionsKey, MentionsProjection, MentionsRow};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimelineMessage {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub message_id: Uuid,
    /// 1-based position of the message in its conversation: what the timeline pages by.
    pub seq: u64,
    pub direction: Direction,
    pub author: Actor,
    /// `None` once the message is deleted (the tombstone keeps everything else).
    pub content: Option<MessageContent>,
    pub channel_message_id: Option<String>,
    /// The group member who wrote an inbound group message.
    pub sender: Option<String>,
    /// The contact that member resolved to (`/v1/contacts/{id}`), when their member id is an
    /// identity on the inbox's channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_contact_id: Option<Uuid>,
    /// The contact's time for inbound messages, the engine's for outbound ones.
    pub sent_at: DateTime<Utc>,
    /// Outbound only.
    pub status: Option<DeliveryStatus>,
    pub failure: Option<DeliveryFailure>,
    pub status_at: Option<DateTime<Utc>>,
    /// One reaction per reactor, keyed `kind:id`.
    pub reactions: BTreeMap<String, Reaction>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Global position of the last event applied to this message.
    pub position: i64,
    /// Members the message mentions (groups), stored by id; the timeline query adds each one's
    /// current display name, so a renamed member still resolves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Mention>,
    /// Agents a note mentions (direction `note`), stored by id; the timeline query adds each
    /// one's current name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentioned_agents: Vec<AgentMention>,
}

/// An agent a private note mentions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentMention {
    pub agent_id: String,
    /// The agent's current name, resolved when read (never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A mentioned group member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Mention {
    pub member_id: String,
    /// The member's latest display name, resolved when read (never stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

fn mentions(ids: Vec<String>) -> Vec<Mention> {
    ids.into_iter().map(|member_id| Mention { member_id, display_name: None }).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reaction {
    pub actor: Actor,
    pub emoji: String,
    pub at: DateTime<Utc>,
}

fn reactor_key(actor: &Actor) -> String {
    let kind = match actor.kind {
        convo_domain::ActorKind::Agent => "agent",
        convo_domain::ActorKind::Bot => "bot",
        convo_domain::ActorKind::Contact => "contact",
        convo_domain::ActorKind::System => "system",
    };
    format!("{kind}:{}", actor.id)
}

#[derive(Debug, Default, Clone, Copy)]
pub struct TimelineProjection;

/// (conversation, message).
pub type MessageKey = (Uuid, Uuid);

impl Projection for TimelineProjection {
    const NAME: &'static str = "timeline";
    type Event = (Uuid, ConversationEvent);
    type Key = MessageKey;
    type Row = TimelineMessage;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?;
        if decoded.change.message_id().is_none() {
            return Ok(None);
        }
        let conversation = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("conversation id: {e}"))?;
        Ok(Some((conversation, decoded.clone())))
    }

    fn keys(&self, _: &LogEvent, (conversation, event): &Self::Event, into: &mut Vec<MessageKey>) {
        // A message's first event creates its row: nothing to load for it.
        if !matches!(
            event.change,
            ConversationChange::InboundMessageReceived { .. }
                | ConversationChange::MessageSent { .. }
                | ConversationChange::NoteAdded { .. }
        ) {
            into.extend(event.change.message_id().map(|m| (*conversation, m)));
        }
    }

    fn born_with(&self, (conversation, _): &MessageKey) -> Option<Stream> {
        Stream::conversation(*conversation)
    }

    fn apply(
        &self,
        log: &LogEvent,
        (conversation, event): Self::Event,
        rows: &mut Rows<MessageKey, TimelineMessage>,
    ) -> Result<(), String> {
        use ConversationChange as C;
        let at = event.occurred_at;
        let new = |message_id: Uuid,
                   seq,
                   direction,
                   content,
                   channel_message_id,
                   sender,
                   sent_at,
                   status|
         -> Result<TimelineMessage, String> {
            let workspace_id = log.workspace()?;
            Ok(TimelineMessage {
                conversation_id: conversation,
                workspace_id,
                message_id,
                seq,
                direction,
                author: event.actor.clone(),
                content: Some(content),
                channel_message_id,
                sender,
                sender_contact_id: None,
                sent_at,
                status,
                failure: None,
                status_at: None,
                reactions: BTreeMap::new(),
                edited_at: None,
                deleted_at: None,
                position: log.position,
                mentions: Vec::new(),
                mentioned_agents: Vec::new(),
            })
        };
        match event.change.clone() {
            C::InboundMessageReceived {
                message_id,
                seq,
                channel_message_id,
                sent_at,
                content,
                sender,
                sender_contact_id,
                mentions: ids,
                ..
            } => {
                let mut row =
                    new(message_id, seq, Direction::Inbound, content, channel_message_id, sender, sent_at, None)?;
                row.mentions = mentions(ids);
                row.sender_contact_id = sender_contact_id;
                rows.put((conversation, message_id), row);
                return Ok(());
            }
            C::NoteAdded { message_id, seq, body, mentions: agents, .. } => {
                let mut row =
                    new(message_id, seq, Direction::Note, MessageContent::Text { body }, None, None, at, None)?;
                row.mentioned_agents =
                    agents.into_iter().map(|agent_id| AgentMention { agent_id, name: None }).collect();
                rows.put((conversation, message_id), row);
                return Ok(());
            }
            C::MessageSent { message_id, seq, content, mentions: ids, .. } => {
                let mut row =
                    new(message_id, seq, Direction::Outbound, content, None, None, at, Some(DeliveryStatus::Accepted))?;
                row.mentions = mentions(ids);
                rows.put((conversation, message_id), row);
                return Ok(());
            }
            _ => {}
        }
        let Some(message_id) = event.change.message_id() else { return Ok(()) };
        let row = rows
            .get_mut(&(conversation, message_id))
            .ok_or_else(|| format!("message {message_id} has events before it was received or sent"))?;
        row.position = log.position;
        match event.change {
            C::DeliveryStatusRecorded { status, failure, reported_at, .. } => {
                let current = row.status.unwrap_or(DeliveryStatus::Accepted);
                if current.advances_to(status) {
                    row.status = Some(status);
                    row.failure = failure;
                    row.status_at = Some(reported_at);
                }
            }
            C::ReactionSet { emoji, .. } => {
                row.reactions.insert(reactor_key(&event.actor), Reaction { actor: event.actor, emoji, at });
            }
            C::ReactionRemoved { .. } => {
                row.reactions.remove(&reactor_key(&event.actor));
            }
            C::MessageEdited { content, .. } if row.deleted_at.is_none() => {
                row.content = Some(content);
                row.edited_at = Some(at);
            }
            C::MessageDeleted { .. } => {
                row.content = None;
                row.reactions.clear();
                row.deleted_at.get_or_insert(at);
            }
            _ => {}
        }
        Ok(())
    }
}
