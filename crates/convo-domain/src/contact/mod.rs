//! Contacts (issue #18, decision 0005): a person known across channels by their identities.
//!
//! Two aggregates: [`Contact`], one person's name, avatar, tags, attributes, identities and
//! conversations; and [`ContactIdentity`] (in `identity_claim.rs`), who holds one identity now,
//! the only place the "one contact at a time" rule is decided. A find-or-create, an explicit
//! link and a merge each decide commands on several of them and commit their events together;
//! the rules here are each stream's own.
//!
//! Here: the contact's state, commands, errors and `decide`; its events are in `event.rs`, the
//! checks of its free-text inputs in `rules.rs`.

mod event;
mod identity_claim;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

pub use event::{ContactChange, ContactConversation, ContactEvent};
pub use identity_claim::{
    CONTACT_NAMESPACE, ContactIdentity, ContactIdentityAction, ContactIdentityChange, ContactIdentityCommand,
    ContactIdentityError, ContactIdentityEvent, ContactIdentityServices, new_contact_id,
};
pub use rules::canonical_tag;

use crate::{Actor, Clock, Identity};

/// Most identities a contact holds.
pub const MAX_IDENTITIES: usize = 20;
/// Most tags on a contact.
pub const MAX_TAGS: usize = 50;
/// Longest tag, in characters, after trimming.
pub const MAX_TAG_CHARS: usize = 64;
/// Most custom attributes on a contact.
pub const MAX_ATTRIBUTES: usize = 100;
/// Longest attribute key, in characters.
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
/// Longest contact name, in characters, after trimming.
pub const MAX_CONTACT_NAME_CHARS: usize = 200;
/// Longest avatar URL, in characters.
pub const MAX_AVATAR_URL_CHARS: usize = 2048;

/// One person of a workspace, known by their identities.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's id, once created.
    pub contact_id: Option<Uuid>,
    /// Its workspace, once created.
    pub workspace_id: Option<Uuid>,
    /// Its display name, trimmed.
    pub name: Option<String>,
    /// The URL of its picture.
    pub avatar_url: Option<String>,
    /// Its identities, sorted, each once, at most [`MAX_IDENTITIES`].
    pub identities: Vec<Identity>,
    /// Its tags in their canonical spelling ([`canonical_tag`]), at most [`MAX_TAGS`].
    pub tags: BTreeSet<String>,
    /// Its custom attributes by key, at most [`MAX_ATTRIBUTES`]; never `null`.
    pub attributes: BTreeMap<String, Value>,
    /// Its conversation on each inbox: inbox id to conversation id.
    pub conversations: BTreeMap<Uuid, Uuid>,
    /// The contact it was merged into: it refuses every command from then on.
    pub merged_into: Option<Uuid>,
    /// Whether it was deleted.
    pub deleted: bool,
}

/// A command to a contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactCommand {
    /// The workspace the command comes from: a contact of another is not found.
    pub workspace_id: Uuid,
    /// Who gives the command; the events record them.
    pub actor: Actor,
    /// What to do.
    pub action: ContactAction,
}

/// What a command asks of a contact.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactAction {
    /// Creates the contact (refused when it exists: a racing find-or-create reads the identity
    /// stream first). A blank name or avatar URL is none; a `null` attribute is none.
    Create {
        /// The new contact's id ([`new_contact_id`] when it comes from an unheld identity).
        contact_id: Uuid,
        /// Its display name.
        name: Option<String>,
        /// The URL of its picture.
        avatar_url: Option<String>,
        /// Its identities, in any order, repeats allowed.
        identities: Vec<Identity>,
        /// Its tags, as given: they are kept in their canonical spelling.
        tags: Vec<String>,
        /// Its custom attributes, values already checked.
        attributes: BTreeMap<String, Value>,
        /// The conversation that made the contact: (inbox id, conversation id).
        conversation: Option<(Uuid, Uuid)>,
    },
    /// Changes the name and the avatar: `None` leaves one as it is, `Some(None)` (or blank)
    /// clears it.
    Update {
        /// The new name, or none.
        name: Option<Option<String>>,
        /// The new avatar URL, or none.
        avatar_url: Option<Option<String>>,
    },
    /// Adds an identity (nothing if the contact has it).
    AddIdentity {
        /// The identity.
        identity: Identity,
    },
    /// Removes an identity (nothing if the contact does not have it).
    RemoveIdentity {
        /// The identity.
        identity: Identity,
    },
    /// Puts a tag on (nothing if it is on).
    Tag {
        /// The tag, as given.
        tag: String,
    },
    /// Takes a tag off (nothing if it is not on).
    Untag {
        /// The tag, as given.
        tag: String,
    },
    /// Sets a custom attribute; `null` removes it (nothing if that changes nothing).
    SetAttribute {
        /// The attribute's key.
        key: String,
        /// Its value, already checked.
        value: Value,
    },
    /// Records the contact's conversation on an inbox. The first one stays: a different one
    /// later changes nothing (one thread per inbox and contact).
    RecordConversation {
        /// The inbox.
        inbox_id: Uuid,
        /// The conversation on it.
        conversation_id: Uuid,
    },
    /// Merges this contact into another, the survivor (its side is [`ContactAction::Absorb`]).
    MergeInto {
        /// The contact that survives.
        survivor_id: Uuid,
    },
    /// The survivor's side of a merge: takes what the merged contact has and this one lacks.
    Absorb {
        /// The contact being merged into this one.
        merged_id: Uuid,
        /// The merged contact's identities.
        identities: Vec<Identity>,
        /// The merged contact's tags.
        tags: Vec<String>,
        /// The merged contact's attributes; this contact's own values win.
        attributes: BTreeMap<String, Value>,
        /// The merged contact's conversations; this contact's own win on an inbox.
        conversations: Vec<ContactConversation>,
    },
    /// Deletes the contact (nothing if it is deleted).
    Delete,
}

/// Why a contact command was refused. A refusal writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    /// No such contact in the command's workspace, or it was deleted.
    #[error("contact not found")]
    NotFound,
    /// The contact of a `Create` exists already.
    #[error("a contact with this id already exists")]
    AlreadyExists,
    /// The contact was merged into another, which is the one to use now.
    #[error("the contact was merged into contact {into}")]
    Merged {
        /// The surviving contact.
        into: Uuid,
    },
    /// An input is not acceptable; `field` names it as the API does.
    #[error("{field}: {reason}")]
    Validation {
        /// The field, e.g. `name`, `tags` or `attributes.<key>`.
        field: String,
        /// What it must be.
        reason: String,
    },
    /// The attribute definitions could not be asked (the store is unreachable): nothing written.
    #[error("lookup failed: {0}")]
    Lookup(String),
}

impl ContactError {
    /// A [`ContactError::Validation`] of `field`.
    pub fn validation(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Validation { field: field.into(), reason: reason.into() }
    }
}

/// What a contact needs from outside: the time, and the workspace's attribute definitions.
pub struct ContactServices {
    /// The engine's injectable clock.
    pub clock: Arc<dyn Clock>,
    /// A value for a key defined for contacts must meet its definition; other keys are free
    /// (contacts had attributes before definitions existed, and connectors set their own).
    pub attributes: Arc<dyn crate::attribute::AttributeLookup>,
}

/// Each value of `attributes` whose key is defined for the workspace's contacts meets its
/// definition; `null` (a removal) always does.
async fn check_defined<'a>(
    services: &ContactServices,
    workspace_id: Uuid,
    attributes: impl IntoIterator<Item = (&'a String, &'a Value)>,
) -> Result<(), ContactError> {
    for (key, value) in attributes {
        if value.is_null() {
            continue;
        }
        let lookup = services.attributes.definition(workspace_id, crate::attribute::AttributeModel::Contact, key);
        if let Some(definition) = lookup.await.map_err(ContactError::Lookup)? {
            definition.check(value).map_err(|reason| ContactError::validation(format!("attributes.{key}"), reason))?;
        }
    }
    Ok(())
}

impl Contact {
    /// The change `action` makes, `None` when it changes nothing, or why it is refused.
    fn decide(&self, workspace_id: Uuid, action: ContactAction) -> Result<Option<ContactChange>, ContactError> {
        if let ContactAction::Create { contact_id, name, avatar_url, identities, tags, attributes, conversation } =
            action
        {
            if self.contact_id.is_some() {
                return Err(ContactError::AlreadyExists);
            }
            let name = rules::name(name)?;
            let avatar_url = rules::avatar_url(avatar_url)?;
            let identities = rules::identities(identities)?;
            let tags = rules::tags(tags)?;
            let attributes = rules::attributes(attributes)?;
            let conversations = conversation
                .map(|(inbox_id, conversation_id)| ContactConversation { inbox_id, conversation_id })
                .into_iter()
                .collect();
            return Ok(Some(ContactChange::Created {
                contact_id,
                workspace_id,
                name,
                avatar_url,
                identities,
                tags,
                attributes,
                conversations,
            }));
        }
        let contact_id = match (self.contact_id, self.workspace_id) {
            (Some(id), Some(ws)) if ws == workspace_id => id,
            _ => return Err(ContactError::NotFound),
        };
        if let Some(into) = self.merged_into {
            return Err(ContactError::Merged { into });
        }
        if self.deleted {
            // Deleting again is harmless; anything else on a deleted contact finds nothing.
            return if action == ContactAction::Delete { Ok(None) } else { Err(ContactError::NotFound) };
        }
        let change = match action {
            // Handled above; kept here so the match stays exhaustive.
            ContactAction::Create { .. } => return Err(ContactError::AlreadyExists),
            ContactAction::Update { name, avatar_url } => {
                // Each part is kept only when it changes the contact.
                let name = name.map(rules::name).transpose()?.filter(|n| *n != self.name);
                let avatar_url = avatar_url.map(rules::avatar_url).transpose()?.filter(|u| *u != self.avatar_url);
                if name.is_none() && avatar_url.is_none() {
                    return Ok(None);
                }
                ContactChange::Updated { name, avatar_url }
            }
            ContactAction::AddIdentity { identity } => {
                if self.identities.binary_search(&identity).is_ok() {
                    return Ok(None);
                }
                rules::at_most("identities", self.identities.len() + 1, MAX_IDENTITIES)?;
                ContactChange::IdentityAdded { identity }
            }
            ContactAction::RemoveIdentity { identity } => {
                if self.identities.binary_search(&identity).is_err() {
                    return Ok(None);
                }
                ContactChange::IdentityRemoved { identity }
            }
            ContactAction::Tag { tag } => {
                let tag = canonical_tag(&tag)?;
                if self.tags.contains(&tag) {
                    return Ok(None);
                }
                rules::at_most("tags", self.tags.len() + 1, MAX_TAGS)?;
                ContactChange::Tagged { tag }
            }
            ContactAction::Untag { tag } => {
                let tag = canonical_tag(&tag)?;
                if !self.tags.contains(&tag) {
                    return Ok(None);
                }
                ContactChange::Untagged { tag }
            }
            ContactAction::SetAttribute { key, value } => {
                rules::attribute_key(&key)?;
                match (self.attributes.get(&key), value) {
                    (None, Value::Null) => return Ok(None),
                    (Some(_), Value::Null) => ContactChange::AttributeRemoved { key },
                    (Some(old), value) if *old == value => return Ok(None),
                    (old, value) => {
                        if old.is_none() {
                            rules::at_most("attributes", self.attributes.len() + 1, MAX_ATTRIBUTES)?;
                        }
                        ContactChange::AttributeSet { key, value }
                    }
                }
            }
            ContactAction::RecordConversation { inbox_id, conversation_id } => {
                // The first conversation on an inbox stays the contact's there.
                if self.conversations.contains_key(&inbox_id) {
                    return Ok(None);
                }
                ContactChange::ConversationRecorded { inbox_id, conversation_id }
            }
            ContactAction::MergeInto { survivor_id } => {
                if survivor_id == contact_id {
                    return Err(merged_with_itself());
                }
                ContactChange::Merged { into: survivor_id }
            }
            ContactAction::Absorb { merged_id, identities, tags, attributes, conversations } => {
                if merged_id == contact_id {
                    return Err(merged_with_itself());
                }
                self.absorb(merged_id, identities, tags, attributes, conversations)?
            }
            ContactAction::Delete => ContactChange::Deleted {},
        };
        Ok(Some(change))
    }

    /// The survivor's `ContactAbsorbed`: only what the merged contact adds. It is written even
    /// when that is nothing, so the survivor's stream records the merge too.
    fn absorb(
        &self,
        merged_id: Uuid,
        identities: Vec<Identity>,
        tags: Vec<String>,
        attributes: BTreeMap<String, Value>,
        conversations: Vec<ContactConversation>,
    ) -> Result<ContactChange, ContactError> {
        let mut identities = identities;
        identities.retain(|i| self.identities.binary_search(i).is_err());
        identities.sort();
        identities.dedup();
        rules::at_most("identities", self.identities.len() + identities.len(), MAX_IDENTITIES)?;
        let mut added_tags = BTreeSet::new();
        for tag in tags {
            let tag = canonical_tag(&tag)?;
            if !self.tags.contains(&tag) {
                added_tags.insert(tag);
            }
        }
        rules::at_most("tags", self.tags.len() + added_tags.len(), MAX_TAGS)?;
        let mut attributes = attributes;
        for key in attributes.keys() {
            rules::attribute_key(key)?;
        }
        attributes.retain(|key, value| !value.is_null() && !self.attributes.contains_key(key));
        rules::at_most("attributes", self.attributes.len() + attributes.len(), MAX_ATTRIBUTES)?;
        // One conversation per inbox: this contact's own, else the merged one's first.
        let mut added = BTreeMap::new();
        for c in conversations {
            if !self.conversations.contains_key(&c.inbox_id) {
                added.entry(c.inbox_id).or_insert(c.conversation_id);
            }
        }
        Ok(ContactChange::Absorbed {
            merged_id,
            identities,
            tags: added_tags.into_iter().collect(),
            attributes,
            conversations: added
                .into_iter()
                .map(|(inbox_id, conversation_id)| ContactConversation { inbox_id, conversation_id })
                .collect(),
        })
    }

    /// Adds `identity`, keeping the identities sorted and each once.
    fn add_identity(&mut self, identity: Identity) {
        if let Err(at) = self.identities.binary_search(&identity) {
            self.identities.insert(at, identity);
        }
    }
}

fn merged_with_itself() -> ContactError {
    ContactError::validation("contact_id", "a contact cannot be merged with itself")
}

impl Aggregate for Contact {
    const TYPE: &'static str = "contact";
    type Command = ContactCommand;
    type Event = ContactEvent;
    type Error = ContactError;
    type Services = ContactServices;

    async fn handle(
        &mut self,
        command: ContactCommand,
        services: &ContactServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ContactError> {
        match &command.action {
            ContactAction::Create { attributes, .. } => {
                check_defined(services, command.workspace_id, attributes).await?;
            }
            ContactAction::SetAttribute { key, value } => {
                check_defined(services, command.workspace_id, [(key, value)]).await?;
            }
            _ => {}
        }
        if let Some(change) = self.decide(command.workspace_id, command.action)? {
            let event = ContactEvent { occurred_at: services.clock.now(), actor: command.actor, change };
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ContactEvent) {
        match event.change {
            ContactChange::Created {
                contact_id,
                workspace_id,
                name,
                avatar_url,
                identities,
                tags,
                attributes,
                conversations,
            } => {
                self.contact_id = Some(contact_id);
                self.workspace_id = Some(workspace_id);
                self.name = name;
                self.avatar_url = avatar_url;
                for identity in identities {
                    self.add_identity(identity);
                }
                self.tags.extend(tags);
                self.attributes.extend(attributes);
                self.conversations.extend(conversations.into_iter().map(|c| (c.inbox_id, c.conversation_id)));
            }
            ContactChange::Updated { name, avatar_url } => {
                if let Some(name) = name {
                    self.name = name;
                }
                if let Some(avatar_url) = avatar_url {
                    self.avatar_url = avatar_url;
                }
            }
            ContactChange::IdentityAdded { identity } => self.add_identity(identity),
            ContactChange::IdentityRemoved { identity } => self.identities.retain(|i| *i != identity),
            ContactChange::Tagged { tag } => {
                self.tags.insert(tag);
            }
            ContactChange::Untagged { tag } => {
                self.tags.remove(&tag);
            }
            ContactChange::AttributeSet { key, value } => {
                self.attributes.insert(key, value);
            }
            ContactChange::AttributeRemoved { key } => {
                self.attributes.remove(&key);
            }
            ContactChange::ConversationRecorded { inbox_id, conversation_id } => {
                self.conversations.entry(inbox_id).or_insert(conversation_id);
            }
            ContactChange::Merged { into } => self.merged_into = Some(into),
            ContactChange::Absorbed { merged_id: _, identities, tags, attributes, conversations } => {
                for identity in identities {
                    self.add_identity(identity);
                }
                self.tags.extend(tags);
                for (key, value) in attributes {
                    self.attributes.entry(key).or_insert(value);
                }
                for c in conversations {
                    self.conversations.entry(c.inbox_id).or_insert(c.conversation_id);
                }
            }
            ContactChange::Deleted {} => self.deleted = true,
        }
    }
}
