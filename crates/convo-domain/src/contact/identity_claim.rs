//! The `ContactIdentity` aggregate: which contact holds one identity now. Its stream id is
//! [`Identity::id`] in the workspace, so everyone who meets the identity decides on the same
//! stream, and of two that claim it at once one wins and the other is told who holds it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Actor, Clock, Identity};

/// The namespace of the contact ids [`new_contact_id`] derives (UUIDv5).
pub const CONTACT_NAMESPACE: Uuid = Uuid::from_u128(0x9d2e_41c7_0b58_4f63_a7e9_3c1d_5b80_f24a);

/// The id of the contact created for an identity nobody holds: UUIDv5 of the identity's stream
/// id and the stream's version (its number of events) when it was read.
///
/// Two inbound messages from a new number at the same moment both find the identity unheld at
/// the same version, so both name the same new contact: their commits write the same streams
/// and the second conflicts, catches up, and finds the identity held, instead of leaving a
/// second contact behind. An identity released and later claimed again is at a later version,
/// so it gets a new contact rather than the old one back.
pub fn new_contact_id(identity_stream_id: Uuid, version: usize) -> Uuid {
    let mut name = [0_u8; 24];
    name[..16].copy_from_slice(identity_stream_id.as_bytes());
    // usize is at most 64 bits on every target Rust supports, so this is lossless.
    name[16..].copy_from_slice(&(version as u64).to_be_bytes());
    Uuid::new_v5(&CONTACT_NAMESPACE, &name)
}

/// Who holds one identity of a workspace now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactIdentity {
    /// The contact holding it, if any.
    pub holder: Option<Uuid>,
    /// The identity, once first claimed.
    pub identity: Option<Identity>,
    /// Its workspace, fixed by the first claim.
    pub workspace_id: Option<Uuid>,
}

/// A command to an identity's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactIdentityCommand {
    /// The workspace the command comes from.
    pub workspace_id: Uuid,
    /// The identity: the one the stream id is derived from.
    pub identity: Identity,
    /// Who gives the command; the events record them.
    pub actor: Actor,
    /// What to do.
    pub action: ContactIdentityAction,
}

/// What a command asks of an identity's stream.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactIdentityAction {
    /// Takes the identity for a contact if nobody holds it: refused when another contact does
    /// (taking it from them is a link or a merge: [`ContactIdentityAction::Move`]).
    Claim {
        /// The contact to hold it.
        contact_id: Uuid,
    },
    /// Takes the identity for a contact whoever holds it (an explicit link, a merge).
    Move {
        /// The contact to hold it.
        contact_id: Uuid,
    },
    /// Lets the identity go, if that contact holds it (nothing otherwise: the caller says who
    /// it thinks holds it, and someone else holding it is not theirs to release).
    Release {
        /// The contact letting it go.
        contact_id: Uuid,
    },
}

/// An identity stream's event as stored and published: the envelope (`occurred_at`, `actor`)
/// beside the fields of the change, whose `type` is the event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactIdentityEvent {
    /// When it happened, from the engine's injectable clock.
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// What changed, with its event type in `type`.
    #[serde(flatten)]
    pub change: ContactIdentityChange,
}

/// What changed on an identity's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type")]
pub enum ContactIdentityChange {
    /// A contact holds the identity now, taken from `previous` if another held it.
    #[serde(rename = "IdentityClaimed")]
    Claimed {
        /// The identity's workspace.
        workspace_id: Uuid,
        /// The identity.
        identity: Identity,
        /// The contact holding it now.
        contact_id: Uuid,
        /// The contact that held it until now (a link or a merge moved it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<Uuid>,
    },
    /// The contact that held the identity let it go; nobody holds it now.
    #[serde(rename = "IdentityReleased")]
    Released {
        /// The identity.
        identity: Identity,
        /// The contact that held it.
        contact_id: Uuid,
    },
}

impl DomainEvent for ContactIdentityEvent {
    fn event_type(&self) -> String {
        match self.change {
            ContactIdentityChange::Claimed { .. } => "IdentityClaimed",
            ContactIdentityChange::Released { .. } => "IdentityReleased",
        }
        .to_owned()
    }
    fn event_version(&self) -> String {
        crate::versions::current_version(&self.event_type()).to_owned()
    }
}

/// Why an identity command was refused. A refusal writes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactIdentityError {
    /// The stream is another workspace's, or another identity's.
    #[error("identity not found")]
    NotFound,
    /// Another contact holds the identity: a link or a merge can move it.
    #[error("the identity is held by contact {contact_id}")]
    HeldByAnother {
        /// The contact holding it.
        contact_id: Uuid,
    },
}

/// What an identity stream needs from outside: the time.
pub struct ContactIdentityServices {
    /// The engine's injectable clock.
    pub clock: Arc<dyn Clock>,
}

impl ContactIdentity {
    /// The change `action` makes, `None` when it changes nothing, or why it is refused.
    fn decide(
        &self,
        workspace_id: Uuid,
        identity: Identity,
        action: ContactIdentityAction,
    ) -> Result<Option<ContactIdentityChange>, ContactIdentityError> {
        // Ids are per workspace and identity already; a stream that says otherwise is not this one.
        if self.workspace_id.is_some_and(|ws| ws != workspace_id)
            || self.identity.as_ref().is_some_and(|i| *i != identity)
        {
            return Err(ContactIdentityError::NotFound);
        }
        let (contact_id, previous) = match action {
            ContactIdentityAction::Claim { contact_id } => match self.holder {
                None => (contact_id, None),
                Some(holder) if holder == contact_id => return Ok(None),
                Some(holder) => return Err(ContactIdentityError::HeldByAnother { contact_id: holder }),
            },
            ContactIdentityAction::Move { contact_id } => match self.holder {
                Some(holder) if holder == contact_id => return Ok(None),
                previous => (contact_id, previous),
            },
            ContactIdentityAction::Release { contact_id } => {
                let held = self.holder == Some(contact_id);
                return Ok(held.then_some(ContactIdentityChange::Released { identity, contact_id }));
            }
        };
        Ok(Some(ContactIdentityChange::Claimed { workspace_id, identity, contact_id, previous }))
    }
}

impl Aggregate for ContactIdentity {
    const TYPE: &'static str = "contact_identity";
    type Command = ContactIdentityCommand;
    type Event = ContactIdentityEvent;
    type Error = ContactIdentityError;
    type Services = ContactIdentityServices;

    async fn handle(
        &mut self,
        command: ContactIdentityCommand,
        services: &ContactIdentityServices,
        sink: &EventSink<Self>,
    ) -> Result<(), ContactIdentityError> {
        if let Some(change) = self.decide(command.workspace_id, command.identity, command.action)? {
            let event = ContactIdentityEvent { occurred_at: services.clock.now(), actor: command.actor, change };
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: ContactIdentityEvent) {
        match event.change {
            ContactIdentityChange::Claimed { workspace_id, identity, contact_id, previous: _ } => {
                self.workspace_id = Some(workspace_id);
                self.identity = Some(identity);
                self.holder = Some(contact_id);
            }
            ContactIdentityChange::Released { identity, contact_id: _ } => {
                self.identity = Some(identity);
                self.holder = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;
    use serde_json::json;

    use super::*;
    use crate::{IdentityKind, ManualClock};

    const WS: Uuid = Uuid::from_u128(0x1000);
    const OTHER_WS: Uuid = Uuid::from_u128(0x2000);
    const ADA: Uuid = Uuid::from_u128(0xc001);
    const BOB: Uuid = Uuid::from_u128(0xc002);

    /// 2026-01-01T00:00:00Z: the time of every event.
    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).expect("a valid timestamp")
    }
    fn framework() -> TestFramework<ContactIdentity> {
        TestFramework::with(ContactIdentityServices { clock: Arc::new(ManualClock::new(t0())) })
    }
    fn phone() -> Identity {
        Identity::new(IdentityKind::Phone, "+4915100000001").expect("a phone")
    }
    fn actor() -> Actor {
        Actor::system("inbound")
    }
    fn command(workspace_id: Uuid, action: ContactIdentityAction) -> ContactIdentityCommand {
        ContactIdentityCommand { workspace_id, identity: phone(), actor: actor(), action }
    }
    fn claim(contact_id: Uuid) -> ContactIdentityCommand {
        command(WS, ContactIdentityAction::Claim { contact_id })
    }
    fn move_to(contact_id: Uuid) -> ContactIdentityCommand {
        command(WS, ContactIdentityAction::Move { contact_id })
    }
    fn release(contact_id: Uuid) -> ContactIdentityCommand {
        command(WS, ContactIdentityAction::Release { contact_id })
    }
    fn claimed(contact_id: Uuid, previous: Option<Uuid>) -> ContactIdentityEvent {
        ContactIdentityEvent {
            occurred_at: t0(),
            actor: actor(),
            change: ContactIdentityChange::Claimed { workspace_id: WS, identity: phone(), contact_id, previous },
        }
    }
    fn released(contact_id: Uuid) -> ContactIdentityEvent {
        ContactIdentityEvent {
            occurred_at: t0(),
            actor: actor(),
            change: ContactIdentityChange::Released { identity: phone(), contact_id },
        }
    }

    #[test]
    fn an_identity_nobody_holds_is_claimed() {
        framework().given_no_previous_events().when(claim(ADA)).then_expect_events(vec![claimed(ADA, None)]);
        let mut state = ContactIdentity::default();
        state.apply(claimed(ADA, None));
        assert_eq!(state, ContactIdentity { holder: Some(ADA), identity: Some(phone()), workspace_id: Some(WS) });
    }

    #[test]
    fn of_two_racing_claims_the_second_is_told_who_won() {
        // Both decided on an unheld identity; the store commits the first, the second catches up and decides again.
        framework()
            .given(vec![claimed(ADA, None)])
            .when(claim(BOB))
            .then_expect_error(ContactIdentityError::HeldByAnother { contact_id: ADA });
        let error = ContactIdentityError::HeldByAnother { contact_id: ADA };
        assert_eq!(error.to_string(), "the identity is held by contact 00000000-0000-0000-0000-00000000c001");
    }

    #[test]
    fn claiming_an_identity_one_holds_already_writes_nothing() {
        framework().given(vec![claimed(ADA, None)]).when(claim(ADA)).then_expect_events(vec![]);
    }

    #[test]
    fn a_move_takes_the_identity_from_its_holder_and_names_them() {
        framework()
            .given(vec![claimed(ADA, None)])
            .when(move_to(BOB))
            .then_expect_events(vec![claimed(BOB, Some(ADA))]);
        framework()
            .given(vec![claimed(ADA, None), claimed(BOB, Some(ADA))])
            .when(move_to(BOB))
            .then_expect_events(vec![]);
        framework().given_no_previous_events().when(move_to(BOB)).then_expect_events(vec![claimed(BOB, None)]);
        framework()
            .given(vec![claimed(ADA, None), released(ADA)])
            .when(move_to(BOB))
            .then_expect_events(vec![claimed(BOB, None)]);
    }

    #[test]
    fn only_the_holder_releases_and_releasing_again_writes_nothing() {
        framework().given(vec![claimed(ADA, None)]).when(release(ADA)).then_expect_events(vec![released(ADA)]);
        framework().given(vec![claimed(ADA, None), released(ADA)]).when(release(ADA)).then_expect_events(vec![]);
        framework().given(vec![claimed(ADA, None)]).when(release(BOB)).then_expect_events(vec![]);
        framework().given_no_previous_events().when(release(ADA)).then_expect_events(vec![]);
        // Released, it is anyone's to claim.
        framework()
            .given(vec![claimed(ADA, None), released(ADA)])
            .when(claim(BOB))
            .then_expect_events(vec![claimed(BOB, None)]);
    }

    #[test]
    fn a_stream_of_another_workspace_or_identity_is_not_found() {
        for action in [
            ContactIdentityAction::Claim { contact_id: ADA },
            ContactIdentityAction::Move { contact_id: BOB },
            ContactIdentityAction::Release { contact_id: ADA },
        ] {
            framework()
                .given(vec![claimed(ADA, None)])
                .when(command(OTHER_WS, action.clone()))
                .then_expect_error(ContactIdentityError::NotFound);
            let email = Identity::new(IdentityKind::Email, "ada@example.com").expect("an email");
            let other_identity = ContactIdentityCommand { identity: email, ..command(WS, action) };
            framework()
                .given(vec![claimed(ADA, None)])
                .when(other_identity)
                .then_expect_error(ContactIdentityError::NotFound);
        }
    }

    #[test]
    fn a_new_contacts_id_is_the_same_for_every_racer_and_new_at_each_version() {
        let stream = phone().id(WS);
        assert_eq!(new_contact_id(stream, 0), new_contact_id(stream, 0));
        assert_ne!(new_contact_id(stream, 0), new_contact_id(stream, 2));
        assert_ne!(new_contact_id(stream, 0), new_contact_id(phone().id(OTHER_WS), 0));
        assert_eq!(new_contact_id(stream, 0).get_version_num(), 5);
        // The name is the stream id's bytes then the version as a big-endian u64.
        let mut name = stream.as_bytes().to_vec();
        name.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(new_contact_id(stream, 258), Uuid::new_v5(&CONTACT_NAMESPACE, &name));
    }

    #[test]
    fn identity_events_are_stored_flat_under_their_type_names() {
        let shapes = [
            (
                claimed(BOB, Some(ADA)),
                json!({
                    "type": "IdentityClaimed",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "actor": {"kind": "system", "id": "inbound"},
                    "workspace_id": "00000000-0000-0000-0000-000000001000",
                    "identity": {"kind": "phone", "value": "+4915100000001"},
                    "contact_id": "00000000-0000-0000-0000-00000000c002",
                    "previous": "00000000-0000-0000-0000-00000000c001",
                }),
            ),
            (
                released(ADA),
                json!({
                    "type": "IdentityReleased",
                    "occurred_at": "2026-01-01T00:00:00Z",
                    "actor": {"kind": "system", "id": "inbound"},
                    "identity": {"kind": "phone", "value": "+4915100000001"},
                    "contact_id": "00000000-0000-0000-0000-00000000c001",
                }),
            ),
        ];
        for (event, expected) in shapes {
            let json = serde_json::to_value(&event).expect("serializes");
            assert_eq!(json, expected);
            assert_eq!(json["type"], event.event_type().as_str());
            assert_eq!(event.event_version(), crate::EVENT_VERSION_1);
            let back: ContactIdentityEvent = serde_json::from_value(json).expect("deserializes");
            assert_eq!(back, event);
        }
        let first = serde_json::to_value(claimed(ADA, None)).expect("serializes");
        assert!(first.get("previous").is_none(), "no previous holder is left out");
    }
}
