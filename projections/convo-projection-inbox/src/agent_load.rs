//! The agents' load read model: per conversation, who it is assigned to, its status, whether it
//! is archived, and whether its assignee has inbound messages they have not read. An agent's
//! counts (open, pending, unread) are then one narrow range of one table, summed: no join with
//! the inbox and read-state models, whose rows are larger and keyed otherwise.

use std::collections::BTreeMap;

use convo_domain::conversation::{ConversationChange, ConversationStatus};
use convo_domain::{ConversationEvent, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::key;

/// One conversation as its assignee's load counts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentLoadRow {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub assignee: Option<String>,
    pub status: ConversationStatus,
    pub archived: bool,
    /// Inbound messages so far.
    pub inbound_count: u64,
    /// Per user who has read any, the inbound messages they have read.
    pub inbound_read: BTreeMap<String, u64>,
}

impl AgentLoadRow {
    /// Whether the assignee has inbound messages they have not read (false when unassigned).
    pub fn assignee_unread(&self) -> bool {
        self.assignee.as_ref().is_some_and(|a| self.inbound_count > self.inbound_read.get(a).copied().unwrap_or(0))
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct AgentLoadProjection;

/// The event types that change a conversation's load.
const TYPES: &[&str] = &[
    "ConversationStarted",
    "InboundMessageReceived",
    "AgentAssigned",
    "AgentUnassigned",
    "StatusChanged",
    "ConversationArchived",
    "ConversationUnarchived",
    "ReadMarkerMoved",
];

impl Projection for AgentLoadProjection {
    const NAME: &'static str = "agent_load";
    type Event = ConversationEvent;
    type Key = Uuid;
    type Row = AgentLoadRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<ConversationEvent>, String> {
        if event.aggregate_type != "conversation" || !TYPES.contains(&event.event_type.as_str()) {
            return Ok(None);
        }
        event.conversation_event().transpose().map(|decoded| decoded.cloned()).map_err(str::to_owned)
    }

    fn keys(&self, log: &LogEvent, _: &ConversationEvent, into: &mut Vec<Uuid>) {
        // An unparsable id is reported by `apply`, where the event can fail.
        into.extend(key(log).ok());
    }

    fn born_with(&self, conversation: &Uuid) -> Option<Stream> {
        Stream::conversation(*conversation)
    }

    fn apply(
        &self,
        log: &LogEvent,
        event: ConversationEvent,
        rows: &mut Rows<Uuid, AgentLoadRow>,
    ) -> Result<(), String> {
        use ConversationChange as C;
        let id = key(log)?;
        if let C::Started { conversation_id, workspace_id, .. } = event.change {
            let row = AgentLoadRow {
                conversation_id,
                workspace_id,
                assignee: None,
                status: ConversationStatus::Open,
                archived: false,
                inbound_count: 0,
                inbound_read: BTreeMap::new(),
            };
            rows.put(id, row);
            return Ok(());
        }
        let row = rows.get_mut(&id).ok_or_else(|| format!("conversation {id} has events before it started"))?;
        match event.change {
            C::InboundMessageReceived { inbound_count, .. } => row.inbound_count = row.inbound_count.max(inbound_count),
            C::AgentAssigned { assignee, .. } => row.assignee = Some(assignee.id),
            C::AgentUnassigned { .. } => row.assignee = None,
            C::StatusChanged { to, .. } => row.status = to,
            C::Archived {} => row.archived = true,
            C::Unarchived {} => row.archived = false,
            C::ReadMarkerMoved { user_id, inbound_read, .. } => {
                let read = row.inbound_read.entry(user_id).or_default();
                *read = (*read).max(inbound_read);
            }
            _ => {}
        }
        Ok(())
    }
}
