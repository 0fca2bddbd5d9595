//! How contact events are stored and published: flat JSON, the event type in `type` beside
//! `occurred_at`, `actor` and the change's fields, under pinned names.

use cqrs_es::DomainEvent;

use super::*;

fn one_of_each() -> Vec<(C, &'static str)> {
    vec![
        (created().change, "ContactCreated"),
        (C::Updated { name: Some(Some("Ada L.".into())), avatar_url: Some(None) }, "ContactUpdated"),
        (C::IdentityAdded { identity: email() }, "ContactIdentityAdded"),
        (C::IdentityRemoved { identity: phone() }, "ContactIdentityRemoved"),
        (C::Tagged { tag: "billing".into() }, "ContactTagged"),
        (C::Untagged { tag: "vip".into() }, "ContactUntagged"),
        (C::AttributeSet { key: "plan".into(), value: json!({"tier": "pro", "seats": 3}) }, "ContactAttributeSet"),
        (C::AttributeRemoved { key: "plan".into() }, "ContactAttributeRemoved"),
        (C::ConversationRecorded { inbox_id: SMS, conversation_id: CONV_SMS }, "ContactConversationRecorded"),
        (C::Merged { into: OTHER }, "ContactMerged"),
        (
            C::Absorbed {
                merged_id: OTHER,
                identities: vec![email()],
                tags: vec!["billing".into()],
                attributes: attributes(&[("city", json!("Berlin"))]),
                conversations: vec![ContactConversation { inbox_id: SMS, conversation_id: CONV_SMS }],
            },
            "ContactAbsorbed",
        ),
        (C::Deleted {}, "ContactDeleted"),
    ]
}

#[test]
fn every_event_round_trips_flat_under_its_pinned_type_name() {
    for (change, name) in one_of_each() {
        let event = past(change);
        let json = serde_json::to_value(&event).expect("the event serializes");
        assert_eq!(json["type"], name);
        assert_eq!(json["occurred_at"], "2026-01-01T00:00:00Z", "{name}");
        assert_eq!(json["actor"], json!({"kind": "agent", "id": "agent-ada"}), "{name}");
        assert!(json.get("change").is_none(), "{name}: the change's fields are at the top level");
        assert_eq!(event.event_type(), name);
        assert_eq!(event.event_version(), crate::EVENT_VERSION_1, "{name}");
        let back: ContactEvent = serde_json::from_value(json).expect("the event deserializes");
        assert_eq!(back, event, "{name}");
    }
}

#[test]
fn a_created_contact_is_stored_as_this_json() {
    assert_eq!(
        serde_json::to_value(created()).expect("serializes"),
        json!({
            "type": "ContactCreated",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": {"kind": "agent", "id": "agent-ada"},
            "contact_id": "00000000-0000-0000-0000-00000000c001",
            "workspace_id": "00000000-0000-0000-0000-000000001000",
            "name": "Ada",
            "identities": [{"kind": "phone", "value": "+4915100000001"}],
            "tags": ["vip"],
            "attributes": {"plan": "pro"},
            "conversations": [{
                "inbox_id": "00000000-0000-0000-0000-000000001001",
                "conversation_id": "00000000-0000-0000-0000-00000000a001",
            }],
        })
    );
    // What is empty is left out, and read back as empty.
    let bare = json!({
        "type": "ContactCreated",
        "occurred_at": "2026-01-01T00:00:00Z",
        "actor": {"kind": "system", "id": "api"},
        "contact_id": "00000000-0000-0000-0000-00000000c001",
        "workspace_id": "00000000-0000-0000-0000-000000001000",
    });
    let event: ContactEvent = serde_json::from_value(bare.clone()).expect("deserializes");
    assert_eq!(serde_json::to_value(&event).expect("serializes"), bare);
    assert!(matches!(event.change, C::Created { name: None, ref identities, .. } if identities.is_empty()));
}

#[test]
fn an_update_leaves_out_what_did_not_change_and_has_null_for_what_was_cleared() {
    let event = past(C::Updated { name: None, avatar_url: Some(None) });
    let json = serde_json::to_value(&event).expect("serializes");
    assert_eq!(
        json,
        json!({
            "type": "ContactUpdated",
            "occurred_at": "2026-01-01T00:00:00Z",
            "actor": {"kind": "agent", "id": "agent-ada"},
            "avatar_url": null,
        })
    );
    let back: ContactEvent = serde_json::from_value(json).expect("deserializes");
    assert_eq!(back, event, "null is cleared, absent is unchanged");
    let set = past(C::Updated { name: Some(Some("Ada".into())), avatar_url: None });
    let json = serde_json::to_value(&set).expect("serializes");
    assert_eq!(json["name"], "Ada");
    assert!(json.get("avatar_url").is_none());
    assert_eq!(serde_json::from_value::<ContactEvent>(json).expect("deserializes"), set);
}
