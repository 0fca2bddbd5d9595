//! Delivery: a connector's report of an outbound message's status, recorded only when it moves
//! the status forward (reports arrive late, twice and out of order).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Context, Conversation, ConversationChange as C, ConversationError, DeliveryFailure, required_id};
use crate::{DeliveryStatus, Direction};

impl Conversation {
    /// `RecordDeliveryStatus`.
    pub(super) async fn record_delivery_status(
        &self,
        cx: &Context<'_>,
        message_id: Uuid,
        status: DeliveryStatus,
        failure: Option<DeliveryFailure>,
        reported_at: DateTime<Utc>,
    ) -> Result<Vec<C>, ConversationError> {
        let id = self.started(cx.workspace_id)?;
        match (status, &failure) {
            (DeliveryStatus::Accepted, _) => {
                return Err(ConversationError::validation("status", "accepted is set by the engine, not reported"));
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
        let facts = self.find_message(cx, id, message_id).await?;
        if facts.direction != Direction::Outbound {
            return Err(ConversationError::validation(
                "message_id",
                "delivery status is reported for outbound messages only",
            ));
        }
        if !facts.status.advances_to(status) {
            return Ok(vec![]); // late or duplicate report: the status never moves back
        }
        Ok(vec![C::DeliveryStatusRecorded { message_id, status, failure, reported_at }])
    }
}
