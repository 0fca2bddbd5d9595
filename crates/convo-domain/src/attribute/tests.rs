//! Given/when/then tests of attribute definitions, the values they take, and the fixed
//! definitions the other aggregates' tests ask.

use std::collections::BTreeMap;

use chrono::DateTime;
use cqrs_es::test::TestFramework;
use futures::FutureExt;
use serde_json::json;

use super::*;
use crate::ManualClock;

const WS: Uuid = Uuid::from_u128(0x1000);
const OTHER_WS: Uuid = Uuid::from_u128(0x2000);

/// Fixed definitions: what tests of conversations and contacts ask.
#[derive(Default)]
pub(crate) struct FixedAttributes(pub BTreeMap<(Uuid, AttributeModel, String), AttributeFacts>);

impl FixedAttributes {
    pub fn with(
        mut self,
        workspace_id: Uuid,
        model: AttributeModel,
        key: &str,
        t: AttributeType,
        options: &[&str],
    ) -> Self {
        let options = options.iter().map(|o| (*o).to_owned()).collect();
        self.0.insert((workspace_id, model, key.to_owned()), AttributeFacts { attribute_type: t, options });
        self
    }
}

impl AttributeLookup for FixedAttributes {
    fn definition<'a>(
        &'a self,
        workspace_id: Uuid,
        model: AttributeModel,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<AttributeFacts>, String>> {
        async move { Ok(self.0.get(&(workspace_id, model, key.to_owned())).cloned()) }.boxed()
    }
}

fn framework() -> TestFramework<AttributeDefinition> {
    let at = DateTime::from_timestamp(1_767_225_600, 0).expect("a time");
    TestFramework::with(AttributeServices { clock: Arc::new(ManualClock::new(at)) })
}

fn command(action: AttributeAction) -> AttributeCommand {
    AttributeCommand { workspace_id: WS, actor: Actor::agent("admin"), action }
}

fn event(change: AttributeChange) -> AttributeEvent {
    let at = DateTime::from_timestamp(1_767_225_600, 0).expect("a time");
    AttributeEvent { occurred_at: at, actor: Actor::agent("admin"), change }
}

fn define(key: &str, t: AttributeType, options: &[&str]) -> AttributeAction {
    let options = options.iter().map(|o| (*o).to_owned()).collect();
    AttributeAction::Define {
        model: AttributeModel::Conversation,
        key: key.into(),
        name: " Plan ".into(),
        attribute_type: t,
        options,
    }
}

fn defined(key: &str, t: AttributeType, options: &[&str]) -> AttributeChange {
    let options = options.iter().map(|o| (*o).to_owned()).collect();
    AttributeChange::Defined {
        workspace_id: WS,
        model: AttributeModel::Conversation,
        key: key.into(),
        name: "Plan".into(),
        attribute_type: t,
        options,
    }
}

fn invalid(field: &str, reason: &str) -> AttributeError {
    AttributeError::Validation { field: field.into(), reason: reason.into() }
}

#[test]
fn a_key_is_defined_once_while_live_and_anew_after_its_deletion() {
    let list = defined("plan", AttributeType::List, &["free", "gold"]);
    framework()
        .given_no_previous_events()
        .when(command(define("plan", AttributeType::List, &["free", "gold"])))
        .then_expect_events(vec![event(list.clone())]);
    framework()
        .given(vec![event(list.clone())])
        .when(command(define("plan", AttributeType::Text, &[])))
        .then_expect_error(AttributeError::AlreadyExists);
    framework()
        .given(vec![event(list.clone()), event(AttributeChange::Deleted {})])
        .when(command(define("plan", AttributeType::Text, &[])))
        .then_expect_events(vec![event(defined("plan", AttributeType::Text, &[]))]);
    framework()
        .given(vec![event(list.clone())])
        .when(command(AttributeAction::Delete))
        .then_expect_events(vec![event(AttributeChange::Deleted {})]);
    framework()
        .given(vec![event(list), event(AttributeChange::Deleted {})])
        .when(command(AttributeAction::Delete))
        .then_expect_events(vec![]);
    framework()
        .given_no_previous_events()
        .when(command(AttributeAction::Delete))
        .then_expect_error(AttributeError::NotFound);
}

#[test]
fn a_definition_needs_a_key_a_name_and_options_for_a_list_only() {
    let cases = [
        (
            define("Plan", AttributeType::Text, &[]),
            invalid("key", "a key must be 1 to 64 characters of a-z, 0-9 and _"),
        ),
        (define("plan", AttributeType::Text, &["x"]), invalid("options", "only a list has options")),
        (define("plan", AttributeType::List, &[]), invalid("options", "a list has 1 to 100 options")),
        (define("plan", AttributeType::List, &["a", "a"]), invalid("options[1]", "repeats an earlier option")),
        (define("plan", AttributeType::List, &[" "]), invalid("options[0]", "must be 1 to 100 characters")),
    ];
    for (action, error) in cases {
        framework().given_no_previous_events().when(command(action)).then_expect_error(error);
    }
    let nameless = AttributeAction::Define {
        model: AttributeModel::Contact,
        key: "plan".into(),
        name: "  ".into(),
        attribute_type: AttributeType::Text,
        options: vec![],
    };
    framework()
        .given_no_previous_events()
        .when(command(nameless))
        .then_expect_error(invalid("name", "must be 1 to 200 characters"));
}

#[test]
fn a_change_renames_or_gives_a_list_new_options_and_nothing_else() {
    let list = event(defined("plan", AttributeType::List, &["free", "gold"]));
    let options = |o: &[&str]| Some(o.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
    framework()
        .given(vec![list.clone()])
        .when(command(AttributeAction::Change {
            name: Some("Plan".into()),
            options: options(&["free", "gold", "platinum"]),
        }))
        .then_expect_events(vec![event(AttributeChange::Changed {
            name: None,
            options: options(&["free", "gold", "platinum"]),
        })]);
    framework()
        .given(vec![list.clone()])
        .when(command(AttributeAction::Change { name: Some("Plan".into()), options: options(&["free", "gold"]) }))
        .then_expect_events(vec![]);
    framework()
        .given(vec![event(defined("seats", AttributeType::Number, &[]))])
        .when(command(AttributeAction::Change { name: None, options: options(&["1"]) }))
        .then_expect_error(invalid("options", "only a list has options"));
    // Another workspace's command finds nothing.
    framework()
        .given(vec![list])
        .when(AttributeCommand {
            workspace_id: OTHER_WS,
            actor: Actor::agent("admin"),
            action: AttributeAction::Delete,
        })
        .then_expect_error(AttributeError::NotFound);
}

#[test]
fn a_value_is_checked_against_its_type() {
    let facts = |t, options: &[&str]| AttributeFacts {
        attribute_type: t,
        options: options.iter().map(|o| (*o).to_owned()).collect(),
    };
    let ok = [
        (facts(AttributeType::Text, &[]), json!("hello")),
        (facts(AttributeType::Number, &[]), json!(12.5)),
        (facts(AttributeType::Boolean, &[]), json!(false)),
        (facts(AttributeType::Date, &[]), json!("2026-12-05")),
        (facts(AttributeType::List, &["free", "gold"]), json!("gold")),
    ];
    for (f, value) in ok {
        assert_eq!(f.check(&value), Ok(()), "{f:?} {value}");
    }
    let refused = [
        (facts(AttributeType::Text, &[]), json!(5), "must be a string (the attribute's type is text)"),
        (facts(AttributeType::Number, &[]), json!("5"), "must be a number (the attribute's type is number)"),
        (facts(AttributeType::Boolean, &[]), json!("yes"), "must be true or false (the attribute's type is boolean)"),
        (facts(AttributeType::Date, &[]), json!("2026-02-30"), "a date attribute is a calendar date, YYYY-MM-DD"),
        (
            facts(AttributeType::Date, &[]),
            json!("2026-12-05T10:00:00Z"),
            "a date attribute is a calendar date, YYYY-MM-DD",
        ),
        (facts(AttributeType::List, &["free", "gold"]), json!("silver"), "must be one of the options: free, gold"),
        (facts(AttributeType::Text, &[]), json!("x".repeat(1001)), "a text attribute has at most 1000 characters"),
    ];
    for (f, value, reason) in refused {
        assert_eq!(f.check(&value), Err(reason.to_owned()), "{f:?} {value}");
    }
}
