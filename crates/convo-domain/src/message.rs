//! Messages: content, direction, the delivery-status lattice and the facts commands check.

use serde::{Deserialize, Serialize};

/// Longest text body accepted, in characters (WhatsApp's limit is 4096; email bodies go by url).
pub const MAX_TEXT_CHARS: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        #[schema(value_type = crate::text::MessageText)]
        body: String,
    },
    Media {
        #[schema(value_type = crate::text::NotBlank)]
        url: String,
        #[schema(value_type = crate::text::NotBlank)]
        mime_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    Template {
        #[schema(value_type = crate::text::NotBlank)]
        name: String,
        #[schema(value_type = crate::text::NotBlank)]
        language: String,
        #[serde(default)]
        parameters: Vec<String>,
    },
    /// Buttons or a list (at least one of them not empty).
    Interactive {
        #[schema(value_type = crate::text::NotBlank)]
        body: String,
        #[serde(default)]
        buttons: Vec<InteractiveOption>,
        #[serde(default)]
        list: Vec<InteractiveOption>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InteractiveOption {
    pub id: String,
    pub title: String,
}

impl MessageContent {
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Media { .. } => "media",
            Self::Template { .. } => "template",
            Self::Interactive { .. } => "interactive",
        }
    }

    /// Checks the content's own shape; `Err` names the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), (String, String)> {
        fn required(field: &str, value: &str) -> Result<(), (String, String)> {
            if value.trim().is_empty() {
                return Err((field.to_owned(), "must not be empty".to_owned()));
            }
            Ok(())
        }
        match self {
            Self::Text { body } => {
                required("content.body", body)?;
                if body.chars().count() > MAX_TEXT_CHARS {
                    return Err(("content.body".into(), format!("must be at most {MAX_TEXT_CHARS} characters")));
                }
                Ok(())
            }
            Self::Media { url, mime_type, .. } => {
                required("content.url", url)?;
                required("content.mime_type", mime_type)
            }
            Self::Template { name, language, .. } => {
                required("content.name", name)?;
                required("content.language", language)
            }
            Self::Interactive { body, buttons, list } => {
                required("content.body", body)?;
                if buttons.is_empty() && list.is_empty() {
                    return Err(("content.buttons".into(), "an interactive message needs buttons or a list".into()));
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
    /// A private note (`NoteAdded`): in the timeline, never on the channel.
    Note,
}

/// Outbound delivery status: `accepted < sent < delivered < read`, or `failed` (terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    /// Whether a report of `next` moves a message that is at `self`. Reports arrive late and
    /// twice; status never moves backwards, and a failure can only follow accepted or sent.
    pub fn advances_to(self, next: DeliveryStatus) -> bool {
        use DeliveryStatus::*;
        match (self, next) {
            (Failed, _) | (_, Accepted) => false,
            (Accepted | Sent, Failed) => true,
            (_, Failed) => false,
            (current, next) => next.rank() > current.rank(),
        }
    }

    const fn rank(self) -> u8 {
        match self {
            Self::Accepted => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
        }
    }
}

/// What commands need to know about a message they refer to. Recent messages are kept in the
/// conversation's state; older ones are looked up through [`crate::MessageLookup`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageFacts {
    pub message_id: uuid::Uuid,
    /// 1-based position of the message in its conversation.
    pub seq: u64,
    pub direction: Direction,
    pub status: DeliveryStatus,
    pub deleted: bool,
    /// Inbound messages in the conversation up to this one (included if inbound).
    pub inbound_count: u64,
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;

    #[test]
    fn status_never_moves_backwards_and_failure_is_terminal() {
        assert!(Accepted.advances_to(Sent));
        assert!(Sent.advances_to(Read));
        assert!(!Read.advances_to(Delivered));
        assert!(!Delivered.advances_to(Delivered));
        assert!(Sent.advances_to(Failed));
        assert!(!Delivered.advances_to(Failed));
        assert!(!Failed.advances_to(Read));
        assert!(!Sent.advances_to(Accepted));
    }
}
