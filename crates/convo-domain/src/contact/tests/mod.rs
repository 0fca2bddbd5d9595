//! Given/when/then tests of the Contact aggregate.
//!
//! Every scenario runs with fixed ids and a [`ManualClock`] at [`t0`], so the expected events
//! are written out exactly. The fixtures and the rules every command shares are here; the
//! tests of each family of commands, one file per topic, beside it. The `ContactIdentity`
//! aggregate's tests are in `identity_claim.rs`.

mod changes;
mod create;
mod merge;
mod shape;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    Contact, ContactAction as A, ContactChange as C, ContactCommand, ContactConversation, ContactError, ContactEvent,
    ContactServices, MAX_ATTRIBUTES, MAX_IDENTITIES, MAX_TAGS,
};
use crate::{Actor, Identity, IdentityKind, ManualClock};

const WS: Uuid = Uuid::from_u128(0x1000);
const OTHER_WS: Uuid = Uuid::from_u128(0x2000);

/// The contact under test.
const CONTACT: Uuid = Uuid::from_u128(0xc001);
/// Another contact of the workspace: a merge's other side.
const OTHER: Uuid = Uuid::from_u128(0xc002);

const WHATSAPP: Uuid = Uuid::from_u128(0x1001);
const SMS: Uuid = Uuid::from_u128(0x1002);
const CONV_WA: Uuid = Uuid::from_u128(0xa001);
const CONV_SMS: Uuid = Uuid::from_u128(0xa002);
const CONV_OTHER: Uuid = Uuid::from_u128(0xa003);

/// 2026-01-01T00:00:00Z: the time of every event.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid timestamp")
}

fn framework() -> TestFramework<Contact> {
    let attributes = crate::attribute::tests::FixedAttributes::default().with(
        WS,
        crate::attribute::AttributeModel::Contact,
        "tier",
        crate::attribute::AttributeType::List,
        &["silver", "gold"],
    );
    TestFramework::with(ContactServices { clock: Arc::new(ManualClock::new(t0())), attributes: Arc::new(attributes) })
}

fn agent() -> Actor {
    Actor::agent("agent-ada")
}

fn phone() -> Identity {
    Identity::new(IdentityKind::Phone, "+4915100000001").expect("a phone")
}
fn email() -> Identity {
    Identity::new(IdentityKind::Email, "ada@example.com").expect("an email")
}
fn bsuid() -> Identity {
    Identity::new(IdentityKind::WhatsappBsuid, "US.13491208655302741918").expect("a bsuid")
}
/// The `n`th of many distinct identities, to reach the limit.
fn telegram(n: usize) -> Identity {
    Identity::new(IdentityKind::TelegramId, &(1000 + n).to_string()).expect("digits")
}

fn attributes(pairs: &[(&str, Value)]) -> BTreeMap<String, Value> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn command(action: A) -> ContactCommand {
    ContactCommand { workspace_id: WS, actor: agent(), action }
}

fn past(change: C) -> ContactEvent {
    ContactEvent { occurred_at: t0(), actor: agent(), change }
}

/// The fields of a `Create` of [`CONTACT`], empty unless a test sets them.
#[derive(Default)]
struct Fields {
    name: Option<String>,
    avatar_url: Option<String>,
    identities: Vec<Identity>,
    tags: Vec<String>,
    attributes: BTreeMap<String, Value>,
    conversation: Option<(Uuid, Uuid)>,
}

fn create(f: Fields) -> ContactCommand {
    command(A::Create {
        contact_id: CONTACT,
        name: f.name,
        avatar_url: f.avatar_url,
        identities: f.identities,
        tags: f.tags,
        attributes: f.attributes,
        conversation: f.conversation,
    })
}

/// Ada, created from a WhatsApp message: her phone, a tag, an attribute, her conversation.
fn created() -> ContactEvent {
    past(C::Created {
        contact_id: CONTACT,
        workspace_id: WS,
        name: Some("Ada".into()),
        avatar_url: None,
        identities: vec![phone()],
        tags: vec!["vip".into()],
        attributes: attributes(&[("plan", json!("pro"))]),
        conversations: vec![ContactConversation { inbox_id: WHATSAPP, conversation_id: CONV_WA }],
    })
}

fn merged() -> ContactEvent {
    past(C::Merged { into: OTHER })
}
fn deleted() -> ContactEvent {
    past(C::Deleted {})
}

/// The field a refusal names, if it is a validation error.
fn refused_field(result: Result<Vec<ContactEvent>, ContactError>) -> Option<String> {
    match result {
        Err(ContactError::Validation { field, .. }) => Some(field),
        _ => None,
    }
}

/// The state after `events`.
fn fold(events: impl IntoIterator<Item = ContactEvent>) -> Contact {
    let mut contact = Contact::default();
    for event in events {
        contact.apply(event);
    }
    contact
}

/// One command of every action but `Create`, each of which writes an event on [`created`].
fn every_other_action() -> Vec<A> {
    vec![
        A::Update { name: Some(Some("Ada L.".into())), avatar_url: None },
        A::AddIdentity { identity: email() },
        A::RemoveIdentity { identity: phone() },
        A::Tag { tag: "billing".into() },
        A::Untag { tag: "vip".into() },
        A::SetAttribute { key: "city".into(), value: json!("Berlin") },
        A::RecordConversation { inbox_id: SMS, conversation_id: CONV_SMS },
        A::MergeInto { survivor_id: OTHER },
        A::Absorb {
            merged_id: OTHER,
            identities: vec![],
            tags: vec![],
            attributes: BTreeMap::new(),
            conversations: vec![],
        },
        A::Delete,
    ]
}

#[test]
fn every_other_action_changes_a_live_contact() {
    for action in every_other_action() {
        let result = framework().given(vec![created()]).when(command(action.clone())).inspect_result();
        assert!(result.is_ok_and(|events| events.len() == 1), "{action:?}");
    }
}

#[test]
fn every_command_but_create_on_a_contact_never_created_is_not_found() {
    for action in every_other_action() {
        let result = framework().given_no_previous_events().when(command(action.clone())).inspect_result();
        assert_eq!(result, Err(ContactError::NotFound), "{action:?}");
    }
}

#[test]
fn every_command_from_another_workspace_is_not_found() {
    for action in every_other_action() {
        let foreign = ContactCommand { workspace_id: OTHER_WS, actor: agent(), action: action.clone() };
        let result = framework().given(vec![created()]).when(foreign).inspect_result();
        assert_eq!(result, Err(ContactError::NotFound), "{action:?}");
    }
}

#[test]
fn a_merged_contact_refuses_every_command_saying_where_it_went() {
    for action in every_other_action() {
        let result = framework().given(vec![created(), merged()]).when(command(action.clone())).inspect_result();
        assert_eq!(result, Err(ContactError::Merged { into: OTHER }), "{action:?}");
    }
    let error = ContactError::Merged { into: OTHER };
    assert_eq!(error.to_string(), "the contact was merged into contact 00000000-0000-0000-0000-00000000c002");
}

#[test]
fn a_deleted_contact_is_not_found_and_deleting_it_again_writes_nothing() {
    for action in every_other_action() {
        let result = framework().given(vec![created(), deleted()]).when(command(action.clone())).inspect_result();
        if action == A::Delete {
            assert_eq!(result, Ok(vec![]));
        } else {
            assert_eq!(result, Err(ContactError::NotFound), "{action:?}");
        }
    }
    framework().given(vec![created()]).when(command(A::Delete)).then_expect_events(vec![deleted()]);
}
