//! The conversation attributes read model: one row per attribute set on a conversation, with
//! its value as the list's filter compares it (`canonical_value`).

use convo_domain::conversation::ConversationChange;
use convo_domain::{ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::key;

/// One attribute of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationAttributeRow {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub key: String,
    pub value: Value,
    /// The global log position of the event that set it.
    pub position: i64,
}

/// A value as the conversation list's `attribute=key:value` filter names it: a string as it is,
/// a number or a boolean as JSON writes it (`12`, `2.5`, `true`).
pub fn canonical_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Folds `ConversationAttributeSet` and `ConversationAttributeRemoved` into one
/// [`ConversationAttributeRow`] per conversation and key; removed, the row goes.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConversationAttributesProjection;

impl Projection for ConversationAttributesProjection {
    const NAME: &'static str = "conversation_attributes";
    type Event = (Uuid, ConversationEvent);
    type Key = (Uuid, String);
    type Row = ConversationAttributeRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        if !matches!(event.event_type.as_str(), "ConversationAttributeSet" | "ConversationAttributeRemoved") {
            return Ok(None);
        }
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        Ok(Some((key(event)?, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, event): &Self::Event, into: &mut Vec<(Uuid, String)>) {
        if let ConversationChange::AttributeSet { key, .. } | ConversationChange::AttributeRemoved { key } =
            &event.change
        {
            into.push((*id, key.clone()));
        }
    }

    fn born_with(&self, (conversation, _): &(Uuid, String)) -> Option<Stream> {
        Stream::conversation(*conversation)
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<(Uuid, String), ConversationAttributeRow>,
    ) -> Result<(), String> {
        match event.change {
            ConversationChange::AttributeSet { key, value } => {
                let workspace_id = log.workspace()?;
                let row =
                    ConversationAttributeRow { conversation_id: id, workspace_id, key, value, position: log.position };
                rows.put((id, row.key.clone()), row);
            }
            ConversationChange::AttributeRemoved { key } => rows.remove(&(id, key)),
            _ => {}
        }
        Ok(())
    }
}
