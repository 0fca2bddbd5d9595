//! The contacts read models (issue #18, decision 0005): one row per contact with its name,
//! avatar, identities, tags, attributes and conversations, for the contact endpoints; and one
//! row per identity stream saying which contact holds the identity now, for finding a contact
//! by one of its identities.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use convo_domain::contact::{
    ContactChange, ContactConversation, ContactEvent, ContactIdentityChange, ContactIdentityEvent,
};
use convo_domain::{Identity, LogEvent};
use convo_projection::{Projection, Rows, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A contact as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactView {
    /// The contact.
    pub contact_id: Uuid,
    /// The workspace it belongs to.
    pub workspace_id: Uuid,
    /// Its display name, if it has one.
    pub name: Option<String>,
    /// The URL of its picture, if it has one.
    pub avatar_url: Option<String>,
    /// The identities it holds, sorted, each once.
    pub identities: Vec<Identity>,
    /// Its tags in their canonical spelling (lower case), sorted, each once.
    pub tags: Vec<String>,
    /// Its custom attributes by key.
    pub attributes: BTreeMap<String, Value>,
    /// Its conversation on each inbox it has one on, sorted by inbox.
    pub conversations: Vec<ContactConversation>,
    /// The contact it was merged into: that one is to be used instead.
    pub merged_into: Option<Uuid>,
    /// Whether it was deleted.
    pub deleted: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The contact's version: the sequence of its latest event.
    pub version: i64,
    /// The global log position of its latest event.
    pub position: i64,
}

/// Folds contact events (aggregate type `contact`) into one [`ContactView`] per contact.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContactsProjection;

impl Projection for ContactsProjection {
    const NAME: &'static str = "contacts";
    type Event = (Uuid, ContactEvent);
    type Key = Uuid;
    type Row = ContactView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.contact_event() else { return Ok(None) };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("contact id: {e}"))?;
        Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn born_with(&self, contact: &Uuid) -> Option<Stream> {
        Stream::contact(*contact)
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<Uuid, ContactView>,
    ) -> Result<(), String> {
        if let ContactChange::Created {
            contact_id,
            workspace_id,
            name,
            avatar_url,
            identities,
            tags,
            attributes,
            conversations,
        } = event.change
        {
            let mut row = ContactView {
                contact_id,
                workspace_id,
                name,
                avatar_url,
                identities: Vec::new(),
                tags: Vec::new(),
                attributes,
                conversations: Vec::new(),
                merged_into: None,
                deleted: false,
                created_at: event.occurred_at,
                updated_at: event.occurred_at,
                version: log.sequence,
                position: log.position,
            };
            // Kept sorted and each once whatever order the event lists them in.
            identities.into_iter().for_each(|i| insert_sorted(&mut row.identities, i));
            tags.into_iter().for_each(|t| insert_sorted(&mut row.tags, t));
            conversations.into_iter().for_each(|c| record_conversation(&mut row.conversations, c));
            rows.put(id, row);
            return Ok(());
        }
        let row = rows.get_mut(&id).ok_or_else(|| format!("contact {id} changed before it was created"))?;
        match event.change {
            // Handled above.
            ContactChange::Created { .. } => {}
            ContactChange::Updated { name, avatar_url } => {
                // Absent: unchanged; present and null: cleared.
                if let Some(name) = name {
                    row.name = name;
                }
                if let Some(avatar_url) = avatar_url {
                    row.avatar_url = avatar_url;
                }
            }
            ContactChange::IdentityAdded { identity } => insert_sorted(&mut row.identities, identity),
            ContactChange::IdentityRemoved { identity } => row.identities.retain(|i| *i != identity),
            ContactChange::Tagged { tag } => insert_sorted(&mut row.tags, tag),
            ContactChange::Untagged { tag } => row.tags.retain(|t| *t != tag),
            ContactChange::AttributeSet { key, value } => {
                row.attributes.insert(key, value);
            }
            ContactChange::AttributeRemoved { key } => {
                row.attributes.remove(&key);
            }
            ContactChange::ConversationRecorded { inbox_id, conversation_id } => {
                record_conversation(&mut row.conversations, ContactConversation { inbox_id, conversation_id });
            }
            ContactChange::Merged { into } => row.merged_into = Some(into),
            ContactChange::Absorbed { merged_id: _, identities, tags, attributes, conversations } => {
                identities.into_iter().for_each(|i| insert_sorted(&mut row.identities, i));
                tags.into_iter().for_each(|t| insert_sorted(&mut row.tags, t));
                // The survivor's own values win.
                for (key, value) in attributes {
                    row.attributes.entry(key).or_insert(value);
                }
                conversations.into_iter().for_each(|c| record_conversation(&mut row.conversations, c));
            }
            ContactChange::Deleted {} => row.deleted = true,
        }
        row.updated_at = event.occurred_at;
        row.version = log.sequence;
        row.position = log.position;
        Ok(())
    }
}

/// Adds `value` to the sorted `list` unless it is there already.
fn insert_sorted<T: Ord>(list: &mut Vec<T>, value: T) {
    if let Err(at) = list.binary_search(&value) {
        list.insert(at, value);
    }
}

/// Records a conversation, sorted by inbox; the first one on an inbox stays (one thread per
/// inbox and contact).
fn record_conversation(conversations: &mut Vec<ContactConversation>, conversation: ContactConversation) {
    if let Err(at) = conversations.binary_search_by_key(&conversation.inbox_id, |c| c.inbox_id) {
        conversations.insert(at, conversation);
    }
}

/// Who holds one identity of a workspace now, as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactIdentityView {
    /// The identity's stream: `Identity::id` in its workspace.
    pub identity_id: Uuid,
    /// The identity's workspace.
    pub workspace_id: Uuid,
    /// The identity.
    pub identity: Identity,
    /// The contact holding it; none since it was released.
    pub contact_id: Option<Uuid>,
    /// The stream's version: the sequence of its latest event.
    pub version: i64,
    /// The global log position of its latest event.
    pub position: i64,
}

/// Folds identity stream events (aggregate type `contact_identity`) into one
/// [`ContactIdentityView`] per identity stream.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContactIdentitiesProjection;

impl Projection for ContactIdentitiesProjection {
    const NAME: &'static str = "contact_identities";
    type Event = (Uuid, ContactIdentityEvent);
    type Key = Uuid;
    type Row = ContactIdentityView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.contact_identity_event() else { return Ok(None) };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("identity stream id: {e}"))?;
        Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn born_with(&self, identity: &Uuid) -> Option<Stream> {
        Stream::contact_identity(*identity)
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<Uuid, ContactIdentityView>,
    ) -> Result<(), String> {
        match event.change {
            ContactIdentityChange::Claimed { workspace_id, identity, contact_id, previous: _ } => rows.put(
                id,
                ContactIdentityView {
                    identity_id: id,
                    workspace_id,
                    identity,
                    contact_id: Some(contact_id),
                    version: log.sequence,
                    position: log.position,
                },
            ),
            ContactIdentityChange::Released { identity: _, contact_id: _ } => {
                // A release names no workspace: the stream's first claim did.
                let row = rows.get_mut(&id).ok_or_else(|| format!("identity {id} released before it was claimed"))?;
                row.contact_id = None;
                row.version = log.sequence;
                row.position = log.position;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
