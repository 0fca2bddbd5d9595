//! Read state: each user's read marker (up to a message) and, in activity-only groups, the
//! latest activity they have seen. Marking read never moves a marker back.

use uuid::Uuid;

use super::{Context, Conversation, ConversationChange as C, ConversationError, required_id};

impl Conversation {
    /// `MarkRead`: up to `message_id`, or (none given) everything so far.
    pub(super) async fn mark_read(
        &self,
        cx: &Context<'_>,
        user_id: String,
        message_id: Option<Uuid>,
    ) -> Result<Vec<C>, ConversationError> {
        let id = self.started(cx.workspace_id)?;
        required_id("user_id", &user_id)?;
        let mut changes = Vec::with_capacity(2);
        let facts = match message_id {
            Some(message_id) => Some(self.find_message(cx, id, message_id).await?),
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
        Ok(changes)
    }
}
