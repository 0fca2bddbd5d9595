//! Contact events: immutable, past-tense facts, stored as
//! `{"type": "...", "occurred_at": ..., "actor": {...}, ...fields}` like every other event. The
//! serde names are pinned so renaming Rust code never breaks stored events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use cqrs_es::DomainEvent;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{Actor, Identity};

/// A contact's conversation on one inbox: one thread per (inbox, contact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactConversation {
    /// The inbox the conversation is on.
    pub inbox_id: Uuid,
    /// The conversation: the one derived from the thread key it started with.
    pub conversation_id: Uuid,
}

/// A contact event as stored and published: the envelope (`occurred_at`, `actor`) beside the
/// fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// What changed, with its event type in `type`.
    #[serde(flatten)]
    pub change: ContactChange,
}

/// What changed on a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum ContactChange {
    /// A contact was created, found by one of its identities or added by someone.
    #[serde(rename = "ContactCreated")]
    Created {
        /// The contact; the aggregate id too.
        contact_id: Uuid,
        /// The workspace it belongs to, for good.
        workspace_id: Uuid,
        /// Its display name, trimmed: 1 to 200 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// An http:// or https:// URL of its picture, up to 2048 characters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        avatar_url: Option<String>,
        /// Its identities, sorted, each once; at most 20.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        identities: Vec<Identity>,
        /// Its tags, sorted, each once, in their canonical spelling (trimmed, lower case); at most 50.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        /// Its custom attributes by key (`a-z`, `0-9` and `_`, 1 to 64 characters); at most 100.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schema(value_type = crate::text::Attributes)]
        attributes: BTreeMap<String, Value>,
        /// Its conversation on each inbox it has one on (the one that started the contact, if any).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conversations: Vec<ContactConversation>,
    },
    /// The contact's name or avatar changed; only what changed is present, and `null` is cleared.
    #[serde(rename = "ContactUpdated")]
    Updated {
        /// The new name; `null` when it was cleared, absent when it did not change.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        #[schema(value_type = Option<String>, nullable)]
        name: Option<Option<String>>,
        /// The new avatar URL; `null` when it was cleared, absent when it did not change.
        #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
        #[schema(value_type = Option<String>, nullable)]
        avatar_url: Option<Option<String>>,
    },
    /// An identity was added to the contact (its `IdentityClaimed` is in the same commit).
    #[serde(rename = "ContactIdentityAdded")]
    IdentityAdded {
        /// The identity added.
        identity: Identity,
    },
    /// An identity was removed from the contact (its `IdentityReleased` or, when another contact
    /// took it, `IdentityClaimed` is in the same commit).
    #[serde(rename = "ContactIdentityRemoved")]
    IdentityRemoved {
        /// The identity removed.
        identity: Identity,
    },
    /// A tag was put on the contact.
    #[serde(rename = "ContactTagged")]
    Tagged {
        /// The tag, in its canonical spelling.
        tag: String,
    },
    /// A tag was taken off the contact.
    #[serde(rename = "ContactUntagged")]
    Untagged {
        /// The tag, in its canonical spelling.
        tag: String,
    },
    /// A custom attribute was set, replacing its value if it had one.
    #[serde(rename = "ContactAttributeSet")]
    AttributeSet {
        /// The attribute's key.
        key: String,
        /// Its new value, never `null`.
        value: Value,
    },
    /// A custom attribute was removed.
    #[serde(rename = "ContactAttributeRemoved")]
    AttributeRemoved {
        /// The attribute's key.
        key: String,
    },
    /// The contact's conversation on an inbox is known: its later messages there go to it.
    #[serde(rename = "ContactConversationRecorded")]
    ConversationRecorded {
        /// The inbox.
        inbox_id: Uuid,
        /// The conversation on it.
        conversation_id: Uuid,
    },
    /// The contact was merged into another: from now on it refuses every command, and read
    /// models show the survivor in its place.
    #[serde(rename = "ContactMerged")]
    Merged {
        /// The surviving contact.
        into: Uuid,
    },
    /// The survivor of a merge took what the merged contact had and it lacked: only those
    /// additions are listed (the survivor's own attribute values win).
    #[serde(rename = "ContactAbsorbed")]
    Absorbed {
        /// The contact merged into this one.
        merged_id: Uuid,
        /// Identities added, sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        identities: Vec<Identity>,
        /// Tags added, sorted.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
        /// Attributes added, by key: those it lacked (with its own, at most 100).
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        #[schema(value_type = crate::text::Attributes)]
        attributes: BTreeMap<String, Value>,
        /// Conversations added, on inboxes this contact had none on, by inbox.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        conversations: Vec<ContactConversation>,
    },
    /// The contact was deleted; its conversations stay.
    #[serde(rename = "ContactDeleted")]
    Deleted {},
}

/// Reads a field that is present, `null` included, as `Some`: with `default`, an absent field
/// is `None` (unchanged) and a `null` one `Some(None)` (cleared).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

impl DomainEvent for ContactEvent {
    fn event_type(&self) -> String {
        match self.change {
            ContactChange::Created { .. } => "ContactCreated",
            ContactChange::Updated { .. } => "ContactUpdated",
            ContactChange::IdentityAdded { .. } => "ContactIdentityAdded",
            ContactChange::IdentityRemoved { .. } => "ContactIdentityRemoved",
            ContactChange::Tagged { .. } => "ContactTagged",
            ContactChange::Untagged { .. } => "ContactUntagged",
            ContactChange::AttributeSet { .. } => "ContactAttributeSet",
            ContactChange::AttributeRemoved { .. } => "ContactAttributeRemoved",
            ContactChange::ConversationRecorded { .. } => "ContactConversationRecorded",
            ContactChange::Merged { .. } => "ContactMerged",
            ContactChange::Absorbed { .. } => "ContactAbsorbed",
            ContactChange::Deleted {} => "ContactDeleted",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}
