//! Custom attribute definitions (issue #18): per workspace, for contacts or for conversations,
//! a key, a name and a type (text, number, boolean, date, or a list of options). The
//! [`AttributeDefinition`] aggregate keeps one definition's history; conversations and contacts
//! ask [`AttributeLookup`] for the definition of a key before they take a value for it, and
//! refuse one of the wrong type with a 422 naming `attributes.<key>` and why.

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::{Actor, Clock};

/// Longest attribute key, in bytes: `a-z`, `0-9` and `_`.
pub const MAX_ATTRIBUTE_KEY_CHARS: usize = 64;
/// Longest definition name, in characters, after trimming.
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 200;
/// Most options of a list attribute.
pub const MAX_ATTRIBUTE_OPTIONS: usize = 100;
/// Longest option of a list attribute, and longest text value, in characters.
pub const MAX_OPTION_CHARS: usize = 100;
/// Longest text value, in characters.
pub const MAX_TEXT_VALUE_CHARS: usize = 1000;

/// The namespace of definition stream ids (UUIDv5).
pub const ATTRIBUTE_NAMESPACE: Uuid = Uuid::from_u128(0x3b8e_51d2_9c4a_4e07_b1f6_2d8a_7c90_e3f4);

/// What an attribute is defined for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeModel {
    Contact,
    Conversation,
}

impl AttributeModel {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Contact => "contact",
            Self::Conversation => "conversation",
        }
    }
}

/// The type of an attribute's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttributeType {
    /// A string of at most 1 000 characters.
    Text,
    /// A JSON number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of the definition's options.
    List,
}

/// The stream id of the definition of `key` for `model` in `workspace_id`: the same for the
/// same key, whoever asks, so a value finds its definition without a lookup table.
pub fn attribute_stream_id(workspace_id: Uuid, model: AttributeModel, key: &str) -> Uuid {
    let mut name = Vec::with_capacity(16 + 14 + key.len());
    name.extend_from_slice(workspace_id.as_bytes());
    name.extend_from_slice(model.name().as_bytes());
    name.push(b':');
    name.extend_from_slice(key.as_bytes());
    Uuid::new_v5(&ATTRIBUTE_NAMESPACE, &name)
}

/// An attribute key: 1 to [`MAX_ATTRIBUTE_KEY_CHARS`] characters of `a-z`, `0-9` and `_`.
pub fn valid_key(key: &str) -> Result<(), String> {
    let fits = (1..=MAX_ATTRIBUTE_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if fits {
        Ok(())
    } else {
        Err(format!("a key must be 1 to {MAX_ATTRIBUTE_KEY_CHARS} characters of a-z, 0-9 and _"))
    }
}

/// What a value is checked against: a definition's type and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeFacts {
    pub attribute_type: AttributeType,
    pub options: Vec<String>,
}

impl AttributeFacts {
    /// `value` if it is of this type (a list's: one of the options), else why not.
    pub fn check(&self, value: &Value) -> Result<(), String> {
        use AttributeType as T;
        match (self.attribute_type, value) {
            (T::Text, Value::String(s)) if s.chars().count() > MAX_TEXT_VALUE_CHARS => {
                Err(format!("a text attribute has at most {MAX_TEXT_VALUE_CHARS} characters"))
            }
            (T::Text, Value::String(_)) | (T::Number, Value::Number(_)) | (T::Boolean, Value::Bool(_)) => Ok(()),
            (T::Date, Value::String(s)) if s.len() == 10 && NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() => Ok(()),
            (T::Date, Value::String(_)) => Err("a date attribute is a calendar date, YYYY-MM-DD".into()),
            (T::List, Value::String(s)) if self.options.contains(s) => Ok(()),
            (T::List, Value::String(_)) => Err(format!("must be one of the options: {}", self.options.join(", "))),
            (t, _) => {
                let expected = match t {
                    T::Text => "a string",
                    T::Number => "a number",
                    T::Boolean => "true or false",
                    T::Date => "a date, YYYY-MM-DD",
                    T::List => "one of the options, a string",
                };
                Err(format!("must be {expected} (the attribute's type is {})", type_name(t)))
            }
        }
    }
}

fn type_name(t: AttributeType) -> &'static str {
    match t {
        AttributeType::Text => "text",
        AttributeType::Number => "number",
        AttributeType::Boolean => "boolean",
        AttributeType::Date => "date",
        AttributeType::List => "list",
    }
}

/// Finds the definition of a key; the caller's store implements it. One of another workspace
/// is none, as one that does not exist, and so is a deleted one.
pub trait AttributeLookup: Send + Sync {
    fn definition<'a>(
        &'a self,
        workspace_id: Uuid,
        model: AttributeModel,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<AttributeFacts>, String>>;
}

/// One attribute definition as the log has it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttributeDefinition {
    pub workspace_id: Option<Uuid>,
    pub model: Option<AttributeModel>,
    pub key: String,
    pub name: String,
    pub attribute_type: Option<AttributeType>,
    pub options: Vec<String>,
    /// Defined and not deleted since.
    pub live: bool,
}

impl AttributeDefinition {
    /// What a value is checked against, while the definition is live.
    pub fn facts(&self) -> Option<AttributeFacts> {
        let attribute_type = self.attribute_type.filter(|_| self.live)?;
        Some(AttributeFacts { attribute_type, options: self.options.clone() })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AttributeCommand {
    /// The workspace the command comes from: a definition of another is not found.
    pub workspace_id: Uuid,
    pub actor: Actor,
    pub action: AttributeAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeAction {
    /// Defines the key (refused while a definition of it is live; a deleted one may be defined anew).
    Define { model: AttributeModel, key: String, name: String, attribute_type: AttributeType, options: Vec<String> },
    /// A new name, or (a list) new options; nothing when neither changes.
    Change { name: Option<String>, options: Option<Vec<String>> },
    /// Deletes the definition (nothing if it is deleted). Values already set stay in history.
    Delete,
}

/// An attribute definition event as stored and published: the envelope beside the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributeEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    pub actor: Actor,
    #[serde(flatten)]
    pub change: AttributeChange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum AttributeChange {
    /// A key was defined for contacts or conversations of the workspace.
    #[serde(rename = "AttributeDefined")]
    Defined {
        workspace_id: Uuid,
        model: AttributeModel,
        key: String,
        name: String,
        attribute_type: AttributeType,
        /// A list's options, in order; empty for the other types.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        options: Vec<String>,
    },
    /// The definition's name or (a list's) options changed; what is absent did not.
    #[serde(rename = "AttributeDefinitionChanged")]
    Changed {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        options: Option<Vec<String>>,
    },
    /// The definition was deleted: no new value is taken for the key (a contact's is free again).
    #[serde(rename = "AttributeDefinitionDeleted")]
    Deleted {},
}

impl DomainEvent for AttributeEvent {
    fn event_type(&self) -> String {
        match self.change {
            AttributeChange::Defined { .. } => "AttributeDefined",
            AttributeChange::Changed { .. } => "AttributeDefinitionChanged",
            AttributeChange::Deleted {} => "AttributeDefinitionDeleted",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeError {
    /// No live definition of the key in the command's workspace.
    #[error("attribute definition not found")]
    NotFound,
    #[error("this key is already defined")]
    AlreadyExists,
    /// An input is not acceptable; `field` names it as the API does.
    #[error("{field}: {reason}")]
    Validation { field: String, reason: String },
}

fn invalid(field: &str, reason: impl Into<String>) -> AttributeError {
    AttributeError::Validation { field: field.into(), reason: reason.into() }
}

fn valid_name(name: &str) -> Result<String, AttributeError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_ATTRIBUTE_NAME_CHARS {
        return Err(invalid("name", format!("must be 1 to {MAX_ATTRIBUTE_NAME_CHARS} characters")));
    }
    Ok(trimmed.to_owned())
}

/// A list's options: 1 to [`MAX_ATTRIBUTE_OPTIONS`] distinct strings of 1 to
/// [`MAX_OPTION_CHARS`] characters, kept in order.
fn valid_options(options: Vec<String>) -> Result<Vec<String>, AttributeError> {
    if options.is_empty() || options.len() > MAX_ATTRIBUTE_OPTIONS {
        return Err(invalid("options", format!("a list has 1 to {MAX_ATTRIBUTE_OPTIONS} options")));
    }
    for (i, option) in options.iter().enumerate() {
        if option.trim().is_empty() || option.chars().count() > MAX_OPTION_CHARS {
            return Err(invalid(&format!("options[{i}]"), format!("must be 1 to {MAX_OPTION_CHARS} characters")));
        }
        if options[..i].contains(option) {
            return Err(invalid(&format!("options[{i}]"), "repeats an earlier option"));
        }
    }
    Ok(options)
}

pub struct AttributeServices {
    pub clock: Arc<dyn Clock>,
}

impl AttributeDefinition {
    fn decide(&self, command: AttributeCommand) -> Result<Option<AttributeChange>, AttributeError> {
        let workspace_id = command.workspace_id;
        let live = self.live && self.workspace_id == Some(workspace_id);
        Ok(match command.action {
            AttributeAction::Define { model, key, name, attribute_type, options } => {
                if live {
                    return Err(AttributeError::AlreadyExists);
                }
                valid_key(&key).map_err(|reason| invalid("key", reason))?;
                let name = valid_name(&name)?;
                let options = match attribute_type {
                    AttributeType::List => valid_options(options)?,
                    _ if !options.is_empty() => return Err(invalid("options", "only a list has options")),
                    _ => options,
                };
                Some(AttributeChange::Defined { workspace_id, model, key, name, attribute_type, options })
            }
            AttributeAction::Change { name, options } => {
                if !live {
                    return Err(AttributeError::NotFound);
                }
                let name = name.map(|n| valid_name(&n)).transpose()?.filter(|n| *n != self.name);
                let options = match (options, self.attribute_type) {
                    (None, _) => None,
                    (Some(options), Some(AttributeType::List)) => Some(valid_options(options)?),
                    (Some(_), _) => return Err(invalid("options", "only a list has options")),
                }
                .filter(|o| *o != self.options);
                if name.is_none() && options.is_none() {
                    return Ok(None);
                }
                Some(AttributeChange::Changed { name, options })
            }
            AttributeAction::Delete => {
                if self.workspace_id != Some(workspace_id) {
                    return Err(AttributeError::NotFound);
                }
                self.live.then_some(AttributeChange::Deleted {})
            }
        })
    }
}

impl Aggregate for AttributeDefinition {
    const TYPE: &'static str = "attribute_definition";
    type Command = AttributeCommand;
    type Event = AttributeEvent;
    type Error = AttributeError;
    type Services = AttributeServices;

    async fn handle(
        &mut self,
        command: AttributeCommand,
        services: &AttributeServices,
        sink: &EventSink<Self>,
    ) -> Result<(), AttributeError> {
        let actor = command.actor.clone();
        if let Some(change) = self.decide(command)? {
            sink.write(AttributeEvent { occurred_at: services.clock.now(), actor, change }, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: AttributeEvent) {
        match event.change {
            AttributeChange::Defined { workspace_id, model, key, name, attribute_type, options } => {
                *self = Self {
                    workspace_id: Some(workspace_id),
                    model: Some(model),
                    key,
                    name,
                    attribute_type: Some(attribute_type),
                    options,
                    live: true,
                };
            }
            AttributeChange::Changed { name, options } => {
                if let Some(name) = name {
                    self.name = name;
                }
                if let Some(options) = options {
                    self.options = options;
                }
            }
            AttributeChange::Deleted {} => self.live = false,
        }
    }
}
