//! Merging: the merged contact's `ContactMerged` and the survivor's `ContactAbsorbed`, which
//! holds only what the survivor lacked.

use super::*;

fn absorb(
    identities: Vec<Identity>,
    tags: &[&str],
    attrs: BTreeMap<String, Value>,
    conversations: &[(Uuid, Uuid)],
) -> ContactCommand {
    command(A::Absorb {
        merged_id: OTHER,
        identities,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        attributes: attrs,
        conversations: conversations
            .iter()
            .map(|&(inbox_id, conversation_id)| ContactConversation { inbox_id, conversation_id })
            .collect(),
    })
}

#[test]
fn merging_a_contact_into_another_records_the_survivor() {
    framework()
        .given(vec![created()])
        .when(command(A::MergeInto { survivor_id: OTHER }))
        .then_expect_events(vec![merged()]);
    assert_eq!(fold([created(), merged()]).merged_into, Some(OTHER));
}

#[test]
fn a_contact_cannot_be_merged_with_itself_either_way() {
    let itself = ContactError::Validation {
        field: "contact_id".into(),
        reason: "a contact cannot be merged with itself".into(),
    };
    framework()
        .given(vec![created()])
        .when(command(A::MergeInto { survivor_id: CONTACT }))
        .then_expect_error(itself.clone());
    let mut absorb_itself = absorb(vec![], &[], BTreeMap::new(), &[]);
    if let A::Absorb { merged_id, .. } = &mut absorb_itself.action {
        *merged_id = CONTACT;
    }
    framework().given(vec![created()]).when(absorb_itself).then_expect_error(itself);
}

#[test]
fn merging_a_merged_contact_again_is_refused_saying_where_it_went() {
    let again = command(A::MergeInto { survivor_id: Uuid::from_u128(0xc003) });
    framework().given(vec![created(), merged()]).when(again).then_expect_error(ContactError::Merged { into: OTHER });
}

#[test]
fn the_survivor_absorbs_only_what_it_lacks_and_its_own_values_win() {
    let command = absorb(
        vec![bsuid(), phone(), email(), email()],
        &["VIP", "billing", "Billing"],
        attributes(&[("plan", json!("free")), ("city", json!("Berlin")), ("gone", Value::Null)]),
        &[(WHATSAPP, CONV_OTHER), (SMS, CONV_SMS), (SMS, CONV_OTHER)],
    );
    let absorbed = past(C::Absorbed {
        merged_id: OTHER,
        identities: vec![email(), bsuid()],
        tags: vec!["billing".into()],
        attributes: attributes(&[("city", json!("Berlin"))]),
        conversations: vec![ContactConversation { inbox_id: SMS, conversation_id: CONV_SMS }],
    });
    framework().given(vec![created()]).when(command).then_expect_events(vec![absorbed.clone()]);

    let state = fold([created(), absorbed]);
    assert_eq!(state.identities, vec![phone(), email(), bsuid()]);
    assert_eq!(state.tags.iter().map(String::as_str).collect::<Vec<_>>(), ["billing", "vip"]);
    assert_eq!(state.attributes, attributes(&[("city", json!("Berlin")), ("plan", json!("pro"))]));
    assert_eq!(state.conversations, BTreeMap::from([(WHATSAPP, CONV_WA), (SMS, CONV_SMS)]));
}

#[test]
fn absorbing_a_contact_that_adds_nothing_still_records_the_merge() {
    let command = absorb(vec![phone()], &["vip"], attributes(&[("plan", json!("free"))]), &[(WHATSAPP, CONV_OTHER)]);
    framework().given(vec![created()]).when(command).then_expect_events(vec![past(C::Absorbed {
        merged_id: OTHER,
        identities: vec![],
        tags: vec![],
        attributes: BTreeMap::new(),
        conversations: vec![],
    })]);
}

#[test]
fn absorbing_beyond_a_limit_is_refused_on_that_field() {
    let identities = (1..MAX_IDENTITIES).map(telegram).collect();
    let result =
        framework().given(vec![created()]).when(absorb(identities, &[], BTreeMap::new(), &[])).inspect_result();
    assert!(result.is_ok(), "19 more make 20: {result:?}");
    let identities = (0..MAX_IDENTITIES).map(telegram).collect();
    framework().given(vec![created()]).when(absorb(identities, &[], BTreeMap::new(), &[])).then_expect_error(
        ContactError::Validation { field: "identities".into(), reason: "a contact has at most 20 identities".into() },
    );

    let tags: Vec<String> = (0..MAX_TAGS).map(|n| format!("t{n}")).collect();
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    framework().given(vec![created()]).when(absorb(vec![], &tags, BTreeMap::new(), &[])).then_expect_error(
        ContactError::Validation { field: "tags".into(), reason: "a contact has at most 50 tags".into() },
    );

    let attrs = (0..MAX_ATTRIBUTES).map(|n| (format!("a{n}"), json!(n))).collect();
    let result = framework().given(vec![created()]).when(absorb(vec![], &[], attrs, &[])).inspect_result();
    assert_eq!(refused_field(result), Some("attributes".into()));

    let result =
        framework().given(vec![created()]).when(absorb(vec![], &["no good"], BTreeMap::new(), &[])).inspect_result();
    assert_eq!(refused_field(result), Some("tags".into()));
}
