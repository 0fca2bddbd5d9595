//! Event versions: the version each event type is written at, and the upcasters that bring a
//! stored event of an older version to the current shape.
//!
//! Events are forever, so a changed shape is a new version, never an edit: the log keeps what
//! older builds wrote, and every reader of it (aggregate loading, the log's [`LogEvent`]
//! decoding that projections and time travel use, the export) goes through [`decode`] or
//! [`upcast`], so the rules and the read models only ever see the current shape (Axon's and
//! Marten's upcasting on read). docs/EVENTS.md says how to add a version, step by step.
//!
//! [`LogEvent`]: crate::LogEvent

use std::borrow::Cow;

use cqrs_es::Aggregate;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The version every event type starts at. Versions are semver (`1.0.0`): consumers of the
/// log and of NATS compare them.
pub const EVENT_VERSION_1: &str = "1.0.0";

/// Rewrites one stored event of `event_type` from version `from` to the next, `to`.
pub struct Upcaster {
    pub event_type: &'static str,
    pub from: &'static str,
    pub to: &'static str,
    /// Rewrites the payload object in place; an error says what the payload lacks.
    pub upcast: fn(&mut Map<String, Value>) -> Result<(), String>,
}

/// Every upcaster, oldest first for each event type: an event type's current version is the
/// `to` of its last one (or [`EVENT_VERSION_1`] when it has none), and a stored event is read
/// by chaining them from its version up. Each older version keeps its JSON Schema in
/// `schemas/events/`, frozen as it was published.
pub const UPCASTERS: &[Upcaster] = &[Upcaster {
    event_type: "AgentAssigned",
    from: EVENT_VERSION_1,
    to: "2.0.0",
    upcast: crate::conversation::agent_assigned_names_its_assignee,
}];

/// The version `event_type` is written at now.
pub fn current_version(event_type: &str) -> &'static str {
    UPCASTERS.iter().rev().find(|u| u.event_type == event_type).map_or(EVENT_VERSION_1, |u| u.to)
}

/// The versions of `event_type` this build reads besides the current one, oldest first.
pub fn older_versions(event_type: &str) -> impl Iterator<Item = &'static str> + '_ {
    UPCASTERS.iter().filter(move |u| u.event_type == event_type).map(|u| u.from)
}

/// Why a stored event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A version this build has no reader for: written by a newer build, which must be
    /// deployed before anything reads this log; read as another shape it would be misread.
    #[error("{event_type} {version} is a version this build cannot read (it reads {known}): written by a newer build?")]
    UnknownVersion { event_type: String, version: String, known: String },
    /// The payload does not have its version's shape.
    #[error("{event_type} {version} does not have the shape of its version: {reason}")]
    Malformed { event_type: String, version: String, reason: String },
}

/// A stored payload of `event_type` at `event_version`, in the current version's shape:
/// borrowed as it is when it is current (the common case costs no copy), else copied once and
/// upcast through each version in between.
pub fn upcast<'a>(event_type: &str, event_version: &str, payload: &'a Value) -> Result<Cow<'a, Value>, DecodeError> {
    let mut payload = Cow::Borrowed(payload);
    let mut version = event_version;
    loop {
        if version == current_version(event_type) {
            return Ok(payload);
        }
        let Some(upcaster) = UPCASTERS.iter().find(|u| u.event_type == event_type && u.from == version) else {
            let known: Vec<&str> = older_versions(event_type).chain([current_version(event_type)]).collect();
            return Err(DecodeError::UnknownVersion {
                event_type: event_type.to_owned(),
                version: event_version.to_owned(),
                known: known.join(", "),
            });
        };
        let malformed = |reason: String| DecodeError::Malformed {
            event_type: event_type.to_owned(),
            version: version.to_owned(),
            reason,
        };
        let object = payload.to_mut().as_object_mut().ok_or_else(|| malformed("not a JSON object".to_owned()))?;
        (upcaster.upcast)(object).map_err(malformed)?;
        version = upcaster.to;
    }
}

/// The one way a stored event becomes a domain event of aggregate `A`: upcast to the current
/// version ([`upcast`]), then deserialized.
pub fn decode<A: Aggregate>(event_type: &str, event_version: &str, payload: &Value) -> Result<A::Event, DecodeError> {
    let current = upcast(event_type, event_version, payload)?;
    A::Event::deserialize(current.as_ref()).map_err(|e| DecodeError::Malformed {
        event_type: event_type.to_owned(),
        version: event_version.to_owned(),
        reason: format!("{} event: {e}", A::TYPE),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::conversation::{Assignee, ConversationChange};
    use crate::{Actor, Conversation, ConversationEvent, Inbox};

    fn assigned_1_0_0(agent_id: &str, previous: Option<&str>) -> Value {
        let mut payload = json!({
            "type": "AgentAssigned",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": {"kind": "agent", "id": "lead"},
            "agent_id": agent_id,
        });
        if let Some(previous) = previous {
            payload["previous"] = json!(previous);
        }
        payload
    }

    #[test]
    fn an_agent_assigned_of_1_0_0_reads_as_2_0_0_naming_an_agent() {
        let event = decode::<Conversation>("AgentAssigned", "1.0.0", &assigned_1_0_0("ada", Some("bob")))
            .expect("1.0.0 is read");
        assert_eq!(event.actor, Actor::agent("lead"));
        assert_eq!(
            event.change,
            ConversationChange::AgentAssigned {
                assignee: Assignee::agent("ada"),
                previous: Some(Assignee::agent("bob"))
            }
        );
        let first = decode::<Conversation>("AgentAssigned", "1.0.0", &assigned_1_0_0("ada", None)).expect("read");
        assert_eq!(
            first.change,
            ConversationChange::AgentAssigned { assignee: Assignee::agent("ada"), previous: None }
        );
    }

    #[test]
    fn an_upcast_1_0_0_event_is_what_2_0_0_writes() {
        let written = ConversationEvent {
            occurred_at: "2026-01-01T00:00:00Z".parse().expect("a time"),
            actor: Actor::agent("lead"),
            change: ConversationChange::AgentAssigned {
                assignee: Assignee::agent("ada"),
                previous: Some(Assignee::agent("bob")),
            },
        };
        let json = serde_json::to_value(&written).expect("serializes");
        assert_eq!(json["assignee"], json!({"kind": "agent", "id": "ada"}));
        let stored = assigned_1_0_0("ada", Some("bob"));
        let upcast = upcast("AgentAssigned", "1.0.0", &stored).expect("upcast");
        assert_eq!(upcast.as_ref(), &json, "the same JSON as the new version writes");
        // An explicit null (which 1.0.0 read as none) is no previous assignee either.
        let mut null = assigned_1_0_0("ada", None);
        null["previous"] = Value::Null;
        let event = decode::<Conversation>("AgentAssigned", "1.0.0", &null).expect("read");
        assert_eq!(
            event.change,
            ConversationChange::AgentAssigned { assignee: Assignee::agent("ada"), previous: None }
        );
    }

    #[test]
    fn a_current_event_is_read_as_stored_without_a_copy() {
        let payload = json!({"type": "ConversationArchived", "occurred_at": "2026-01-01T00:00:00Z",
                             "actor": {"kind": "agent", "id": "ada"}});
        assert!(matches!(upcast("ConversationArchived", "1.0.0", &payload), Ok(Cow::Borrowed(_))));
        let event = decode::<Conversation>("ConversationArchived", "1.0.0", &payload).expect("read");
        assert_eq!(event.change, ConversationChange::Archived {});
    }

    #[test]
    fn a_version_this_build_does_not_know_is_an_error_not_a_misread() {
        // 2.0.0's shape under a version from the future: it would deserialize, but is refused.
        let payload = json!({"type": "AgentAssigned", "occurred_at": "2026-01-01T00:00:00Z",
                             "actor": {"kind": "agent", "id": "lead"}, "assignee": {"kind": "agent", "id": "ada"}});
        for version in ["3.0.0", "2.1.0", "1.0", ""] {
            let error = decode::<Conversation>("AgentAssigned", version, &payload).expect_err(version);
            assert_eq!(
                error,
                DecodeError::UnknownVersion {
                    event_type: "AgentAssigned".into(),
                    version: version.into(),
                    known: "1.0.0, 2.0.0".into()
                }
            );
            assert!(error.to_string().contains("newer build"), "{error}");
        }
        let inbox = json!({"type": "InboxDeleted", "occurred_at": "2026-01-01T00:00:00Z",
                           "actor": {"kind": "system", "id": "api"}});
        let error = decode::<Inbox>("InboxDeleted", "1.1.0", &inbox).expect_err("unknown");
        assert!(matches!(error, DecodeError::UnknownVersion { known, .. } if known == "1.0.0"));
    }

    #[test]
    fn a_payload_without_its_versions_shape_is_malformed() {
        // 2.0.0's shape stored as 1.0.0: the upcaster finds no agent_id.
        let payload = json!({"type": "AgentAssigned", "occurred_at": "2026-01-01T00:00:00Z",
                             "actor": {"kind": "agent", "id": "lead"}, "assignee": {"kind": "agent", "id": "ada"}});
        let error = decode::<Conversation>("AgentAssigned", "1.0.0", &payload).expect_err("malformed");
        assert!(matches!(&error, DecodeError::Malformed { version, .. } if version == "1.0.0"), "{error}");
        // 1.0.0's shape stored as 2.0.0.
        let error = decode::<Conversation>("AgentAssigned", "2.0.0", &assigned_1_0_0("ada", None)).expect_err("bad");
        assert!(error.to_string().contains("missing field `assignee`"), "{error}");
        let error = upcast("AgentAssigned", "1.0.0", &json!(["AgentAssigned"])).expect_err("not an object");
        assert!(error.to_string().contains("not a JSON object"), "{error}");
    }

    #[test]
    fn each_event_types_upcasters_chain_from_1_0_0_to_its_current_version_in_semver_order() {
        let semver = |v: &str| -> Vec<u64> {
            let parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or_else(|_| panic!("{v}: semver"))).collect();
            assert_eq!(parts.len(), 3, "{v}: major.minor.patch");
            parts
        };
        for upcaster in UPCASTERS {
            let event_type = upcaster.event_type;
            let mut chain = vec![EVENT_VERSION_1];
            for u in UPCASTERS.iter().filter(|u| u.event_type == event_type) {
                assert_eq!(Some(&u.from), chain.last(), "{event_type}: each upcaster starts where the last ended");
                assert!(semver(u.to) > semver(u.from), "{event_type}: {} after {}", u.to, u.from);
                chain.push(u.to);
            }
            assert_eq!(chain.last(), Some(&current_version(event_type)));
        }
        assert_eq!(current_version("MessageSent"), EVENT_VERSION_1);
        assert_eq!(current_version("AgentAssigned"), "2.0.0");
        assert_eq!(older_versions("AgentAssigned").collect::<Vec<_>>(), ["1.0.0"]);
    }
}
