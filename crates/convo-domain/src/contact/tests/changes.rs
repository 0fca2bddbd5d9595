//! Changing a live contact: its name and avatar, identities, tags, attributes and
//! conversations. A change that changes nothing writes nothing, so a retried command is harmless.

use super::*;

fn update(name: Option<Option<&str>>, avatar_url: Option<Option<&str>>) -> ContactCommand {
    command(A::Update {
        name: name.map(|n| n.map(str::to_owned)),
        avatar_url: avatar_url.map(|u| u.map(str::to_owned)),
    })
}
fn updated(name: Option<Option<&str>>, avatar_url: Option<Option<&str>>) -> ContactEvent {
    past(C::Updated { name: name.map(|n| n.map(str::to_owned)), avatar_url: avatar_url.map(|u| u.map(str::to_owned)) })
}
const AVATAR: &str = "https://cdn.example.com/ada.png";

#[test]
fn an_update_records_only_what_changed() {
    framework()
        .given(vec![created()])
        .when(update(Some(Some(" Ada L. ")), Some(Some(AVATAR))))
        .then_expect_events(vec![updated(Some(Some("Ada L.")), Some(Some(AVATAR)))]);
    // The name is Ada already: only the avatar changes.
    framework()
        .given(vec![created()])
        .when(update(Some(Some("Ada ")), Some(Some(AVATAR))))
        .then_expect_events(vec![updated(None, Some(Some(AVATAR)))]);
    framework().given(vec![created()]).when(update(None, None)).then_expect_events(vec![]);
    framework().given(vec![created()]).when(update(Some(Some("Ada")), Some(None))).then_expect_events(vec![]);
}

#[test]
fn an_update_clears_with_none_or_blank() {
    framework()
        .given(vec![created()])
        .when(update(Some(None), None))
        .then_expect_events(vec![updated(Some(None), None)]);
    let with_avatar = vec![created(), updated(None, Some(Some(AVATAR)))];
    framework()
        .given(with_avatar.clone())
        .when(update(Some(Some("  ")), Some(Some(""))))
        .then_expect_events(vec![updated(Some(None), Some(None))]);
    let state = fold(with_avatar.into_iter().chain([updated(Some(None), None)]));
    assert_eq!((state.name, state.avatar_url.as_deref()), (None, Some(AVATAR)), "an absent part stays");
}

#[test]
fn an_update_checks_what_it_sets() {
    let result = framework().given(vec![created()]).when(update(Some(Some(&"x".repeat(201))), None)).inspect_result();
    assert_eq!(refused_field(result), Some("name".into()));
    let result = framework().given(vec![created()]).when(update(None, Some(Some("ftp://x")))).inspect_result();
    assert_eq!(refused_field(result), Some("avatar_url".into()));
}

#[test]
fn identities_are_added_and_removed_once() {
    let add = |identity| command(A::AddIdentity { identity });
    let remove = |identity| command(A::RemoveIdentity { identity });
    let added = past(C::IdentityAdded { identity: bsuid() });
    framework().given(vec![created()]).when(add(bsuid())).then_expect_events(vec![added.clone()]);
    framework().given(vec![created(), added.clone()]).when(add(bsuid())).then_expect_events(vec![]);
    framework().given(vec![created()]).when(add(phone())).then_expect_events(vec![]);
    framework()
        .given(vec![created()])
        .when(remove(phone()))
        .then_expect_events(vec![past(C::IdentityRemoved { identity: phone() })]);
    framework().given(vec![created()]).when(remove(email())).then_expect_events(vec![]);
    let state = fold([created(), added, past(C::IdentityAdded { identity: email() })]);
    assert_eq!(state.identities, vec![phone(), email(), bsuid()], "sorted by kind (as declared), then value");
}

#[test]
fn a_21st_identity_is_refused() {
    let full: Vec<ContactEvent> = std::iter::once(created())
        .chain((1..MAX_IDENTITIES).map(|n| past(C::IdentityAdded { identity: telegram(n) })))
        .collect();
    assert_eq!(fold(full.clone()).identities.len(), MAX_IDENTITIES);
    framework().given(full.clone()).when(command(A::AddIdentity { identity: email() })).then_expect_error(
        ContactError::Validation { field: "identities".into(), reason: "a contact has at most 20 identities".into() },
    );
    // One it has already is still no change rather than a refusal.
    framework().given(full).when(command(A::AddIdentity { identity: phone() })).then_expect_events(vec![]);
}

#[test]
fn tags_are_put_on_and_taken_off_once_in_their_canonical_spelling() {
    let tag = |t: &str| command(A::Tag { tag: t.into() });
    let untag = |t: &str| command(A::Untag { tag: t.into() });
    framework()
        .given(vec![created()])
        .when(tag("Billing"))
        .then_expect_events(vec![past(C::Tagged { tag: "billing".into() })]);
    framework().given(vec![created()]).when(tag("VIP")).then_expect_events(vec![]);
    framework()
        .given(vec![created()])
        .when(untag("VIP"))
        .then_expect_events(vec![past(C::Untagged { tag: "vip".into() })]);
    framework().given(vec![created()]).when(untag("billing")).then_expect_events(vec![]);
    for command in [tag("two words"), untag(""), tag(&"x".repeat(65))] {
        let result = framework().given(vec![created()]).when(command).inspect_result();
        assert_eq!(refused_field(result), Some("tags".into()));
    }
    let state = fold([created(), past(C::Tagged { tag: "billing".into() }), past(C::Untagged { tag: "vip".into() })]);
    assert_eq!(state.tags.into_iter().collect::<Vec<_>>(), ["billing"]);
}

#[test]
fn a_51st_tag_is_refused() {
    let full: Vec<ContactEvent> =
        std::iter::once(created()).chain((1..MAX_TAGS).map(|n| past(C::Tagged { tag: format!("t{n}") }))).collect();
    assert_eq!(fold(full.clone()).tags.len(), MAX_TAGS);
    framework().given(full.clone()).when(command(A::Tag { tag: "more".into() })).then_expect_error(
        ContactError::Validation { field: "tags".into(), reason: "a contact has at most 50 tags".into() },
    );
    framework().given(full).when(command(A::Tag { tag: "vip".into() })).then_expect_events(vec![]);
}

#[test]
fn an_attribute_is_set_replaced_and_removed_by_null_only_when_that_changes_it() {
    let set = |key: &str, value: Value| command(A::SetAttribute { key: key.into(), value });
    let attribute_set = |key: &str, value: Value| past(C::AttributeSet { key: key.into(), value });
    framework()
        .given(vec![created()])
        .when(set("city", json!("Berlin")))
        .then_expect_events(vec![attribute_set("city", json!("Berlin"))]);
    framework()
        .given(vec![created()])
        .when(set("plan", json!({"tier": "enterprise"})))
        .then_expect_events(vec![attribute_set("plan", json!({"tier": "enterprise"}))]);
    framework().given(vec![created()]).when(set("plan", json!("pro"))).then_expect_events(vec![]);
    framework()
        .given(vec![created()])
        .when(set("plan", Value::Null))
        .then_expect_events(vec![past(C::AttributeRemoved { key: "plan".into() })]);
    framework().given(vec![created()]).when(set("city", Value::Null)).then_expect_events(vec![]);
    framework().given(vec![created()]).when(set("City", json!(1))).then_expect_error(ContactError::Validation {
        field: "attributes.City".into(),
        reason: "a key must be 1 to 64 characters of a-z, 0-9 and _".into(),
    });
    let state = fold([created(), attribute_set("plan", json!(2)), attribute_set("city", json!("Berlin"))]);
    assert_eq!(state.attributes, attributes(&[("city", json!("Berlin")), ("plan", json!(2))]));
    let state = fold([created(), past(C::AttributeRemoved { key: "plan".into() })]);
    assert!(state.attributes.is_empty());
}

#[test]
fn a_101st_attribute_is_refused_but_the_100_can_still_change() {
    let full: Vec<ContactEvent> = std::iter::once(created())
        .chain((1..MAX_ATTRIBUTES).map(|n| past(C::AttributeSet { key: format!("a{n}"), value: json!(n) })))
        .collect();
    assert_eq!(fold(full.clone()).attributes.len(), MAX_ATTRIBUTES);
    framework()
        .given(full.clone())
        .when(command(A::SetAttribute { key: "more".into(), value: json!(1) }))
        .then_expect_error(ContactError::Validation {
            field: "attributes".into(),
            reason: "a contact has at most 100 attributes".into(),
        });
    let replace = command(A::SetAttribute { key: "plan".into(), value: json!("free") });
    framework()
        .given(full)
        .when(replace)
        .then_expect_events(vec![past(C::AttributeSet { key: "plan".into(), value: json!("free") })]);
}

#[test]
fn the_first_conversation_on_an_inbox_stays_the_contacts_there() {
    let record = |inbox_id, conversation_id| command(A::RecordConversation { inbox_id, conversation_id });
    let recorded = past(C::ConversationRecorded { inbox_id: SMS, conversation_id: CONV_SMS });
    framework().given(vec![created()]).when(record(SMS, CONV_SMS)).then_expect_events(vec![recorded.clone()]);
    framework().given(vec![created(), recorded.clone()]).when(record(SMS, CONV_SMS)).then_expect_events(vec![]);
    framework().given(vec![created(), recorded.clone()]).when(record(SMS, CONV_OTHER)).then_expect_events(vec![]);
    framework().given(vec![created()]).when(record(WHATSAPP, CONV_OTHER)).then_expect_events(vec![]);
    let state = fold([created(), recorded]);
    assert_eq!(state.conversations, BTreeMap::from([(WHATSAPP, CONV_WA), (SMS, CONV_SMS)]));
}

#[test]
fn a_value_for_a_key_defined_for_contacts_meets_its_definition_and_other_keys_are_free() {
    let set = |key: &str, value: Value| command(A::SetAttribute { key: key.into(), value });
    // `tier` is defined for the workspace's contacts: a list of silver and gold.
    framework()
        .given(vec![created()])
        .when(set("tier", json!("gold")))
        .then_expect_events(vec![past(C::AttributeSet { key: "tier".into(), value: json!("gold") })]);
    framework().given(vec![created()]).when(set("tier", json!("bronze"))).then_expect_error(ContactError::Validation {
        field: "attributes.tier".into(),
        reason: "must be one of the options: silver, gold".into(),
    });
    framework().given(vec![created()]).when(set("tier", Value::Null)).then_expect_events(vec![]);
    // A key nobody defined takes any value.
    framework()
        .given(vec![created()])
        .when(set("shoe_size", json!(44)))
        .then_expect_events(vec![past(C::AttributeSet { key: "shoe_size".into(), value: json!(44) })]);
}
