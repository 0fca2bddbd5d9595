//! The `Conversation` aggregate: one thread with one contact or group on one inbox.
//!
//! Its state stays bounded however long the conversation runs: counters, the assignment, the
//! window's last inbound time, read markers per user, and facts about the most recent
//! [`RECENT_MESSAGES`] messages. Commands about older messages ask [`MessageLookup`].
//!
//! Here: the state, its fold (`apply`) and `decide`, which hands each action to the rules of
//! its family: `messages.rs` (inbound, send, react, edit, delete), `delivery.rs`,
//! `assignment.rs`, `status.rs` (status and archive), `read_state.rs` and `group/`.

mod assignment;
mod attributes;
mod command;
mod delivery;
mod error;
mod event;
pub mod group;
mod messages;
mod notes;
mod read_state;
mod status;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use assignment::canonical_label;
pub use command::{ConversationAction, ConversationCommand, ConversationKind, ConversationStatus, DeliveryFailure};
pub use error::ConversationError;
pub(crate) use event::agent_assigned_names_its_assignee;
pub use event::{Assignee, AssigneeKind, ConversationChange, ConversationEvent};
pub use group::{
    GroupAction, GroupRole, GroupSettings, GroupState, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason,
    MemberAddMode, NewMember, SettingsPatch,
};

use crate::directory::DirectoryLookup;
use crate::{Actor, ChannelType, Clock, DeliveryStatus, Direction, InboxFacts, MessageFacts};

/// How many recent messages the aggregate remembers facts about.
pub const RECENT_MESSAGES: usize = 256;
/// How far in the future a connector's `sent_at` may be (clock skew) before it is refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);
/// Longest reaction emoji accepted, in characters (emoji sequences can be several code points).
pub const MAX_EMOJI_CHARS: usize = 16;
/// Most labels on one conversation.
pub const MAX_LABELS: usize = 50;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// Longest agent, team or user id accepted.
pub const MAX_ID_CHARS: usize = 200;

/// Finds an inbox's facts; the caller's store implements it.
pub trait InboxLookup: Send + Sync {
    fn inbox(&self, inbox_id: Uuid) -> BoxFuture<'_, Result<Option<InboxFacts>, String>>;
}

/// Finds facts about a message older than the aggregate remembers, by folding the
/// conversation's events (see [`message_facts`]).
pub trait MessageLookup: Send + Sync {
    fn message(&self, conversation_id: Uuid, message_id: Uuid) -> BoxFuture<'_, Result<Option<MessageFacts>, String>>;
}

pub struct ConversationServices {
    pub clock: Arc<dyn Clock>,
    pub inboxes: Arc<dyn InboxLookup>,
    pub messages: Arc<dyn MessageLookup>,
    /// The agents and teams an assignment names.
    pub directory: Arc<dyn DirectoryLookup>,
    /// The workspace's attribute definitions, which a conversation's attributes must meet.
    pub attributes: Arc<dyn crate::attribute::AttributeLookup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub inbox_id: Option<Uuid>,
    pub channel: Option<ChannelType>,
    pub kind: Option<ConversationKind>,
    /// The contact of a direct conversation, when it started with one (decision 0005).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<Uuid>,
    pub status: Option<ConversationStatus>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub archived: bool,
    pub assignee: Option<String>,
    pub team: Option<String>,
    /// Its labels, in their canonical spelling, at most [`MAX_LABELS`].
    #[serde(default)]
    pub labels: BTreeSet<String>,
    /// Its custom attributes by key, each meeting its definition when set; never `null`.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// When the contact last wrote (as the connector reported it): the window counts from here.
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub message_count: u64,
    pub inbound_count: u64,
    pub recent: VecDeque<MessageFacts>,
    /// Per user, the seq of the last message they have read.
    pub read_markers: BTreeMap<String, u64>,
    /// Per user, the latest activity they have seen (activity-only groups).
    pub activity_seen: BTreeMap<String, DateTime<Utc>>,
    /// Members, metadata and settings (group conversations only).
    pub group: Option<GroupState>,
}

/// Facts about one message, folded from a conversation's events: what [`MessageLookup`] returns.
pub fn message_facts<'a>(
    events: impl IntoIterator<Item = &'a ConversationEvent>,
    message_id: Uuid,
) -> Option<MessageFacts> {
    let mut facts: Option<MessageFacts> = None;
    for event in events {
        if event.change.message_id() != Some(message_id) {
            continue;
        }
        match &event.change {
            ConversationChange::InboundMessageReceived { seq, inbound_count, .. } => {
                facts = Some(new_facts(message_id, *seq, Direction::Inbound, *inbound_count))
            }
            ConversationChange::MessageSent { seq, inbound_count, .. } => {
                facts = Some(new_facts(message_id, *seq, Direction::Outbound, *inbound_count))
            }
            ConversationChange::NoteAdded { seq, inbound_count, .. } => {
                facts = Some(new_facts(message_id, *seq, Direction::Note, *inbound_count))
            }
            change => {
                if let Some(f) = facts.as_mut() {
                    apply_to_facts(f, change);
                }
            }
        }
    }
    facts
}

fn new_facts(message_id: Uuid, seq: u64, direction: Direction, inbound_count: u64) -> MessageFacts {
    let status = match direction {
        Direction::Inbound => DeliveryStatus::Delivered,
        Direction::Outbound | Direction::Note => DeliveryStatus::Accepted,
    };
    MessageFacts { message_id, seq, direction, status, deleted: false, inbound_count }
}

fn apply_to_facts(facts: &mut MessageFacts, change: &ConversationChange) {
    match change {
        ConversationChange::DeliveryStatusRecorded { status, .. } => facts.status = *status,
        ConversationChange::MessageDeleted { .. } => facts.deleted = true,
        _ => {}
    }
}

/// 1 to `MAX_ID_CHARS` characters, counted as sent, and not blank.
fn required_id(field: &str, value: &str) -> Result<(), ConversationError> {
    if value.trim().is_empty() || value.chars().count() > MAX_ID_CHARS {
        return Err(ConversationError::validation(field, format!("must be 1 to {MAX_ID_CHARS} characters")));
    }
    Ok(())
}

/// What every decision knows besides the command's own fields.
struct Context<'a> {
    workspace_id: Uuid,
    actor: &'a Actor,
    services: &'a ConversationServices,
    /// The one reading of the clock: the rules are checked at the time the events carry.
    now: DateTime<Utc>,
}

impl Conversation {
    /// The conversation's id, if it started in `workspace_id`: every command but the two that
    /// may start it (an inbound message, creating a group) checks this first.
    fn started(&self, workspace_id: Uuid) -> Result<Uuid, ConversationError> {
        match (self.conversation_id, self.workspace_id) {
            (Some(id), Some(ws)) if ws == workspace_id => Ok(id),
            _ => Err(ConversationError::NotFound),
        }
    }

    /// The live inbox a command names (an inbound message's, a new group's): one that is not
    /// the workspace's is not found, like anything else a command names; one of its own that
    /// was deleted is `InboxRequired`, since the connector has the right inbox and it is gone.
    async fn inbox(&self, cx: &Context<'_>, inbox_id: Uuid) -> Result<InboxFacts, ConversationError> {
        match cx.services.inboxes.inbox(inbox_id).await.map_err(ConversationError::Lookup)? {
            Some(inbox) if inbox.workspace_id != cx.workspace_id => Err(ConversationError::InboxNotFound(inbox_id)),
            None => Err(ConversationError::InboxNotFound(inbox_id)),
            Some(inbox) if inbox.deleted => Err(ConversationError::InboxRequired),
            Some(inbox) => Ok(inbox),
        }
    }

    /// The conversation's own inbox, live: whether deleted or (which no command can cause)
    /// missing, the conversation has no inbox to send on, `InboxRequired`.
    async fn own_inbox(&self, cx: &Context<'_>) -> Result<InboxFacts, ConversationError> {
        let inbox_id = self.inbox_id.ok_or(ConversationError::InboxRequired)?;
        match self.inbox(cx, inbox_id).await {
            Err(ConversationError::InboxNotFound(_)) => Err(ConversationError::InboxRequired),
            other => other,
        }
    }

    /// The changes `command` makes: one arm per action, the rules of each family of actions in
    /// a module of its own.
    async fn decide(
        &self,
        command: ConversationCommand,
        services: &ConversationServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationChange>, ConversationError> {
        use ConversationAction as A;
        let ConversationCommand { workspace_id, actor, action } = command;
        let cx = Context { workspace_id, actor: &actor, services, now };
        match action {
            A::ReceiveInboundMessage {
                inbox_id,
                thread_key,
                kind,
                display_name,
                message_id,
                channel_message_id,
                sent_at,
                content,
                sender,
                sender_contact_id,
                mentions,
                contact_id,
            } => {
                self.receive(
                    &cx,
                    inbox_id,
                    (thread_key, contact_id),
                    kind,
                    display_name,
                    message_id,
                    channel_message_id,
                    sent_at,
                    content,
                    (sender, sender_contact_id),
                    mentions,
                )
                .await
            }
            A::SendMessage { message_id, minted_id, content, mentions } => {
                self.send(&cx, message_id, minted_id, content, mentions).await
            }
            A::React { message_id, emoji } => self.react(&cx, message_id, emoji).await,
            A::EditMessage { message_id, content } => self.edit(&cx, message_id, content).await,
            A::DeleteMessage { message_id } => self.delete(&cx, message_id).await,
            A::RecordDeliveryStatus { message_id, status, failure, reported_at } => {
                self.record_delivery_status(&cx, message_id, status, failure, reported_at).await
            }
            A::AssignAgent { agent_id } => self.assign_agent(&cx, agent_id).await,
            A::UnassignAgent => self.unassign_agent(&cx),
            A::AssignTeam { team_id } => self.assign_team(&cx, team_id).await,
            A::UnassignTeam => self.unassign_team(&cx),
            A::AddLabel { label } => self.add_label(&cx, &label),
            A::SetAttributes { attributes } => self.set_attributes(&cx, attributes).await,
            A::AddNote { message_id, minted_id, body, mentions } => {
                self.add_note(&cx, message_id, minted_id, &body, mentions).await
            }
            A::RemoveLabel { label } => self.remove_label(&cx, &label),
            A::Archive => self.archive(&cx),
            A::Unarchive => self.unarchive(&cx),
            A::ChangeStatus { status, snoozed_until } => self.change_status(&cx, status, snoozed_until),
            A::MarkRead { user_id, message_id } => self.mark_read(&cx, user_id, message_id).await,
            A::Group(GroupAction::Create {
                inbox_id,
                group_id,
                subject,
                description,
                picture_url,
                creator,
                self_member,
                members,
                settings,
                invite_code,
            }) => {
                self.create_group(
                    &cx,
                    inbox_id,
                    group_id,
                    subject,
                    description,
                    picture_url,
                    creator,
                    self_member,
                    members,
                    settings,
                    invite_code,
                )
                .await
            }
            A::Group(action) => self.group_action(&cx, action),
        }
    }

    fn remember(&mut self, facts: MessageFacts) {
        if self.recent.len() == RECENT_MESSAGES {
            self.recent.pop_front();
        }
        self.recent.push_back(facts);
    }
}

impl Aggregate for Conversation {
    const TYPE: &'static str = "conversation";
    type Command = ConversationCommand;
    type Event = ConversationEvent;
    type Error = ConversationError;
    type Services = ConversationServices;

    async fn handle(
        &mut self,
        command: ConversationCommand,
        services: &ConversationServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ConversationError> {
        let actor = command.actor.clone();
        // Decide everything first, then write: a rejection leaves no event behind.
        // One reading of the clock: the rules are checked against the time the events carry.
        let occurred_at = services.clock.now();
        let changes = self.decide(command, services, occurred_at).await?;
        for change in changes {
            sink.write(ConversationEvent { occurred_at, actor: actor.clone(), change }, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ConversationEvent) {
        use ConversationChange as C;
        match event.change {
            C::Started { conversation_id, workspace_id, inbox_id, channel, kind, contact_id, .. } => {
                self.conversation_id = Some(conversation_id);
                self.contact_id = contact_id;
                self.workspace_id = Some(workspace_id);
                self.inbox_id = Some(inbox_id);
                self.channel = Some(channel);
                self.kind = Some(kind);
                self.status = Some(ConversationStatus::Open);
                if kind == ConversationKind::Group {
                    self.group = Some(GroupState::default());
                }
            }
            C::InboundMessageReceived { message_id, seq, inbound_count, sent_at, .. } => {
                self.message_count = seq;
                self.inbound_count = inbound_count;
                self.last_inbound_at = Some(self.last_inbound_at.map_or(sent_at, |at| at.max(sent_at)));
                self.remember(new_facts(message_id, seq, Direction::Inbound, inbound_count));
            }
            C::MessageSent { message_id, seq, inbound_count, .. } => {
                self.message_count = seq;
                self.remember(new_facts(message_id, seq, Direction::Outbound, inbound_count));
            }
            C::NoteAdded { message_id, seq, inbound_count, .. } => {
                self.message_count = seq;
                self.remember(new_facts(message_id, seq, Direction::Note, inbound_count));
            }
            ref change @ (C::DeliveryStatusRecorded { message_id, .. } | C::MessageDeleted { message_id }) => {
                if let Some(facts) = self.recent.iter_mut().rev().find(|m| m.message_id == message_id) {
                    apply_to_facts(facts, change);
                }
            }
            C::ReactionSet { .. } | C::ReactionRemoved { .. } | C::MessageEdited { .. } => {}
            C::AgentAssigned { assignee, .. } => self.assignee = Some(assignee.id),
            C::AgentUnassigned { .. } => self.assignee = None,
            C::TeamAssigned { team_id, .. } => self.team = Some(team_id),
            C::TeamUnassigned { .. } => self.team = None,
            C::LabelAdded { label } => {
                self.labels.insert(label);
            }
            C::LabelRemoved { label } => {
                self.labels.remove(&label);
            }
            C::AttributeSet { key, value } => {
                self.attributes.insert(key, value);
            }
            C::AttributeRemoved { key } => {
                self.attributes.remove(&key);
            }
            C::Archived {} => self.archived = true,
            C::Unarchived {} => self.archived = false,
            C::ReadMarkerMoved { user_id, seq, .. } => {
                self.read_markers.insert(user_id, seq);
            }
            C::StatusChanged { to, snoozed_until, .. } => {
                self.status = Some(to);
                self.snoozed_until = snoozed_until;
            }
            C::ActivitySeen { user_id, at } => {
                self.activity_seen.insert(user_id, at);
            }
            ref change => {
                if let Some(group) = self.group.as_mut() {
                    group.apply(change);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
