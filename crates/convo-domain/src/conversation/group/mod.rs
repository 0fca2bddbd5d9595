//! Group conversations: members and their roles over time, the group's metadata and settings,
//! join requests, the invite link, the inbox leaving, and activity-only groups.
//!
//! `command.rs` holds what a caller asks, `state.rs` what the aggregate knows of a group (and the
//! values its events carry), `rules.rs` who may do what and which events each command records.

mod command;
mod rules;
mod state;

pub use command::{GroupAction, NewMember, SettingsPatch};
pub(in crate::conversation) use rules::validate_mentions;
pub use rules::{
    MAX_DESCRIPTION_CHARS, MAX_GROUP_MEMBERS, MAX_MEMBERS_PER_COMMAND, MAX_MENTIONS, MAX_PENDING_REQUESTS,
    MAX_SUBJECT_CHARS,
};
pub use state::{
    GroupRole, GroupSettings, GroupState, InitialMember, JoinRequestOutcome, JoinedVia, LeftReason, MemberAddMode,
    MemberState, info_update,
};
