//! Messages: an inbound message arriving (which starts the conversation of a new thread), a send
//! by an agent or a bot under the messaging window, reactions, edits and deletions, and what the
//! aggregate knows of a message a command names.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    Context, Conversation, ConversationChange as C, ConversationError, ConversationKind, MAX_CLOCK_SKEW,
    MAX_EMOJI_CHARS, RECENT_MESSAGES, group, required_id,
};
use crate::window::TemplateSupport;
use crate::{ActorKind, Direction, InboxFacts, MessageContent, MessageFacts, WindowActor, WindowState};

impl Conversation {
    fn recent_message(&self, message_id: Uuid) -> Option<&MessageFacts> {
        self.recent.iter().rev().find(|m| m.message_id == message_id)
    }

    pub(super) async fn find_message(
        &self,
        cx: &Context<'_>,
        id: Uuid,
        message_id: Uuid,
    ) -> Result<MessageFacts, ConversationError> {
        if let Some(facts) = self.recent_message(message_id) {
            return Ok(facts.clone());
        }
        cx.services
            .messages
            .message(id, message_id)
            .await
            .map_err(ConversationError::Lookup)?
            .ok_or(ConversationError::MessageNotFound(message_id))
    }

    async fn live_message(
        &self,
        cx: &Context<'_>,
        id: Uuid,
        message_id: Uuid,
    ) -> Result<MessageFacts, ConversationError> {
        let facts = self.not_a_note(self.find_message(cx, id, message_id).await?)?;
        if facts.deleted {
            return Err(ConversationError::MessageDeleted(message_id));
        }
        Ok(facts)
    }

    /// Refuses a private note where a command names a message: nothing reacts to a note, edits
    /// or deletes it (its events would reach connectors, which know no such message).
    fn not_a_note(&self, facts: MessageFacts) -> Result<MessageFacts, ConversationError> {
        if facts.direction == Direction::Note {
            return Err(ConversationError::validation("message_id", "names a private note, not a message"));
        }
        Ok(facts)
    }

    /// A new message's or note's id: one a client chose must be unused here; one the gateway
    /// minted is new, unless it derived it from an Idempotency-Key whose earlier attempt was
    /// written meanwhile (its answer lost, its lease run out): that one is among the recent
    /// messages, and writing it again would be a second one with the same id. The refusal lets
    /// the retry answer what was written.
    pub(super) async fn check_new_id(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        minted_id: bool,
    ) -> Result<(), ConversationError> {
        if !minted_id {
            self.check_new_message_id(cx, message_id).await
        } else if self.recent_message(message_id).is_some() {
            Err(ConversationError::DuplicateMessage(message_id))
        } else {
            Ok(())
        }
    }

    /// A message id names one message for ever: refused if it is already used here, among the
    /// recent messages or (for a longer conversation) in the store.
    async fn check_new_message_id(&self, cx: &Context<'_>, message_id: Uuid) -> Result<(), ConversationError> {
        match self.existing_message(cx, message_id).await? {
            Some(_) => Err(ConversationError::DuplicateMessage(message_id)),
            None => Ok(()),
        }
    }

    /// What is known of `message_id` in this conversation, if it is used here.
    async fn existing_message(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
    ) -> Result<Option<MessageFacts>, ConversationError> {
        if let Some(facts) = self.recent_message(message_id) {
            return Ok(Some(facts.clone()));
        }
        match self.conversation_id {
            Some(id) if self.message_count > RECENT_MESSAGES as u64 => {
                cx.services.messages.message(id, message_id).await.map_err(ConversationError::Lookup)
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

    /// `ReceiveInboundMessage`: find-or-create the thread's conversation and append the message
    /// once (a connector's retry is received once); in an activity-only group, only activity.
    #[allow(clippy::too_many_arguments)] // the command's fields, as the connector reported them
    pub(super) async fn receive(
        &self,
        cx: &Context<'_>,
        inbox_id: Uuid,
        (thread_key, contact_id): (String, Option<Uuid>),
        kind: ConversationKind,
        display_name: Option<String>,
        message_id: Uuid,
        channel_message_id: Option<String>,
        sent_at: DateTime<Utc>,
        content: MessageContent,
        (sender, sender_contact_id): (Option<String>, Option<Uuid>),
        mentions: Vec<String>,
    ) -> Result<Vec<C>, ConversationError> {
        let ws = cx.workspace_id;
        required_id("thread_key", &thread_key)?;
        content.validate().map_err(|(f, r)| ConversationError::validation(f, r))?;
        if sent_at > cx.now + MAX_CLOCK_SKEW {
            return Err(ConversationError::validation("sent_at", "must not be in the future"));
        }
        if self.conversation_id.is_some() {
            // The id is derived from (workspace, inbox, thread key, kind is fixed at start): a
            // command that does not match this thread is not about this conversation, unless
            // it comes for a contact, whose record found this conversation on the inbox
            // (decision 0005): its channel address may have changed (WhatsApp's business-scoped
            // id for the phone), or a merge gave it the conversation another contact started.
            let id = self.started(ws)?;
            let same_thread = crate::conversation_id(ws, inbox_id, &thread_key) == id;
            if !(same_thread || contact_id.is_some()) || self.inbox_id != Some(inbox_id) || self.kind != Some(kind) {
                return Err(ConversationError::NotFound);
            }
            match self.existing_message(cx, message_id).await? {
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
        let inbox = self.inbox(cx, inbox_id).await?;
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
                contact_id: contact_id.filter(|_| kind == ConversationKind::Direct),
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
            sender_contact_id: sender_contact_id.filter(|_| kind == ConversationKind::Group),
            mentions,
        });
        self.reopen(&mut changes);
        Ok(changes)
    }

    /// `SendMessage`: an agent's or a bot's message, within the messaging window (and a group's
    /// rules), on the conversation's live inbox.
    pub(super) async fn send(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        minted_id: bool,
        content: MessageContent,
        mentions: Vec<String>,
    ) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        let actor = match cx.actor.kind {
            ActorKind::Agent => WindowActor::Agent,
            ActorKind::Bot => WindowActor::Bot,
            ActorKind::Contact | ActorKind::System => {
                return Err(ConversationError::validation("actor.kind", "only an agent or a bot sends messages"));
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
        self.check_new_id(cx, message_id, minted_id).await?;
        let inbox = self.own_inbox(cx).await?;
        self.check_window(&inbox, actor, &content, cx.now)?;
        Ok(vec![C::MessageSent {
            message_id,
            seq: self.message_count + 1,
            inbound_count: self.inbound_count,
            content,
            mentions,
        }])
    }

    /// `React`: the actor's reaction to a live message; an empty emoji removes it.
    pub(super) async fn react(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        emoji: String,
    ) -> Result<Vec<C>, ConversationError> {
        let id = self.started(cx.workspace_id)?;
        if emoji.chars().count() > MAX_EMOJI_CHARS {
            return Err(ConversationError::validation(
                "emoji",
                format!("must be at most {MAX_EMOJI_CHARS} characters"),
            ));
        }
        let emoji = emoji.trim().to_owned();
        self.live_message(cx, id, message_id).await?;
        Ok(vec![if emoji.is_empty() {
            C::ReactionRemoved { message_id }
        } else {
            C::ReactionSet { message_id, emoji }
        }])
    }

    /// `EditMessage`: new text for a live message.
    pub(super) async fn edit(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        content: MessageContent,
    ) -> Result<Vec<C>, ConversationError> {
        let id = self.started(cx.workspace_id)?;
        if !matches!(content, MessageContent::Text { .. }) {
            return Err(ConversationError::validation("content.type", "only text can replace a message's content"));
        }
        content.validate().map_err(|(f, r)| ConversationError::validation(f, r))?;
        self.live_message(cx, id, message_id).await?;
        Ok(vec![C::MessageEdited { message_id, content }])
    }

    /// `DeleteMessage`: once; views keep a tombstone.
    pub(super) async fn delete(&self, cx: &Context<'_>, message_id: Uuid) -> Result<Vec<C>, ConversationError> {
        let id = self.started(cx.workspace_id)?;
        if self.not_a_note(self.find_message(cx, id, message_id).await?)?.deleted {
            return Ok(vec![]);
        }
        Ok(vec![C::MessageDeleted { message_id }])
    }
}
