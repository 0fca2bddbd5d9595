//! Creating a contact: what it records, in which spelling, and each input it refuses.

use super::*;

#[test]
fn creating_a_contact_records_its_inputs_in_their_canonical_form() {
    let command = create(Fields {
        name: Some("  Ada  ".into()),
        avatar_url: Some("https://cdn.example.com/ada.png".into()),
        identities: vec![email(), phone(), email()],
        tags: vec!["VIP".into(), "billing".into(), "vip".into()],
        attributes: attributes(&[("plan", json!("pro")), ("gone", Value::Null), ("seats", json!(3))]),
        conversation: Some((WHATSAPP, CONV_WA)),
    });
    framework().given_no_previous_events().when(command).then_expect_events(vec![past(C::Created {
        contact_id: CONTACT,
        workspace_id: WS,
        name: Some("Ada".into()),
        avatar_url: Some("https://cdn.example.com/ada.png".into()),
        // Sorted (phones before emails) and each once.
        identities: vec![phone(), email()],
        tags: vec!["billing".into(), "vip".into()],
        // A null attribute is no attribute.
        attributes: attributes(&[("plan", json!("pro")), ("seats", json!(3))]),
        conversations: vec![ContactConversation { inbox_id: WHATSAPP, conversation_id: CONV_WA }],
    })]);
}

#[test]
fn a_contact_may_be_created_with_nothing_but_its_id_and_blank_texts_are_none() {
    let command = create(Fields { name: Some("   ".into()), avatar_url: Some("".into()), ..Fields::default() });
    framework().given_no_previous_events().when(command).then_expect_events(vec![past(C::Created {
        contact_id: CONTACT,
        workspace_id: WS,
        name: None,
        avatar_url: None,
        identities: vec![],
        tags: vec![],
        attributes: BTreeMap::new(),
        conversations: vec![],
    })]);
}

#[test]
fn creating_a_contact_that_exists_is_refused_whatever_its_state() {
    for given in [vec![created()], vec![created(), merged()], vec![created(), deleted()]] {
        framework().given(given).when(create(Fields::default())).then_expect_error(ContactError::AlreadyExists);
    }
}

#[test]
fn a_name_is_at_most_200_characters_and_kept_trimmed() {
    let name = |n: String| create(Fields { name: Some(n), ..Fields::default() });
    framework().given_no_previous_events().when(name("x".repeat(201))).then_expect_error(ContactError::Validation {
        field: "name".into(),
        reason: "must be 1 to 200 characters (blank for none)".into(),
    });
    let ok = framework().given_no_previous_events().when(name(format!(" {} ", "é".repeat(198)))).inspect_result();
    assert!(ok.is_ok(), "200 characters, counted as characters not bytes: {ok:?}");
}

#[test]
fn an_avatar_url_is_an_http_or_https_url_of_at_most_2048_characters() {
    let avatar = |u: &str| create(Fields { avatar_url: Some(u.into()), ..Fields::default() });
    let long = format!("https://cdn.example.com/{}", "a".repeat(2048 - 24));
    for url in ["ftp://cdn.example.com/a.png", "cdn.example.com/a.png", "https://", "https://cdn.example.com/a b.png"]
        .into_iter()
        .map(str::to_owned)
        .chain([format!("{long}a"), "javascript:alert(1)".into()])
    {
        framework().given_no_previous_events().when(avatar(&url)).then_expect_error(ContactError::Validation {
            field: "avatar_url".into(),
            reason: "must be an http:// or https:// URL of at most 2048 characters, without spaces".into(),
        });
    }
    assert_eq!(long.chars().count(), 2048);
    for url in [long.as_str(), "http://cdn.example.com/a.png"] {
        let ok = framework().given_no_previous_events().when(avatar(url)).inspect_result();
        assert!(ok.is_ok(), "{url}: {ok:?}");
    }
}

#[test]
fn a_tag_is_one_word_of_1_to_64_characters() {
    let tags = |t: Vec<String>| create(Fields { tags: t, ..Fields::default() });
    for tag in [
        "".to_owned(),
        "   ".into(),
        " vip".into(),
        "two words".into(),
        "tab\there".into(),
        "bell\u{7}".into(),
        "x".repeat(65),
    ] {
        framework().given_no_previous_events().when(tags(vec!["ok".into(), tag])).then_expect_error(
            ContactError::Validation {
                field: "tags".into(),
                reason: "each tag must be 1 to 64 characters, without spaces or control characters".into(),
            },
        );
    }
    let ok = framework().given_no_previous_events().when(tags(vec!["Ä".repeat(64)])).inspect_result();
    assert!(ok.is_ok(), "64 characters: {ok:?}");
}

#[test]
fn a_contact_has_at_most_50_tags_counted_once_each() {
    let tags = |n: usize| create(Fields { tags: (0..n).map(|i| format!("t{i}")).collect(), ..Fields::default() });
    framework().given_no_previous_events().when(tags(MAX_TAGS + 1)).then_expect_error(ContactError::Validation {
        field: "tags".into(),
        reason: "a contact has at most 50 tags".into(),
    });
    let mut fifty: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
    fifty.extend(["T0".into(), "T1".into()]);
    let ok = framework().given_no_previous_events().when(create(Fields { tags: fifty, ..Fields::default() }));
    assert!(ok.inspect_result().is_ok_and(|e| matches!(&e[0].change, C::Created { tags, .. } if tags.len() == 50)));
}

#[test]
fn an_attribute_key_is_1_to_64_characters_of_lower_case_letters_digits_and_underscores() {
    for key in ["", "Plan", "plan-type", "plan type", "plän", &"k".repeat(65)] {
        let command = create(Fields { attributes: attributes(&[(key, json!(1))]), ..Fields::default() });
        framework().given_no_previous_events().when(command).then_expect_error(ContactError::Validation {
            field: format!("attributes.{key}"),
            reason: "a key must be 1 to 64 characters of a-z, 0-9 and _".into(),
        });
    }
    let key = format!("plan_2026_{}", "k".repeat(54));
    let command = create(Fields { attributes: attributes(&[(&key, json!(1))]), ..Fields::default() });
    assert!(framework().given_no_previous_events().when(command).inspect_result().is_ok());
}

#[test]
fn a_contact_has_at_most_100_attributes() {
    let many = |n: usize| (0..n).map(|i| (format!("a{i}"), json!(i))).collect::<BTreeMap<_, _>>();
    let command = create(Fields { attributes: many(MAX_ATTRIBUTES + 1), ..Fields::default() });
    framework().given_no_previous_events().when(command).then_expect_error(ContactError::Validation {
        field: "attributes".into(),
        reason: "a contact has at most 100 attributes".into(),
    });
    let command = create(Fields { attributes: many(MAX_ATTRIBUTES), ..Fields::default() });
    assert!(framework().given_no_previous_events().when(command).inspect_result().is_ok());
}

#[test]
fn a_contact_has_at_most_20_identities_counted_once_each() {
    let many = |n: usize| (0..n).map(telegram).collect::<Vec<_>>();
    let command = create(Fields { identities: many(MAX_IDENTITIES + 1), ..Fields::default() });
    framework().given_no_previous_events().when(command).then_expect_error(ContactError::Validation {
        field: "identities".into(),
        reason: "a contact has at most 20 identities".into(),
    });
    let mut twenty = many(MAX_IDENTITIES);
    twenty.push(telegram(0));
    let command = create(Fields { identities: twenty, ..Fields::default() });
    assert_eq!(refused_field(framework().given_no_previous_events().when(command).inspect_result()), None);
}

#[test]
fn the_validation_error_names_the_field_as_the_api_does() {
    let error = ContactError::validation("attributes.Plan", "a key must be 1 to 64 characters of a-z, 0-9 and _");
    assert_eq!(error.to_string(), "attributes.Plan: a key must be 1 to 64 characters of a-z, 0-9 and _");
    assert_eq!(ContactError::NotFound.to_string(), "contact not found");
    assert_eq!(ContactError::AlreadyExists.to_string(), "a contact with this id already exists");
}
