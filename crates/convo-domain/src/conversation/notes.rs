//! Private notes: an agent's or a bot's words for the team, in the timeline beside the messages.
//! A note is never sent to the channel, needs no messaging window, opens nothing and is nobody's
//! unread; it may mention agents of the workspace, each active when it is written. A note is
//! not a message: delivery reports, reactions, edits and deletions never name one.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::group::MAX_MENTIONS;
use super::{Context, Conversation, ConversationChange as C, ConversationError, required_id};
use crate::ActorKind;
use crate::message::MAX_TEXT_CHARS;

impl Conversation {
    /// `AddNote`.
    pub(super) async fn add_note(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        minted_id: bool,
        body: &str,
        mentions: Vec<String>,
    ) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        if !matches!(cx.actor.kind, ActorKind::Agent | ActorKind::Bot) {
            return Err(ConversationError::validation("actor.kind", "only an agent or a bot writes notes"));
        }
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_TEXT_CHARS {
            return Err(ConversationError::validation("body", format!("must be 1 to {MAX_TEXT_CHARS} characters")));
        }
        if mentions.len() > MAX_MENTIONS {
            return Err(ConversationError::validation("mentions", format!("at most {MAX_MENTIONS} mentions")));
        }
        let mut seen = BTreeSet::new();
        for (i, agent_id) in mentions.iter().enumerate() {
            let field = format!("mentions[{i}]");
            required_id(&field, agent_id)?;
            if !seen.insert(agent_id) {
                return Err(ConversationError::validation(field, "mentions an agent named before"));
            }
            let agent = cx.services.directory.agent(cx.workspace_id, agent_id).await;
            match agent.map_err(ConversationError::Lookup)? {
                None => {
                    return Err(ConversationError::validation(
                        field,
                        format!("{agent_id} is no agent of the workspace"),
                    ));
                }
                Some(agent) if !agent.active => {
                    return Err(ConversationError::validation(field, format!("agent {agent_id} is deactivated")));
                }
                Some(_) => {}
            }
        }
        self.check_new_id(cx, message_id, minted_id).await?;
        Ok(vec![C::NoteAdded {
            message_id,
            seq: self.message_count + 1,
            inbound_count: self.inbound_count,
            body: body.to_owned(),
            mentions,
        }])
    }
}
