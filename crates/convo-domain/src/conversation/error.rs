//! Business-rule rejections of conversation commands. A rejection writes nothing.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{ChannelType, WindowActor};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationError {
    #[error("conversation not found")]
    NotFound,
    #[error("message {0} not found in this conversation")]
    MessageNotFound(Uuid),
    #[error("message {0} was deleted")]
    MessageDeleted(Uuid),
    #[error("message id {0} is already used in this conversation")]
    DuplicateMessage(Uuid),
    #[error("the messaging window for {actor:?} is closed")]
    MessagingWindowClosed { actor: WindowActor, expired_at: Option<DateTime<Utc>> },
    #[error("the conversation's inbox is missing or deleted")]
    InboxRequired,
    /// A command names an inbox that is not one of its workspace's (none, or another
    /// workspace's: the same answer, so nothing of another workspace shows).
    #[error("inbox {0} not found")]
    InboxNotFound(Uuid),
    #[error("a {channel:?} inbox cannot carry a {content} message from this actor")]
    UnsupportedChannel { channel: ChannelType, content: &'static str },
    #[error("this is not a group conversation")]
    NotAGroup,
    #[error("the group is already recorded")]
    GroupExists,
    #[error("the inbox has left this group: it stays readable, nothing can be sent or changed")]
    GroupLeft,
    #[error("only admins may send in this group (announce mode) and the inbox is not an admin")]
    AnnounceOnly,
    #[error("this group is activity-only: it keeps no messages")]
    ActivityOnly,
    #[error("only a group admin may do this and the inbox's member is not one")]
    NotGroupAdmin,
    #[error("the group's creator can be neither demoted nor removed")]
    CreatorProtected,
    #[error("mention of {0}, who is not a current member")]
    MentionNotMember(String),
    #[error("this group approves joins: ask with a join request")]
    JoinApprovalRequired,
    #[error("this invite link was revoked")]
    InviteLinkRevoked,
    #[error("{0} is not a current member")]
    MemberNotFound(String),
    #[error("no pending join request {0}")]
    JoinRequestNotFound(Uuid),
    /// The agent to assign is not one of the workspace's (none, or another workspace's).
    #[error("agent {0} not found")]
    AgentNotFound(String),
    /// The agent to assign is deactivated.
    #[error("agent {0} is deactivated: reactivate them to assign them")]
    AgentDeactivated(String),
    /// The team to assign is not one of the workspace's.
    #[error("team {0} not found")]
    TeamNotFound(String),
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
    /// A lookup service failed (the store is unreachable): not a business rule, nothing written.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

impl ConversationError {
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), reason: reason.into() }
    }
}
