//! The contacts folds, given hand-built logs: every contact change and both identity changes,
//! each log folded in one batch and one event at a time (rows carried over as the runner
//! stores and reloads them), which must agree.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use convo_domain::contact::{ContactChange as C, ContactIdentityChange as I};
use convo_domain::{Actor, IdentityKind, LogEvent};
use convo_projection::prepare;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::*;

const WS: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
const ADA: Uuid = Uuid::from_u128(0xc001);
const BOB: Uuid = Uuid::from_u128(0xc002);
const WHATSAPP: Uuid = Uuid::from_u128(0x1001);
const SMS: Uuid = Uuid::from_u128(0x1002);
const WEBCHAT: Uuid = Uuid::from_u128(0x1003);
const CONV_WA: Uuid = Uuid::from_u128(0xa001);
const CONV_SMS: Uuid = Uuid::from_u128(0xa002);
const CONV_OTHER: Uuid = Uuid::from_u128(0xa003);
const CONV_WEB: Uuid = Uuid::from_u128(0xa004);

/// `seconds` after 2026-01-01T00:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time") + Duration::seconds(seconds)
}

fn phone() -> Identity {
    Identity::new(IdentityKind::Phone, "+4915100000001").expect("a phone")
}
fn email() -> Identity {
    Identity::new(IdentityKind::Email, "ada@example.com").expect("an email")
}
fn telegram() -> Identity {
    Identity::new(IdentityKind::TelegramId, "4242").expect("a telegram id")
}

fn conversation(inbox_id: Uuid, conversation_id: Uuid) -> ContactConversation {
    ContactConversation { inbox_id, conversation_id }
}

/// A log of contact and identity events; positions 10, 20, …, sequences per stream.
#[derive(Default)]
struct Log {
    events: Vec<LogEvent>,
    sequences: HashMap<String, i64>,
}

impl Log {
    fn push(&mut self, aggregate_type: &str, aggregate_id: Uuid, at: i64, event: &impl Serialize) -> &mut Self {
        let payload = serde_json::to_value(event).expect("an event serializes");
        let event_type = payload["type"].as_str().expect("a type").to_owned();
        let sequence = self.sequences.entry(aggregate_id.to_string()).or_default();
        *sequence += 1;
        self.events.push(LogEvent {
            position: 10 * (self.events.len() as i64 + 1),
            workspace_id: Some(WS.to_string()),
            aggregate_type: aggregate_type.into(),
            aggregate_id: aggregate_id.to_string(),
            sequence: *sequence,
            event_version: convo_domain::versions::current_version(&event_type).into(),
            event_type,
            payload,
            metadata: json!({}),
            recorded_at: t(at),
            decoded: Default::default(),
        });
        self
    }

    /// A change of contact `id` at `t(at)`.
    fn contact(&mut self, id: Uuid, at: i64, change: C) -> &mut Self {
        let event = ContactEvent { occurred_at: t(at), actor: Actor::agent("ada"), change };
        self.push("contact", id, at, &event)
    }

    /// A change of `identity`'s stream in [`WS`] at `t(at)`.
    fn identity(&mut self, identity: &Identity, at: i64, change: I) -> &mut Self {
        let event = ContactIdentityEvent { occurred_at: t(at), actor: Actor::system("inbound"), change };
        self.push("contact_identity", identity.id(WS), at, &event)
    }

    /// Contact `id` created at `t(at)` with nothing but a name.
    fn created(&mut self, id: Uuid, at: i64, name: &str) -> &mut Self {
        self.contact(
            id,
            at,
            C::Created {
                contact_id: id,
                workspace_id: WS,
                name: Some(name.into()),
                avatar_url: None,
                identities: vec![],
                tags: vec![],
                attributes: BTreeMap::new(),
                conversations: vec![],
            },
        )
    }

    fn claimed(&mut self, identity: &Identity, at: i64, contact_id: Uuid, previous: Option<Uuid>) -> &mut Self {
        let change = I::Claimed { workspace_id: WS, identity: identity.clone(), contact_id, previous };
        self.identity(identity, at, change)
    }

    fn released(&mut self, identity: &Identity, at: i64, contact_id: Uuid) -> &mut Self {
        self.identity(identity, at, I::Released { identity: identity.clone(), contact_id })
    }
}

/// The rows after folding `events` in batches of `batch`, rows carried over between batches.
fn fold_in<P: Projection<Key = Uuid>>(projection: &P, events: &[LogEvent], batch: usize) -> HashMap<Uuid, P::Row> {
    let mut stored = HashMap::new();
    for events in events.chunks(batch) {
        let prepared = prepare(projection, events).expect("decodes");
        let loaded = prepared.keys.iter().filter_map(|k| Some((*k, stored.get(k).cloned()?))).collect();
        for (key, row) in prepared.apply(projection, loaded).expect("folds") {
            match row {
                Some(row) => stored.insert(key, row),
                None => stored.remove(&key),
            };
        }
    }
    stored
}

/// The rows after folding the whole log, the same in one batch and one event at a time.
fn fold<P: Projection<Key = Uuid>>(projection: &P, log: &Log) -> HashMap<Uuid, P::Row> {
    let whole = fold_in(projection, &log.events, log.events.len().max(1));
    assert_eq!(whole, fold_in(projection, &log.events, 1), "batch boundaries change nothing");
    whole
}

fn contact(log: &Log, id: Uuid) -> ContactView {
    fold(&ContactsProjection, log).remove(&id).expect("the contact's row")
}

#[test]
fn a_created_contact_has_its_lists_sorted_and_its_first_times() {
    let mut log = Log::default();
    log.contact(
        ADA,
        5,
        C::Created {
            contact_id: ADA,
            workspace_id: WS,
            name: Some("Ada Lovelace".into()),
            avatar_url: Some("https://example.com/ada.png".into()),
            identities: vec![phone(), email()],
            tags: vec!["vip".into(), "billing".into()],
            attributes: BTreeMap::from([("plan".into(), json!("pro"))]),
            conversations: vec![conversation(WHATSAPP, CONV_WA)],
        },
    );
    let mut identities = vec![phone(), email()];
    identities.sort();
    assert_eq!(
        contact(&log, ADA),
        ContactView {
            contact_id: ADA,
            workspace_id: WS,
            name: Some("Ada Lovelace".into()),
            avatar_url: Some("https://example.com/ada.png".into()),
            identities,
            tags: vec!["billing".into(), "vip".into()],
            attributes: BTreeMap::from([("plan".into(), json!("pro"))]),
            conversations: vec![conversation(WHATSAPP, CONV_WA)],
            merged_into: None,
            deleted: false,
            created_at: t(5),
            updated_at: t(5),
            version: 1,
            position: 10,
        }
    );
}

#[test]
fn an_update_changes_what_it_names_and_null_clears() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada");
    log.contact(ADA, 1, C::Updated { name: None, avatar_url: Some(Some("https://example.com/a.png".into())) });
    let row = contact(&log, ADA);
    assert_eq!((row.name.as_deref(), row.avatar_url.as_deref()), (Some("Ada"), Some("https://example.com/a.png")));
    log.contact(ADA, 2, C::Updated { name: Some(Some("Ada L.".into())), avatar_url: None });
    let row = contact(&log, ADA);
    assert_eq!((row.name.as_deref(), row.avatar_url.as_deref()), (Some("Ada L."), Some("https://example.com/a.png")));
    log.contact(ADA, 3, C::Updated { name: Some(None), avatar_url: Some(None) });
    let row = contact(&log, ADA);
    assert_eq!((row.name, row.avatar_url), (None, None));
    assert_eq!((row.created_at, row.updated_at, row.version, row.position), (t(0), t(3), 4, 40));
}

#[test]
fn identities_tags_and_attributes_are_added_and_removed_in_order() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada")
        .contact(ADA, 1, C::IdentityAdded { identity: telegram() })
        .contact(ADA, 2, C::IdentityAdded { identity: phone() })
        .contact(ADA, 3, C::IdentityAdded { identity: email() })
        .contact(ADA, 4, C::IdentityRemoved { identity: telegram() })
        .contact(ADA, 5, C::Tagged { tag: "vip".into() })
        .contact(ADA, 6, C::Tagged { tag: "billing".into() })
        .contact(ADA, 7, C::Tagged { tag: "churned".into() })
        .contact(ADA, 8, C::Untagged { tag: "churned".into() })
        .contact(ADA, 9, C::AttributeSet { key: "plan".into(), value: json!("free") })
        .contact(ADA, 10, C::AttributeSet { key: "seats".into(), value: json!(3) })
        .contact(ADA, 11, C::AttributeSet { key: "plan".into(), value: json!("pro") })
        .contact(ADA, 12, C::AttributeRemoved { key: "seats".into() });
    let row = contact(&log, ADA);
    let mut identities = vec![phone(), email()];
    identities.sort();
    assert_eq!(row.identities, identities);
    assert_eq!(row.tags, ["billing", "vip"]);
    assert_eq!(row.attributes, BTreeMap::from([("plan".into(), json!("pro"))]));
    assert_eq!((row.updated_at, row.version, row.position), (t(12), 13, 130));
}

#[test]
fn the_first_conversation_on_an_inbox_stays_and_they_are_sorted_by_inbox() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada")
        .contact(ADA, 1, C::ConversationRecorded { inbox_id: SMS, conversation_id: CONV_SMS })
        .contact(ADA, 2, C::ConversationRecorded { inbox_id: WHATSAPP, conversation_id: CONV_WA })
        .contact(ADA, 3, C::ConversationRecorded { inbox_id: SMS, conversation_id: CONV_OTHER });
    assert_eq!(contact(&log, ADA).conversations, [conversation(WHATSAPP, CONV_WA), conversation(SMS, CONV_SMS)]);
}

#[test]
fn a_merged_contact_names_its_survivor_which_absorbs_only_what_it_lacked() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada")
        .contact(ADA, 1, C::IdentityAdded { identity: phone() })
        .contact(ADA, 2, C::Tagged { tag: "vip".into() })
        .contact(ADA, 3, C::AttributeSet { key: "plan".into(), value: json!("pro") })
        .contact(ADA, 4, C::ConversationRecorded { inbox_id: SMS, conversation_id: CONV_SMS })
        .created(BOB, 5, "Ada (web)")
        .contact(BOB, 6, C::Merged { into: ADA })
        .contact(
            ADA,
            7,
            C::Absorbed {
                merged_id: BOB,
                identities: vec![email(), phone()],
                tags: vec!["billing".into(), "vip".into()],
                attributes: BTreeMap::from([("plan".into(), json!("free")), ("seats".into(), json!(3))]),
                conversations: vec![conversation(SMS, CONV_OTHER), conversation(WEBCHAT, CONV_WEB)],
            },
        );
    let rows = fold(&ContactsProjection, &log);
    let merged = &rows[&BOB];
    assert_eq!((merged.merged_into, merged.deleted, merged.version, merged.updated_at), (Some(ADA), false, 2, t(6)));
    let survivor = &rows[&ADA];
    let mut identities = vec![phone(), email()];
    identities.sort();
    assert_eq!(survivor.identities, identities);
    assert_eq!(survivor.tags, ["billing", "vip"]);
    assert_eq!(
        survivor.attributes,
        BTreeMap::from([("plan".into(), json!("pro")), ("seats".into(), json!(3))]),
        "the survivor's own values win"
    );
    assert_eq!(survivor.conversations, [conversation(SMS, CONV_SMS), conversation(WEBCHAT, CONV_WEB)]);
    assert_eq!((survivor.merged_into, survivor.version, survivor.position), (None, 6, 80));
}

#[test]
fn a_deleted_contact_keeps_its_row_marked_deleted() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada").contact(ADA, 9, C::Deleted {});
    let row = contact(&log, ADA);
    assert_eq!((row.deleted, row.name.as_deref(), row.updated_at, row.version), (true, Some("Ada"), t(9), 2));
}

#[test]
fn a_change_before_the_contact_was_created_stops_the_fold() {
    let mut log = Log::default();
    log.contact(ADA, 0, C::Tagged { tag: "vip".into() });
    let prepared = prepare(&ContactsProjection, &log.events).expect("decodes");
    let error = prepared.apply(&ContactsProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("contacts", 10));
    assert!(error.reason.contains("before it was created"), "{}", error.reason);
}

#[test]
fn each_fold_ignores_the_others_events() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada").claimed(&phone(), 0, ADA, None);
    assert_eq!(fold(&ContactsProjection, &log).into_keys().collect::<Vec<_>>(), [ADA]);
    assert_eq!(fold(&ContactIdentitiesProjection, &log).into_keys().collect::<Vec<_>>(), [phone().id(WS)]);
}

#[test]
fn an_identity_is_claimed_moved_released_and_claimed_again() {
    let stream = phone().id(WS);
    let view = |contact_id, version, position| ContactIdentityView {
        identity_id: stream,
        workspace_id: WS,
        identity: phone(),
        contact_id,
        version,
        position,
    };
    let mut log = Log::default();
    log.claimed(&phone(), 0, ADA, None);
    assert_eq!(fold(&ContactIdentitiesProjection, &log)[&stream], view(Some(ADA), 1, 10));
    log.claimed(&phone(), 1, BOB, Some(ADA));
    assert_eq!(fold(&ContactIdentitiesProjection, &log)[&stream], view(Some(BOB), 2, 20), "moved by a link");
    log.released(&phone(), 2, BOB);
    assert_eq!(fold(&ContactIdentitiesProjection, &log)[&stream], view(None, 3, 30), "nobody holds it");
    log.claimed(&phone(), 3, ADA, None);
    assert_eq!(fold(&ContactIdentitiesProjection, &log)[&stream], view(Some(ADA), 4, 40));
    // Each identity has a row of its own.
    log.claimed(&email(), 4, BOB, None);
    let rows = fold(&ContactIdentitiesProjection, &log);
    assert_eq!((rows.len(), rows[&email().id(WS)].contact_id), (2, Some(BOB)));
}

#[test]
fn a_release_before_any_claim_stops_the_fold() {
    let mut log = Log::default();
    log.released(&phone(), 0, ADA);
    let prepared = prepare(&ContactIdentitiesProjection, &log.events).expect("decodes");
    let error = prepared.apply(&ContactIdentitiesProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("contact_identities", 10));
    assert!(error.reason.contains("released before it was claimed"), "{}", error.reason);
}

#[test]
fn an_undecodable_event_is_an_error_not_a_skip() {
    let mut log = Log::default();
    log.created(ADA, 0, "Ada");
    log.events[0].payload = json!({"type": "ContactCreated", "occurred_at": "not a time"});
    assert!(prepare(&ContactsProjection, &log.events).is_err());
    let mut log = Log::default();
    log.claimed(&phone(), 0, ADA, None);
    log.events[0].aggregate_id = "not a uuid".into();
    assert!(prepare(&ContactIdentitiesProjection, &log.events).is_err());
}
