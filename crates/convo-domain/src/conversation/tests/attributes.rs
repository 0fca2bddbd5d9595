//! Custom attributes on a conversation: defined keys only, values of the definition's type.

use serde_json::{Value, json};

use super::*;

fn set(pairs: &[(&str, Value)]) -> ConversationCommand {
    let attributes = pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
    command(agent(), A::SetAttributes { attributes })
}

fn attribute_set(key: &str, value: Value) -> C {
    C::AttributeSet { key: key.into(), value }
}

#[test]
fn attributes_are_set_changed_and_removed_each_once() {
    let s = Scenario::new();
    s.given(conversation()).when(set(&[("seats", json!(12)), ("plan", json!("gold"))])).then_expect_events(vec![
        s.event(agent(), attribute_set("plan", json!("gold"))),
        s.event(agent(), attribute_set("seats", json!(12))),
    ]);
    let given = and(conversation(), [past(agent(), attribute_set("plan", json!("gold")))]);
    s.given(given.clone()).when(set(&[("plan", json!("gold"))])).then_expect_events(vec![]);
    s.given(given.clone())
        .when(set(&[("plan", json!("free")), ("renewal", Value::Null)]))
        .then_expect_events(vec![s.event(agent(), attribute_set("plan", json!("free")))]);
    s.given(given.clone())
        .when(set(&[("plan", Value::Null)]))
        .then_expect_events(vec![s.event(agent(), C::AttributeRemoved { key: "plan".into() })]);
    let history = s.run(given, set(&[("renewal", json!("2027-01-31"))]));
    let state = fold(&history);
    assert_eq!(state.attributes.get("plan"), Some(&json!("gold")));
    assert_eq!(state.attributes.get("renewal"), Some(&json!("2027-01-31")));
}

#[test]
fn a_value_must_meet_a_definition_of_the_workspaces_conversations() {
    let s = Scenario::new();
    let cases = [
        ("plan", json!("silver"), "must be one of the options: free, gold"),
        ("seats", json!("12"), "must be a number (the attribute's type is number)"),
        ("renewal", json!("31/01/2027"), "a date attribute is a calendar date, YYYY-MM-DD"),
        // A contact attribute, another workspace's, and none at all: not defined here.
        ("tier", json!("a"), "no conversation attribute is defined with this key"),
        ("region", json!("eu"), "no conversation attribute is defined with this key"),
        ("colour", json!("red"), "no conversation attribute is defined with this key"),
        ("Colour", json!("red"), "a key must be 1 to 64 characters of a-z, 0-9 and _"),
    ];
    for (key, value, reason) in cases {
        // A valid value beside it is not written either.
        s.given(conversation())
            .when(set(&[("seats", json!(3)), (key, value)]))
            .then_expect_error(validation(&format!("attributes.{key}"), reason));
    }
    s.given_no_previous_events().when(set(&[("plan", json!("gold"))])).then_expect_error(ConversationError::NotFound);
}
