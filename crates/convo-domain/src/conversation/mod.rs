//! The `Conversation` aggregate: one thread with one contact or group on one inbox.
//!
//! Its state stays bounded however long the conversation runs: counters, the assignment, the
//! window's last inbound time, read markers per user, and facts about the most recent
//! [`RECENT_MESSAGES`] messages. Commands about older messages ask [`MessageLookup`].

mod command;
mod error;
mod event;
pub mod group;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use command::{ConversationAction, ConversationCommand, ConversationKind, ConversationStatus, DeliveryFailure};
pub use error::ConversationError;
pub(crate) use event::agent_assigned_names_its_assignee;
pub use event::{Assignee, AssigneeKind, ConversationChange, ConversationEvent};
pub use group::{
    GroupAction, GroupRole, GroupSettings, GroupState, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason,
    MemberAddMode, NewMember, SettingsPatch,
};

use crate::window::TemplateSupport;
use crate::{
    ActorKind, ChannelType, Clock, DeliveryStatus, Direction, InboxFacts, MessageContent, MessageFacts, WindowActor,
    WindowState,
};

/// How many recent messages the aggregate remembers facts about.
pub const RECENT_MESSAGES: usize = 256;
/// How far in the future a connector's `sent_at` may be (clock skew) before it is refused.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);
/// Longest reaction emoji accepted, in characters (emoji sequences can be several code points).
pub const MAX_EMOJI_CHARS: usize = 16;
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
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub conversation_id: Option<Uuid>,
    pub workspace_id: Option<Uuid>,
    pub inbox_id: Option<Uuid>,
    pub channel: Option<ChannelType>,
    pub kind: Option<ConversationKind>,
    pub status: Option<ConversationStatus>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub archived: bool,
    pub assignee: Option<String>,
    pub team: Option<String>,
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
        Direction::Outbound => DeliveryStatus::Accepted,
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

impl Conversation {
    fn started(&self, workspace_id: Uuid) -> Result<Uuid, ConversationError> {
        match (self.conversation_id, self.workspace_id) {
            (Some(id), Some(ws)) if ws == workspace_id => Ok(id),
            _ => Err(ConversationError::NotFound),
        }
    }

    fn recent_message(&self, message_id: Uuid) -> Option<&MessageFacts> {
        self.recent.iter().rev().find(|m| m.message_id == message_id)
    }

    async fn find_message(
        &self,
        id: Uuid,
        message_id: Uuid,
        services: &ConversationServices,
    ) -> Result<MessageFacts, ConversationError> {
        if let Some(facts) = self.recent_message(message_id) {
            return Ok(facts.clone());
        }
        services
            .messages
            .message(id, message_id)
            .await
            .map_err(ConversationError::Lookup)?
            .ok_or(ConversationError::MessageNotFound(message_id))
    }

    async fn live_message(
        &self,
        id: Uuid,
        message_id: Uuid,
        services: &ConversationServices,
    ) -> Result<MessageFacts, ConversationError> {
        let facts = self.find_message(id, message_id, services).await?;
        if facts.deleted {
            return Err(ConversationError::MessageDeleted(message_id));
        }
        Ok(facts)
    }

    /// The live inbox a command names (an inbound message's, a new group's): one that is not
    /// the workspace's is not found, like anything else a command names; one of its own that
    /// was deleted is `InboxRequired`, since the connector has the right inbox and it is gone.
    async fn inbox(
        &self,
        inbox_id: Uuid,
        workspace_id: Uuid,
        services: &ConversationServices,
    ) -> Result<InboxFacts, ConversationError> {
        match services.inboxes.inbox(inbox_id).await.map_err(ConversationError::Lookup)? {
            Some(inbox) if inbox.workspace_id != workspace_id => Err(ConversationError::InboxNotFound(inbox_id)),
            None => Err(ConversationError::InboxNotFound(inbox_id)),
            Some(inbox) if inbox.deleted => Err(ConversationError::InboxRequired),
            Some(inbox) => Ok(inbox),
        }
    }

    /// The conversation's own inbox, live: whether deleted or (which no command can cause)
    /// missing, the conversation has no inbox to send on, `InboxRequired`.
    async fn own_inbox(
        &self,
        workspace_id: Uuid,
        services: &ConversationServices,
    ) -> Result<InboxFacts, ConversationError> {
        let inbox_id = self.inbox_id.ok_or(ConversationError::InboxRequired)?;
        match self.inbox(inbox_id, workspace_id, services).await {
            Err(ConversationError::InboxNotFound(_)) => Err(ConversationError::InboxRequired),
            other => other,
        }
    }

    /// A message id names one message for ever: refused if it is already used here, among the
    /// recent messages or (for a longer conversation) in the store.
    async fn check_new_message_id(
        &self,
        message_id: Uuid,
        services: &ConversationServices,
    ) -> Result<(), ConversationError> {
        match self.existing_message(message_id, services).await? {
            Some(_) => Err(ConversationError::DuplicateMessage(message_id)),
            None => Ok(()),
        }
    }

    /// What is known of `message_id` in this conversation, if it is used here.
    async fn existing_message(
        &self,
        message_id: Uuid,
        services: &ConversationServices,
    ) -> Result<Option<MessageFacts>, ConversationError> {
        if let Some(facts) = self.recent_message(message_id) {
            return Ok(Some(facts.clone()));
        }
        match self.conversation_id {
            Some(id) if self.message_count > RECENT_MESSAGES as u64 => {
                services.messages.message(id, message_id).await.map_err(ConversationError::Lookup)
            }
            _ => Ok(None),
        }
    }

    /// The messaging-window policy, applied to a send.
    fn check_window(
        &self,
        inbox: &InboxFacts,
        actor: WindowActor,
        content: &MessageContent,
        now: DateTime<Utc>,
    ) -> Result<(), ConversationError> {
        let policy = inbox.policy;
        let unsupported = || ConversationError::UnsupportedChannel { channel: inbox.channel, content: content.kind() };
        match content {
            MessageContent::Template { .. } => match policy.templates {
                TemplateSupport::Unsupported => return Err(unsupported()),
                TemplateSupport::AllowedOutsideWindow => return Ok(()),
                TemplateSupport::InsideWindow => {}
            },
            MessageContent::Interactive { .. } if !policy.interactive => return Err(unsupported()),
            _ => {}
        }
        let window = self.kind.unwrap_or(ConversationKind::Direct).window(&policy, actor, self.last_inbound_at, now);
        if window.state == WindowState::Closed {
            return Err(ConversationError::MessagingWindowClosed { actor, expired_at: window.expires_at });
        }
        Ok(())
    }

    async fn decide(
        &self,
        command: ConversationCommand,
        services: &ConversationServices,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConversationChange>, ConversationError> {
        use ConversationAction as A;
        use ConversationChange as C;
        let ws = command.workspace_id;
        if let A::ReceiveInboundMessage {
            inbox_id,
            thread_key,
            kind,
            display_name,
            message_id,
            channel_message_id,
            sent_at,
            content,
            sender,
            mentions,
        } = command.action
        {
            required_id("thread_key", &thread_key)?;
            content.validate().map_err(|(f, r)| ConversationError::validation(f, r))?;
            if sent_at > now + MAX_CLOCK_SKEW {
                return Err(ConversationError::validation("sent_at", "must not be in the future"));
            }
            if self.conversation_id.is_some() {
                // The id is derived from (workspace, inbox, thread key, kind is fixed at start):
                // a command that does not match this thread is not about this conversation.
                let id = self.started(ws)?;
                if crate::conversation_id(ws, inbox_id, &thread_key) != id || self.kind != Some(kind) {
                    return Err(ConversationError::NotFound);
                }
                match self.existing_message(message_id, services).await? {
                    // The same inbound message again (a connector's retry): received once.
                    Some(facts) if facts.direction == Direction::Inbound => return Ok(Vec::new()),
                    Some(_) => return Err(ConversationError::DuplicateMessage(message_id)),
                    None => {}
                }
            }
            if kind == ConversationKind::Group && sender.as_deref().is_none_or(|s| s.trim().is_empty()) {
                return Err(ConversationError::validation("sender", "a group message needs its sender member"));
            }
            if !mentions.is_empty() && kind != ConversationKind::Group {
                return Err(ConversationError::validation("mentions", "only group messages mention members"));
            }
            group::validate_mentions(&mentions)?;
            let inbox = self.inbox(inbox_id, ws, services).await?;
            let mut changes = Vec::with_capacity(4);
            if self.group.as_ref().is_some_and(|g| g.settings.activity_only) {
                // An activity-only group keeps no bodies: the message is only activity.
                changes.push(C::GroupActivityRecorded { at: sent_at, messages: 1 });
                self.reopen(&mut changes);
                return Ok(changes);
            }
            if self.conversation_id.is_none() {
                changes.push(C::Started {
                    conversation_id: crate::conversation_id(ws, inbox_id, &thread_key),
                    workspace_id: ws,
                    inbox_id,
                    channel: inbox.channel,
                    kind,
                    thread_key,
                    display_name,
                });
            }
            changes.push(C::InboundMessageReceived {
                message_id,
                seq: self.message_count + 1,
                inbound_count: self.inbound_count + 1,
                channel_message_id,
                sent_at,
                content,
                sender,
                mentions,
            });
            self.reopen(&mut changes);
            return Ok(changes);
        }
        if let A::Group(GroupAction::Create {
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
        }) = command.action
        {
            required_id("group_id", &group_id)?;
            let id = crate::conversation_id(ws, inbox_id, &group_id);
            let mut changes = Vec::with_capacity(2);
            match &self.group {
                _ if self.conversation_id.is_none() => {}
                Some(group) if self.started(ws)? == id && !group.created => {}
                Some(_) if self.started(ws)? == id => return Err(ConversationError::GroupExists),
                _ => return Err(ConversationError::NotFound),
            }
            let created = group::created(
                group_id.clone(),
                subject,
                description,
                picture_url,
                creator,
                self_member,
                members,
                settings,
                invite_code,
            )?;
            let inbox = self.inbox(inbox_id, ws, services).await?;
            if self.conversation_id.is_none() {
                let display_name = match &created {
                    C::GroupCreated { subject, .. } => Some(subject.clone()),
                    _ => None,
                };
                changes.push(C::Started {
                    conversation_id: id,
                    workspace_id: ws,
                    inbox_id,
                    channel: inbox.channel,
                    kind: ConversationKind::Group,
                    thread_key: group_id,
                    display_name,
                });
            }
            changes.push(created);
            return Ok(changes);
        }

        let id = self.started(ws)?;
        let change = match command.action {
            A::ReceiveInboundMessage { .. } | A::Group(GroupAction::Create { .. }) => unreachable!("handled above"),
            A::SendMessage { message_id, minted_id, content, mentions } => {
                let actor = match command.actor.kind {
                    ActorKind::Agent => WindowActor::Agent,
                    ActorKind::Bot => WindowActor::Bot,
                    ActorKind::Contact | ActorKind::System => {
                        return Err(ConversationError::validation(
                            "actor.kind",
                            "only an agent or a bot sends messages",
                        ));
                    }
                };
                content.validate().map_err(|(f, r)| ConversationError::validation(f, r))?;
                group::validate_mentions(&mentions)?;
                match &self.group {
                    Some(group) => group.check_send(&mentions)?,
                    None if !mentions.is_empty() => {
                        return Err(ConversationError::validation("mentions", "only group messages mention members"));
                    }
                    None => {}
                }
                if !minted_id {
                    self.check_new_message_id(message_id, services).await?;
                }
                let inbox = self.own_inbox(ws, services).await?;
                self.check_window(&inbox, actor, &content, now)?;
                C::MessageSent {
                    message_id,
                    seq: self.message_count + 1,
                    inbound_count: self.inbound_count,
                    content,
                    mentions,
                }
            }
            A::RecordDeliveryStatus { message_id, status, failure, reported_at } => {
                match (status, &failure) {
                    (DeliveryStatus::Accepted, _) => {
                        return Err(ConversationError::validation(
                            "status",
                            "accepted is set by the engine, not reported",
                        ));
                    }
                    (DeliveryStatus::Failed, None) => {
                        return Err(ConversationError::validation("failure", "a failed status needs a failure code"));
                    }
                    (DeliveryStatus::Failed, Some(f)) => required_id("failure.code", &f.code)?,
                    (_, Some(_)) => {
                        return Err(ConversationError::validation("failure", "only a failed status carries a failure"));
                    }
                    (_, None) => {}
                }
                let facts = self.find_message(id, message_id, services).await?;
                if facts.direction != Direction::Outbound {
                    return Err(ConversationError::validation(
                        "message_id",
                        "delivery status is reported for outbound messages only",
                    ));
                }
                if !facts.status.advances_to(status) {
                    return Ok(vec![]); // late or duplicate report: the status never moves back
                }
                C::DeliveryStatusRecorded { message_id, status, failure, reported_at }
            }
            A::React { message_id, emoji } => {
                if emoji.chars().count() > MAX_EMOJI_CHARS {
                    return Err(ConversationError::validation(
                        "emoji",
                        format!("must be at most {MAX_EMOJI_CHARS} characters"),
                    ));
                }
                let emoji = emoji.trim().to_owned();
                self.live_message(id, message_id, services).await?;
                if emoji.is_empty() { C::ReactionRemoved { message_id } } else { C::ReactionSet { message_id, emoji } }
            }
            A::EditMessage { message_id, content } => {
                if !matches!(content, MessageContent::Text { .. }) {
                    return Err(ConversationError::validation(
                        "content.type",
                        "only text can replace a message's content",
                    ));
                }
                content.validate().map_err(|(f, r)| ConversationError::validation(f, r))?;
                self.live_message(id, message_id, services).await?;
                C::MessageEdited { message_id, content }
            }
            A::DeleteMessage { message_id } => {
                if self.find_message(id, message_id, services).await?.deleted {
                    return Ok(vec![]);
                }
                C::MessageDeleted { message_id }
            }
            A::AssignAgent { agent_id } => {
                required_id("agent_id", &agent_id)?;
                if self.assignee.as_deref() == Some(agent_id.as_str()) {
                    return Ok(vec![]);
                }
                C::AgentAssigned {
                    assignee: Assignee::agent(agent_id),
                    previous: self.assignee.clone().map(Assignee::agent),
                }
            }
            A::UnassignAgent => match &self.assignee {
                None => return Ok(vec![]),
                Some(agent_id) => C::AgentUnassigned { agent_id: agent_id.clone() },
            },
            A::AssignTeam { team_id } => {
                required_id("team_id", &team_id)?;
                if self.team.as_deref() == Some(team_id.as_str()) {
                    return Ok(vec![]);
                }
                C::TeamAssigned { team_id, previous: self.team.clone() }
            }
            A::UnassignTeam => match &self.team {
                None => return Ok(vec![]),
                Some(team_id) => C::TeamUnassigned { team_id: team_id.clone() },
            },
            A::Archive if self.archived => return Ok(vec![]),
            A::Archive => C::Archived {},
            A::Unarchive if !self.archived => return Ok(vec![]),
            A::Unarchive => C::Unarchived {},
            A::MarkRead { user_id, message_id } => {
                required_id("user_id", &user_id)?;
                let mut changes = Vec::with_capacity(2);
                let facts = match message_id {
                    Some(message_id) => Some(self.find_message(id, message_id, services).await?),
                    None => self.recent.back().cloned(),
                };
                if let Some(facts) = facts
                    && self.read_markers.get(&user_id).is_none_or(|seq| *seq < facts.seq)
                {
                    changes.push(C::ReadMarkerMoved {
                        user_id: user_id.clone(),
                        message_id: facts.message_id,
                        seq: facts.seq,
                        inbound_read: facts.inbound_count,
                    });
                }
                if message_id.is_none()
                    && let Some(at) = self.group.as_ref().and_then(|g| g.last_activity_at)
                    && self.activity_seen.get(&user_id).is_none_or(|seen| *seen < at)
                {
                    changes.push(C::ActivitySeen { user_id, at });
                }
                return Ok(changes);
            }
            A::ChangeStatus { status, snoozed_until } => {
                match (status, snoozed_until) {
                    (ConversationStatus::Snoozed, None) => {
                        return Err(ConversationError::validation("snoozed_until", "snoozing needs a time to wake up"));
                    }
                    (ConversationStatus::Snoozed, Some(until)) if until <= now => {
                        return Err(ConversationError::validation("snoozed_until", "must be in the future"));
                    }
                    (ConversationStatus::Snoozed, Some(_)) => {}
                    (_, Some(_)) => {
                        return Err(ConversationError::validation(
                            "snoozed_until",
                            "only a snoozed status has a wake-up time",
                        ));
                    }
                    (_, None) => {}
                }
                let from = self.status.unwrap_or(ConversationStatus::Open);
                if from == status && self.snoozed_until == snoozed_until {
                    return Ok(vec![]);
                }
                C::StatusChanged { from, to: status, snoozed_until }
            }
            A::Group(action) => {
                let group = self.group.as_ref().ok_or(ConversationError::NotAGroup)?;
                let mut changes = group.decide(&command.actor, action, now)?;
                if matches!(changes.first(), Some(C::GroupActivityRecorded { .. })) {
                    self.reopen(&mut changes);
                }
                return Ok(changes);
            }
        };
        Ok(vec![change])
    }

    /// New inbound messages (or activity) reopen and unarchive the conversation.
    fn reopen(&self, changes: &mut Vec<ConversationChange>) {
        if let Some(from) = self.status.filter(|s| *s != ConversationStatus::Open) {
            changes.push(ConversationChange::StatusChanged { from, to: ConversationStatus::Open, snoozed_until: None });
        }
        if self.archived {
            changes.push(ConversationChange::Unarchived {});
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
            C::Started { conversation_id, workspace_id, inbox_id, channel, kind, .. } => {
                self.conversation_id = Some(conversation_id);
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
