//! One module per read model: its table's layout and the queries the gateway asks of it.

mod agent_load;
mod agents;
mod attributes;
mod contacts;
mod groups;
mod inbox;
mod inboxes;
mod labels;
mod mentions;
mod response_times;
mod teams;
mod timeline;
mod unread;

pub use agent_load::{AgentCounts, AgentLoadModel, AgentLoadTable};
pub use agents::{AgentFilter, AgentsModel, AgentsTable};
pub use attributes::{
    AttributeDefinitionsModel, AttributeDefinitionsTable, ConversationAttributesModel, ConversationAttributesTable,
};
pub use contacts::{ContactFilter, ContactIdentitiesModel, ContactIdentitiesTable, ContactsModel, ContactsTable};
pub use groups::{GroupsModel, GroupsTable, JoinRequestCursor, MemberCursor};
pub use inbox::{ConversationQuery, Cursor, InboxModel, InboxTable, SortKey};
pub use inboxes::{InboxesModel, InboxesTable};
pub use labels::{ConversationLabelsModel, ConversationLabelsTable, LabelCount};
pub use mentions::{MentionsModel, MentionsTable};
pub use response_times::{ResponseTimes, ResponseTimesModel, ResponseTimesTable};
pub use teams::{TeamAgentsModel, TeamAgentsTable, TeamsModel, TeamsTable};
pub use timeline::{TimelineModel, TimelineTable};
pub use unread::{InboxUnread, UnreadModel, UnreadSummary, UnreadTable};

/// A value's serde name (an enum variant's), as the text column that filters on it stores it.
fn name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
