//! Where a conversation stands: its status (open, pending, snoozed until a time, closed) and
//! whether it is archived, set by commands and undone by new inbound messages.

use chrono::{DateTime, Utc};

use super::{Context, Conversation, ConversationChange as C, ConversationError, ConversationStatus};

impl Conversation {
    /// `Archive`: once.
    pub(super) fn archive(&self, cx: &Context<'_>) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        Ok(if self.archived { vec![] } else { vec![C::Archived {}] })
    }

    /// `Unarchive`: once.
    pub(super) fn unarchive(&self, cx: &Context<'_>) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        Ok(if self.archived { vec![C::Unarchived {}] } else { vec![] })
    }

    /// `ChangeStatus`: a snoozed status needs a wake-up time in the future, and only it has one.
    pub(super) fn change_status(
        &self,
        cx: &Context<'_>,
        status: ConversationStatus,
        snoozed_until: Option<DateTime<Utc>>,
    ) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        match (status, snoozed_until) {
            (ConversationStatus::Snoozed, None) => {
                return Err(ConversationError::validation("snoozed_until", "snoozing needs a time to wake up"));
            }
            (ConversationStatus::Snoozed, Some(until)) if until <= cx.now => {
                return Err(ConversationError::validation("snoozed_until", "must be in the future"));
            }
            (ConversationStatus::Snoozed, Some(_)) => {}
            (_, Some(_)) => {
                return Err(ConversationError::validation("snoozed_until", "only a snoozed status has a wake-up time"));
            }
            (_, None) => {}
        }
        let from = self.status.unwrap_or(ConversationStatus::Open);
        if from == status && self.snoozed_until == snoozed_until {
            return Ok(vec![]);
        }
        Ok(vec![C::StatusChanged { from, to: status, snoozed_until }])
    }

    /// New inbound messages (or activity) reopen and unarchive the conversation.
    pub(super) fn reopen(&self, changes: &mut Vec<C>) {
        if let Some(from) = self.status.filter(|s| *s != ConversationStatus::Open) {
            changes.push(C::StatusChanged { from, to: ConversationStatus::Open, snoozed_until: None });
        }
        if self.archived {
            changes.push(C::Unarchived {});
        }
    }
}
