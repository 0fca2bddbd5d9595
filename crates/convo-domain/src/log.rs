//! The global log's envelope: one stored event with its position, as readers (projections,
//! the bus, the HTTP log endpoints) receive it. Its payload is as stored, at the version it
//! was written at; the domain events it decodes to are always the current version's.

use std::borrow::Cow;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::attribute::{AttributeDefinition, AttributeEvent};
use crate::contact::{Contact, ContactEvent, ContactIdentity, ContactIdentityEvent};
use crate::directory::{Agent, AgentEvent, Team, TeamEvent};
use crate::{Conversation, ConversationEvent, DecodeError, Inbox, InboxEvent, versions};

/// One event as the global log serves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEvent {
    /// Position in the global log: increasing in commit order, unique, not dense.
    pub position: i64,
    pub workspace_id: Option<String>,
    /// `conversation`, `inbox`, `contact`, `contact_identity`, `webhook_endpoint`, `agent`,
    /// `team` or `attribute_definition`.
    pub aggregate_type: String,
    pub aggregate_id: String,
    /// The aggregate's version after this event.
    pub sequence: i64,
    pub event_type: String,
    pub event_version: String,
    /// The event as stored: a `ConversationEvent`, an `InboxEvent`, a `ContactEvent`, a
    /// `ContactIdentityEvent`, a `WebhookEndpointEvent`, an `AgentEvent`, a `TeamEvent` or an
    /// `AttributeEvent`,
    /// described per type and version by
    /// `schemas/events/<event_type>.<event_version>.json`.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The command's metadata: `workspace_id`, the `command` name, and more.
    #[schema(value_type = std::collections::HashMap<String, String>)]
    pub metadata: Value,
    /// When the store recorded it (the database's clock at insert).
    pub recorded_at: DateTime<Utc>,
    /// The payload decoded, once, by the first reader that asks (`Default::default()` when
    /// building one): each read model decodes the same shared event.
    #[serde(skip)]
    pub decoded: Decoded,
}

/// A [`LogEvent`]'s payload as its domain event, decoded on first use and kept: one decode
/// per event for all the read models that fold it, not one each. Derived from the payload, so
/// it takes no part in comparisons.
#[derive(Clone, Default)]
pub struct Decoded(OnceLock<DomainEvent>);

#[derive(Clone)]
enum DomainEvent {
    Conversation(Result<ConversationEvent, String>),
    Inbox(Result<InboxEvent, String>),
    Contact(Result<ContactEvent, String>),
    ContactIdentity(Result<ContactIdentityEvent, String>),
    Agent(Result<AgentEvent, String>),
    Team(Result<TeamEvent, String>),
    Attribute(Result<AttributeEvent, String>),
    Other,
}

impl PartialEq for Decoded {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Decoded(..)" } else { "Decoded(not yet)" })
    }
}

impl LogEvent {
    fn domain_event(&self) -> &DomainEvent {
        use cqrs_es::Aggregate;
        self.decoded.0.get_or_init(|| match self.aggregate_type.as_str() {
            Conversation::TYPE => DomainEvent::Conversation(self.decode::<Conversation>()),
            Inbox::TYPE => DomainEvent::Inbox(self.decode::<Inbox>()),
            Contact::TYPE => DomainEvent::Contact(self.decode::<Contact>()),
            ContactIdentity::TYPE => DomainEvent::ContactIdentity(self.decode::<ContactIdentity>()),
            Agent::TYPE => DomainEvent::Agent(self.decode::<Agent>()),
            Team::TYPE => DomainEvent::Team(self.decode::<Team>()),
            AttributeDefinition::TYPE => DomainEvent::Attribute(self.decode::<AttributeDefinition>()),
            _ => DomainEvent::Other,
        })
    }

    fn decode<A: cqrs_es::Aggregate>(&self) -> Result<A::Event, String> {
        crate::decode::<A>(&self.event_type, &self.event_version, &self.payload).map_err(|e| e.to_string())
    }

    /// This event as the current version reads it: its payload upcast and its version the
    /// current one (itself, not a copy, when it is current). For readers that hand events on
    /// rather than fold them, such as the export.
    pub fn upcast(&self) -> Result<Cow<'_, Self>, DecodeError> {
        if !crate::AGGREGATE_TYPES.contains(&self.aggregate_type.as_str()) {
            return Ok(Cow::Borrowed(self)); // not the domain's: nothing to read it as
        }
        match crate::upcast(&self.event_type, &self.event_version, &self.payload)? {
            Cow::Borrowed(_) => Ok(Cow::Borrowed(self)),
            Cow::Owned(payload) => Ok(Cow::Owned(Self {
                position: self.position,
                workspace_id: self.workspace_id.clone(),
                aggregate_type: self.aggregate_type.clone(),
                aggregate_id: self.aggregate_id.clone(),
                sequence: self.sequence,
                event_type: self.event_type.clone(),
                event_version: versions::current_version(&self.event_type).to_owned(),
                payload,
                metadata: self.metadata.clone(),
                recorded_at: self.recorded_at,
                decoded: self.decoded.clone(),
            })),
        }
    }

    /// The workspace of the envelope, which every domain event has: what a fold takes for an
    /// event that names none (a label, a team's member, a note's mention).
    pub fn workspace(&self) -> Result<uuid::Uuid, String> {
        let workspace = self
            .workspace_id
            .as_deref()
            .ok_or_else(|| format!("{} {}: no workspace", self.aggregate_type, self.aggregate_id))?;
        uuid::Uuid::parse_str(workspace)
            .map_err(|e| format!("{} {}: workspace id {workspace}: {e}", self.aggregate_type, self.aggregate_id))
    }

    /// The conversation event inside, if this is one (decoded once per event).
    pub fn conversation_event(&self) -> Option<Result<&ConversationEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Conversation(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The inbox event inside, if this is one (decoded once per event).
    pub fn inbox_event(&self) -> Option<Result<&InboxEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Inbox(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The contact event inside, if this is one (decoded once per event).
    pub fn contact_event(&self) -> Option<Result<&ContactEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Contact(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The identity stream's event inside, if this is one (decoded once per event).
    pub fn contact_identity_event(&self) -> Option<Result<&ContactIdentityEvent, &str>> {
        match self.domain_event() {
            DomainEvent::ContactIdentity(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The agent event inside, if this is one (decoded once per event).
    pub fn agent_event(&self) -> Option<Result<&AgentEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Agent(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The attribute definition event inside, if this is one (decoded once per event).
    pub fn attribute_event(&self) -> Option<Result<&AttributeEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Attribute(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }

    /// The team event inside, if this is one (decoded once per event).
    pub fn team_event(&self) -> Option<Result<&TeamEvent, &str>> {
        match self.domain_event() {
            DomainEvent::Team(decoded) => Some(decoded.as_ref().map_err(String::as_str)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::conversation::{Assignee, ConversationChange};

    fn stored(event_type: &str, event_version: &str, payload: Value) -> LogEvent {
        LogEvent {
            position: 7,
            workspace_id: None,
            aggregate_type: "conversation".into(),
            aggregate_id: "c".into(),
            sequence: 3,
            event_type: event_type.into(),
            event_version: event_version.into(),
            payload,
            metadata: json!({}),
            recorded_at: DateTime::from_timestamp(1_767_225_600, 0).expect("a time"),
            decoded: Decoded::default(),
        }
    }

    fn assigned(version: &str, fields: Value) -> LogEvent {
        let mut payload = json!({"type": "AgentAssigned", "occurred_at": "2026-01-01T00:00:00Z",
                                 "actor": {"kind": "agent", "id": "lead"}});
        payload.as_object_mut().expect("an object").extend(fields.as_object().cloned().unwrap_or_default());
        stored("AgentAssigned", version, payload)
    }

    #[test]
    fn readers_of_the_log_see_an_older_version_in_the_current_shape() {
        let old = assigned("1.0.0", json!({"agent_id": "ada"}));
        let new = assigned("2.0.0", json!({"assignee": {"kind": "agent", "id": "ada"}}));
        let want = ConversationChange::AgentAssigned { assignee: Assignee::agent("ada"), previous: None };
        for event in [&old, &new] {
            assert_eq!(event.conversation_event().expect("a conversation event").map(|e| &e.change), Ok(&want));
        }
        let upcast = old.upcast().expect("upcast");
        assert!(matches!(upcast, Cow::Owned(_)));
        assert_eq!((upcast.event_version.as_str(), &upcast.payload), ("2.0.0", &new.payload));
        assert_eq!(upcast.position, old.position);
        assert!(matches!(new.upcast(), Ok(Cow::Borrowed(e)) if std::ptr::eq(e, &new)), "a current event is itself");
    }

    #[test]
    fn a_newer_version_is_a_decoding_error_that_names_it() {
        let future = assigned("3.0.0", json!({"assignee": {"kind": "agent", "id": "ada"}}));
        let error = future.conversation_event().expect("a conversation event").expect_err("not readable");
        assert!(error.contains("AgentAssigned 3.0.0"), "{error}");
        assert!(matches!(future.upcast(), Err(DecodeError::UnknownVersion { .. })));
        // Events of aggregates the domain does not own are not its to read.
        let probe = LogEvent { aggregate_type: "probe".into(), ..stored("Probed", "9", json!({})) };
        assert!(probe.conversation_event().is_none());
        assert!(matches!(probe.upcast(), Ok(Cow::Borrowed(_))));
    }
}
