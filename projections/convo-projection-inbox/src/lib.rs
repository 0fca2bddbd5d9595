//! The inbox read models: one row per conversation with what an inbox list shows and filters on
//! (status, archived, assignment, labels, the last message, activity, counts); and one row per
//! label on a conversation, for filtering and counting by label.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use convo_domain::contact::ContactChange;
use convo_domain::conversation::group::info_update;
use convo_domain::conversation::{ConversationChange, ConversationKind, ConversationStatus, GroupRole, GroupSettings};
use convo_domain::message::Direction;
use convo_domain::{ChannelType, ConversationEvent, LogEvent, MessageContent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod agent_load;
mod attributes;
pub use agent_load::{AgentLoadProjection, AgentLoadRow};
pub use attributes::{ConversationAttributeRow, ConversationAttributesProjection, canonical_value};

/// Longest message preview kept, in characters.
pub const PREVIEW_CHARS: usize = 120;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationSummary {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub inbox_id: Uuid,
    pub channel: ChannelType,
    pub kind: ConversationKind,
    pub thread_key: String,
    pub display_name: Option<String>,
    /// The contact of a direct conversation (`/v1/contacts/{id}`), when its sender resolved to
    /// one; the survivor, once a merge moved the conversation to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Uuid>,
    pub status: ConversationStatus,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub archived: bool,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Its labels, sorted.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Its custom attributes by key (`PATCH /v1/conversations/{id}/attributes`).
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, serde_json::Value>,
    pub last_message: Option<LastMessage>,
    /// When the contact last wrote (their time): the messaging window counts from here.
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Latest of the last message's time and any other change (assignment, status, reactions,
    /// …) except delivery receipts and read markers.
    pub last_activity_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    /// Messages and private notes in the timeline (the last seq).
    pub message_count: u64,
    pub inbound_count: u64,
    /// The conversation's version (its last event's sequence) and that event's global position.
    pub version: i64,
    pub position: i64,
    /// Group conversations only: the group's metadata and settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupInfo>,
}

/// What a group conversation's view shows of the group (its members: `GET …/members`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupInfo {
    /// Absent until the group is recorded (`POST /v1/groups`) when an inbound message started it.
    pub subject: Option<String>,
    pub description: Option<String>,
    pub picture_url: Option<String>,
    pub settings: GroupSettings,
    /// The member who created the group.
    pub creator: Option<String>,
    /// The inbox's own member.
    pub self_member: Option<String>,
    /// The inbox's own member is an admin (it may manage the group and send in announce mode).
    pub self_is_admin: bool,
    /// The inbox left or was removed: readable, nothing can be sent.
    pub left: bool,
    pub member_count: u64,
    pub pending_join_requests: u64,
    pub invite_code: Option<String>,
    /// Latest activity of an activity-only group (when its last message was sent).
    pub last_group_activity_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LastMessage {
    pub message_id: Uuid,
    pub seq: u64,
    pub direction: Direction,
    pub preview: String,
    /// When it was sent: the contact's time for inbound messages, the engine's for outbound.
    pub at: DateTime<Utc>,
    pub deleted: bool,
}

impl ConversationSummary {
    /// What the list is sorted by default: the last message's time, else the creation time.
    pub fn last_message_at(&self) -> DateTime<Utc> {
        self.last_message.as_ref().map_or(self.created_at, |m| m.at)
    }
}

/// A short text for a message, as an inbox list shows it.
pub fn preview(content: &MessageContent) -> String {
    let text = match content {
        MessageContent::Text { body } => body.clone(),
        MessageContent::Media { caption: Some(c), .. } if !c.trim().is_empty() => c.clone(),
        MessageContent::Media { mime_type, .. } => format!("[{}]", mime_type.split('/').next().unwrap_or("media")),
        MessageContent::Template { name, .. } => format!("[template: {name}]"),
        MessageContent::Interactive { body, .. } => body.clone(),
    };
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct InboxProjection;

/// What the inbox model folds: a conversation's own events, and a merge's survivor taking the
/// merged contact's conversations (`ContactAbsorbed`), whose rows then name the survivor.
#[derive(Debug, Clone)]
pub enum InboxInput {
    Conversation(Box<ConversationEvent>),
    ContactAbsorbed { survivor: Uuid, conversations: Vec<Uuid> },
}

impl Projection for InboxProjection {
    const NAME: &'static str = "inbox";
    type Event = InboxInput;
    type Key = Uuid;
    type Row = ConversationSummary;

    fn decode(&self, event: &LogEvent) -> Result<Option<InboxInput>, String> {
        if let Some(decoded) = event.conversation_event() {
            return decoded.map(|e| Some(InboxInput::Conversation(Box::new(e.clone())))).map_err(str::to_owned);
        }
        if event.event_type != "ContactAbsorbed" {
            return Ok(None);
        }
        let Some(decoded) = event.contact_event() else { return Ok(None) };
        let ContactChange::Absorbed { conversations, .. } = &decoded.map_err(str::to_owned)?.change else {
            return Ok(None);
        };
        let survivor = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("contact id: {e}"))?;
        let conversations = conversations.iter().map(|c| c.conversation_id).collect();
        Ok(Some(InboxInput::ContactAbsorbed { survivor, conversations }))
    }

    fn keys(&self, log: &LogEvent, input: &InboxInput, into: &mut Vec<Uuid>) {
        match input {
            // An unparsable id is reported by `apply`, where the event can fail.
            InboxInput::Conversation(_) => into.extend(key(log).ok()),
            InboxInput::ContactAbsorbed { conversations, .. } => into.extend(conversations.iter().copied()),
        }
    }

    fn born_with(&self, conversation: &Uuid) -> Option<Stream> {
        Stream::conversation(*conversation)
    }

    fn apply(
        &self,
        log: &LogEvent,
        input: InboxInput,
        rows: &mut Rows<Uuid, ConversationSummary>,
    ) -> Result<(), String> {
        let event = match input {
            InboxInput::Conversation(event) => *event,
            InboxInput::ContactAbsorbed { survivor, conversations } => {
                // The conversation's own version and position stay: the contact changed, not it.
                for id in conversations {
                    if let Some(row) = rows.get_mut(&id) {
                        row.contact_id = Some(survivor);
                    }
                }
                return Ok(());
            }
        };
        let id = key(log)?;
        let at = event.occurred_at;
        if let ConversationChange::Started {
            conversation_id,
            workspace_id,
            inbox_id,
            channel,
            kind,
            thread_key,
            display_name,
            contact_id,
        } = event.change
        {
            rows.put(
                id,
                ConversationSummary {
                    conversation_id,
                    workspace_id,
                    inbox_id,
                    channel,
                    kind,
                    thread_key,
                    display_name,
                    contact_id,
                    status: ConversationStatus::Open,
                    snoozed_until: None,
                    archived: false,
                    assignee: None,
                    team: None,
                    labels: Vec::new(),
                    attributes: std::collections::BTreeMap::new(),
                    last_message: None,
                    last_inbound_at: None,
                    last_activity_at: at,
                    created_at: at,
                    message_count: 0,
                    inbound_count: 0,
                    version: log.sequence,
                    position: log.position,
                    group: (kind == ConversationKind::Group).then(GroupInfo::default),
                },
            );
            return Ok(());
        }
        let row = rows.get_mut(&id).ok_or_else(|| format!("conversation {id} has events before it started"))?;
        row.version = log.sequence;
        row.position = log.position;
        use ConversationChange as C;
        // The times the list sorts by, folded as the label rows fold them (`SortTimes`).
        let mut times = SortTimes {
            created_at: row.created_at,
            last_message_at: row.last_message.as_ref().map(|m| m.at),
            last_activity_at: row.last_activity_at,
        };
        times.apply(&event.change, at);
        row.last_activity_at = times.last_activity_at;
        match event.change {
            C::Started { .. } => {}
            C::InboundMessageReceived { message_id, seq, sent_at, content, .. } => {
                row.message_count = row.message_count.max(seq);
                row.inbound_count += 1;
                row.last_inbound_at = Some(row.last_inbound_at.map_or(sent_at, |t| t.max(sent_at)));
                set_last(row, message_id, seq, Direction::Inbound, &content, sent_at);
            }
            C::MessageSent { message_id, seq, content, .. } => {
                row.message_count = row.message_count.max(seq);
                set_last(row, message_id, seq, Direction::Outbound, &content, at);
            }
            C::AttributeSet { key, value } => {
                row.attributes.insert(key, value);
            }
            C::AttributeRemoved { key } => {
                row.attributes.remove(&key);
            }
            // A note has its place in the timeline, is activity, and is no last message.
            C::NoteAdded { seq, .. } => row.message_count = row.message_count.max(seq),
            C::MessageEdited { message_id, content } => {
                if let Some(last) = row.last_message.as_mut().filter(|m| m.message_id == message_id) {
                    last.preview = preview(&content);
                }
            }
            C::MessageDeleted { message_id } => {
                if let Some(last) = row.last_message.as_mut().filter(|m| m.message_id == message_id) {
                    last.deleted = true;
                    last.preview = String::new();
                }
            }
            C::AgentAssigned { assignee, .. } => row.assignee = Some(assignee.id),
            C::AgentUnassigned { .. } => row.assignee = None,
            C::TeamAssigned { team_id, .. } => row.team = Some(team_id),
            C::TeamUnassigned { .. } => row.team = None,
            C::LabelAdded { label } => {
                if let Err(at) = row.labels.binary_search(&label) {
                    row.labels.insert(at, label);
                }
            }
            C::LabelRemoved { label } => {
                if let Ok(at) = row.labels.binary_search(&label) {
                    row.labels.remove(at);
                }
            }
            C::Archived {} => row.archived = true,
            C::Unarchived {} => row.archived = false,
            C::StatusChanged { to, snoozed_until, .. } => {
                row.status = to;
                row.snoozed_until = snoozed_until;
            }
            C::DeliveryStatusRecorded { .. }
            | C::ReactionSet { .. }
            | C::ReactionRemoved { .. }
            | C::ReadMarkerMoved { .. }
            | C::ActivitySeen { .. } => {}
            change => {
                let group = row.group.get_or_insert_with(GroupInfo::default);
                apply_group(group, change);
            }
        }
        Ok(())
    }
}

/// Folds a group event into the view's group part.
fn apply_group(group: &mut GroupInfo, change: ConversationChange) {
    use ConversationChange as C;
    let is_self = |group: &GroupInfo, member: &str| group.self_member.as_deref() == Some(member);
    match change {
        C::GroupCreated {
            subject,
            description,
            picture_url,
            creator,
            self_member,
            members,
            settings,
            invite_code,
            ..
        } => {
            group.self_is_admin = members.iter().any(|m| m.member_id == self_member && m.role == GroupRole::Admin);
            group.left = !members.iter().any(|m| m.member_id == self_member);
            group.member_count = members.len() as u64;
            group.subject = Some(subject);
            group.description = description;
            group.picture_url = picture_url;
            group.creator = Some(creator);
            group.self_member = Some(self_member);
            group.settings = settings;
            group.invite_code = invite_code;
        }
        C::GroupMemberAdded { member_id, role, .. } => {
            group.member_count += 1;
            if is_self(group, &member_id) {
                group.left = false;
                group.self_is_admin = role == GroupRole::Admin;
            }
        }
        C::GroupMemberRemoved { .. } => group.member_count = group.member_count.saturating_sub(1),
        C::GroupMemberRoleChanged { member_id, to, .. } if is_self(group, &member_id) => {
            group.self_is_admin = to == GroupRole::Admin;
        }
        C::GroupInfoUpdated { subject, description, picture_url } => {
            info_update(&mut group.subject, &subject);
            info_update(&mut group.description, &description);
            info_update(&mut group.picture_url, &picture_url);
        }
        C::GroupSettingsChanged { settings } => group.settings = settings,
        C::GroupJoinRequested { .. } => group.pending_join_requests += 1,
        C::GroupJoinRequestResolved { .. } => {
            group.pending_join_requests = group.pending_join_requests.saturating_sub(1)
        }
        C::GroupInviteLinkRotated { invite_code } => group.invite_code = Some(invite_code),
        C::GroupLeft { member_id, .. } => {
            if member_id.is_some() {
                group.member_count = group.member_count.saturating_sub(1);
            }
            group.left = true;
            group.self_is_admin = false;
        }
        C::GroupActivityRecorded { at, .. } => {
            group.last_group_activity_at = Some(group.last_group_activity_at.map_or(at, |t| t.max(at)));
        }
        _ => {}
    }
}

/// One label on one conversation, as the labels read model keeps it, with the conversation's
/// sort times: a list filtered by the label reads the label's rows in the order it shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConversationLabelView {
    /// The conversation carrying the label.
    pub conversation_id: Uuid,
    /// The conversation's workspace.
    pub workspace_id: Uuid,
    /// The label, in its canonical spelling (lower case).
    pub label: String,
    /// When the label was put on the conversation (last put on, if it was taken off since).
    pub added_at: DateTime<Utc>,
    /// The global log position of that event.
    pub position: i64,
    /// The conversation's sort times now.
    #[schema(ignore)]
    pub times: SortTimes,
    /// The conversation is in status `open` and not archived, now: what the labels' counts
    /// count as open.
    pub open: bool,
}

/// What the labels model keeps of a conversation: its labels (when and at which position each
/// was put on) and its sort times, from which each label's row is written whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledConversation {
    pub conversation_id: Uuid,
    pub workspace_id: Uuid,
    pub labels: BTreeMap<String, (DateTime<Utc>, i64)>,
    pub times: SortTimes,
    pub status: ConversationStatus,
    pub archived: bool,
}

impl LabelledConversation {
    /// In status `open` and not archived.
    pub fn open(&self) -> bool {
        self.status == ConversationStatus::Open && !self.archived
    }
}

/// A row of the labels model: a conversation's, or one of its labels'.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LabelRow {
    Conversation(LabelledConversation),
    Label(ConversationLabelView),
}

/// A row's key: (conversation, label), the label empty for the conversation's own row.
pub type LabelKey = (Uuid, String);

impl LabelRow {
    pub fn key(&self) -> LabelKey {
        match self {
            Self::Conversation(c) => (c.conversation_id, String::new()),
            Self::Label(l) => (l.conversation_id, l.label.clone()),
        }
    }
}

/// Folds a conversation's labels and sort times into one [`LabelledConversation`] and, per label
/// on it, one [`ConversationLabelView`] carrying the times: every event that moves a time
/// rewrites the conversation's label rows (written whole, so nothing but the conversation's row
/// is loaded); a label taken off deletes its row.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConversationLabelsProjection;

impl Projection for ConversationLabelsProjection {
    const NAME: &'static str = "conversation_labels";
    type Event = (Uuid, ConversationEvent);
    type Key = LabelKey;
    type Row = LabelRow;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        // Receipts and read markers move no sort time and no label.
        if matches!(event.event_type.as_str(), "DeliveryStatusRecorded" | "ReadMarkerMoved" | "ActivitySeen") {
            return Ok(None);
        }
        let Some(decoded) = event.conversation_event() else { return Ok(None) };
        let decoded = decoded.map_err(str::to_owned)?;
        Ok(Some((key(event)?, decoded.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<LabelKey>) {
        into.push((*id, String::new()));
    }

    fn born_with(&self, (conversation, _): &LabelKey) -> Option<Stream> {
        Stream::conversation(*conversation)
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<LabelKey, LabelRow>,
    ) -> Result<(), String> {
        let at = event.occurred_at;
        let own = (id, String::new());
        if let ConversationChange::Started { workspace_id, .. } = event.change {
            let row = LabelledConversation {
                conversation_id: id,
                workspace_id,
                labels: BTreeMap::new(),
                times: SortTimes::started(at),
                status: ConversationStatus::Open,
                archived: false,
            };
            rows.put(own, LabelRow::Conversation(row));
            return Ok(());
        }
        let Some(LabelRow::Conversation(mut conversation)) = rows.get(&own).cloned() else {
            return Err(format!("conversation {id} has events before it started"));
        };
        let before = conversation.clone();
        conversation.times.apply(&event.change, at);
        match event.change {
            ConversationChange::LabelAdded { label } => {
                conversation.labels.insert(label, (at, log.position));
            }
            ConversationChange::LabelRemoved { label } => {
                conversation.labels.remove(&label);
                rows.remove(&(id, label));
            }
            ConversationChange::StatusChanged { to, .. } => conversation.status = to,
            ConversationChange::Archived {} => conversation.archived = true,
            ConversationChange::Unarchived {} => conversation.archived = false,
            _ => {}
        }
        if conversation == before {
            return Ok(());
        }
        if conversation.labels != before.labels
            || conversation.times != before.times
            || conversation.open() != before.open()
        {
            for (label, (added_at, position)) in &conversation.labels {
                let view = ConversationLabelView {
                    conversation_id: id,
                    workspace_id: conversation.workspace_id,
                    label: label.clone(),
                    added_at: *added_at,
                    position: *position,
                    times: conversation.times,
                    open: conversation.open(),
                };
                rows.put((id, label.clone()), LabelRow::Label(view));
            }
        }
        rows.put(own, LabelRow::Conversation(conversation));
        Ok(())
    }
}

/// The row of a log event: its conversation.
pub fn key(log: &LogEvent) -> Result<Uuid, String> {
    Uuid::parse_str(&log.aggregate_id).map_err(|e| format!("conversation id {}: {e}", log.aggregate_id))
}

/// The times a conversation list sorts by, as one fold: the inbox row's, and the label rows'
/// copies of them (`ConversationLabelsProjection`), so a list filtered by a label sorts as the
/// unfiltered one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortTimes {
    pub created_at: DateTime<Utc>,
    /// The latest message's time (the contact's for an inbound one); none before a message.
    pub last_message_at: Option<DateTime<Utc>>,
    /// The latest of the last message's time and any other change (assignment, status,
    /// reactions, …) except delivery receipts and read markers.
    pub last_activity_at: DateTime<Utc>,
}

impl SortTimes {
    /// The times of a conversation that started at `at`.
    pub fn started(at: DateTime<Utc>) -> Self {
        Self { created_at: at, last_message_at: None, last_activity_at: at }
    }

    /// Folds one change that happened at `at`.
    pub fn apply(&mut self, change: &ConversationChange, at: DateTime<Utc>) {
        use ConversationChange as C;
        // Receipts and read markers are not activity: they must not reshuffle an inbox sorted
        // by activity every time a message is delivered or an agent reads.
        if !matches!(change, C::DeliveryStatusRecorded { .. } | C::ReadMarkerMoved { .. } | C::ActivitySeen { .. }) {
            self.last_activity_at = self.last_activity_at.max(at);
        }
        let message_at = match change {
            C::InboundMessageReceived { sent_at, .. } => Some(*sent_at),
            C::MessageSent { .. } => Some(at),
            C::GroupActivityRecorded { at: activity, .. } => {
                self.last_activity_at = self.last_activity_at.max(*activity);
                None
            }
            _ => None,
        };
        if let Some(message_at) = message_at {
            self.last_activity_at = self.last_activity_at.max(message_at);
            // A backfilled message older than the last one does not replace it.
            self.last_message_at = Some(self.last_message_at.map_or(message_at, |t| t.max(message_at)));
        }
    }

    /// The last message's time, or the creation's before any.
    pub fn last_message_or_created(&self) -> DateTime<Utc> {
        self.last_message_at.unwrap_or(self.created_at)
    }
}

/// A message becomes the last one unless a later one is already there (backfilled history).
fn set_last(
    row: &mut ConversationSummary,
    message_id: Uuid,
    seq: u64,
    direction: Direction,
    content: &MessageContent,
    at: DateTime<Utc>,
) {
    if row.last_message.as_ref().is_some_and(|m| m.at > at) {
        return;
    }
    row.last_message = Some(LastMessage { message_id, seq, direction, preview: preview(content), at, deleted: false });
}

#[cfg(test)]
mod tests;
