//! The projection contract, exercised with a tiny counter projection over hand-built log events:
//! which rows a batch loads, how the fold sees them, which rows it reports changed, and how a
//! failure is reported.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Utc};
use convo_domain::LogEvent;
use serde_json::{Value, json};

use super::{Batch, Changes, Projection, ProjectionError, Rows, prepare};

/// One counter per aggregate id of the `counter` aggregate type; everything else is ignored.
#[derive(Default)]
struct Counters {
    /// How many times `decode` was called: each event is decoded once, by `prepare`.
    decoded: AtomicUsize,
}

#[derive(Debug, Clone, PartialEq)]
enum Change {
    /// Adds to the counter, creating it at 0 if it does not exist.
    Add(i64),
    /// Adds one to the counter only if it exists.
    Bump,
    /// Deletes the counter.
    Reset,
    /// Moves the counter's value to another counter (two rows).
    MoveTo(String),
    /// Always fails to fold.
    Explode,
}

impl Projection for Counters {
    const NAME: &'static str = "counters";
    type Event = Change;
    type Key = String;
    type Row = i64;

    fn decode(&self, event: &LogEvent) -> Result<Option<Change>, String> {
        self.decoded.fetch_add(1, Ordering::Relaxed);
        if event.aggregate_type != "counter" {
            return Ok(None);
        }
        let change = match event.event_type.as_str() {
            "Added" => Change::Add(event.payload["by"].as_i64().ok_or("Added without a whole `by`")?),
            "Bumped" => Change::Bump,
            "Reset" => Change::Reset,
            "Moved" => Change::MoveTo(event.payload["to"].as_str().ok_or("Moved without `to`")?.to_owned()),
            "Exploded" => Change::Explode,
            "Ignored" => return Ok(None),
            other => return Err(format!("unknown event type {other}")),
        };
        Ok(Some(change))
    }

    fn keys(&self, event: &LogEvent, decoded: &Change, into: &mut Vec<String>) {
        into.push(event.aggregate_id.clone());
        if let Change::MoveTo(to) = decoded {
            into.push(to.clone());
        }
    }

    fn apply(&self, event: &LogEvent, decoded: Change, rows: &mut Rows<String, i64>) -> Result<(), String> {
        let id = &event.aggregate_id;
        match decoded {
            Change::Add(by) => match rows.get_mut(id) {
                Some(count) => *count += by,
                None => rows.put(id.clone(), by),
            },
            Change::Bump => {
                if let Some(count) = rows.get_mut(id) {
                    *count += 1;
                }
            }
            Change::Reset => rows.remove(id),
            Change::MoveTo(to) => {
                let moved = *rows.get(id).ok_or_else(|| format!("counter {id} does not exist"))?;
                let total = rows.get(&to).copied().unwrap_or(0) + moved;
                rows.remove(id);
                rows.put(to, total);
            }
            Change::Explode => return Err("cannot fold an explosion".to_owned()),
        }
        Ok(())
    }
}

fn recorded_at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_725_600, 0).expect("a valid time")
}

fn event(position: i64, aggregate_type: &str, id: &str, event_type: &str, payload: Value) -> LogEvent {
    LogEvent {
        position,
        workspace_id: Some("7d1e0b52-32c4-4a5e-9a51-1c2a3b4c5d6e".to_owned()),
        aggregate_type: aggregate_type.to_owned(),
        aggregate_id: id.to_owned(),
        // Unlike the position, so that an error naming the wrong one shows.
        sequence: 1,
        event_type: event_type.to_owned(),
        event_version: "1".to_owned(),
        payload,
        metadata: json!({}),
        recorded_at: recorded_at(),
        decoded: Default::default(),
    }
}

fn added(position: i64, id: &str, by: i64) -> LogEvent {
    event(position, "counter", id, "Added", json!({"by": by}))
}

fn counter(position: i64, id: &str, event_type: &str) -> LogEvent {
    event(position, "counter", id, event_type, json!({}))
}

fn keys(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|&id| id.to_owned()).collect()
}

fn loaded(rows: &[(&str, i64)]) -> HashMap<String, i64> {
    rows.iter().map(|&(id, count)| (id.to_owned(), count)).collect()
}

fn changes(rows: &[(&str, Option<i64>)]) -> Changes<Counters> {
    rows.iter().map(|&(id, count)| (id.to_owned(), count)).collect()
}

/// Prepares and folds `events` over `loaded`.
fn fold(events: &[LogEvent], loaded: HashMap<String, i64>) -> Result<Changes<Counters>, ProjectionError> {
    let projection = Counters::default();
    prepare(&projection, events)?.apply(&projection, loaded)
}

// prepare

#[test]
fn prepare_lists_each_key_once_in_the_order_first_needed() {
    let events = [added(1, "b", 1), added(2, "a", 1), added(3, "b", 1), counter(4, "a", "Bumped"), added(5, "c", 1)];

    let batch: Batch<'_, Counters> = prepare(&Counters::default(), &events).expect("prepare");

    assert_eq!(batch.keys, keys(&["b", "a", "c"]));
}

#[test]
fn prepare_collects_every_key_an_event_needs() {
    let events = [added(1, "a", 1), event(2, "counter", "a", "Moved", json!({"to": "z"})), added(3, "z", 1)];

    let batch = prepare(&Counters::default(), &events).expect("prepare");

    assert_eq!(batch.keys, keys(&["a", "z"]));
}

#[test]
fn prepare_decodes_each_event_once() {
    let projection = Counters::default();
    let events = [added(1, "a", 1), added(2, "a", 2), event(3, "inbox", "x", "Added", json!({"by": 1}))];

    let batch = prepare(&projection, &events).expect("prepare");
    let _ = batch.apply(&projection, HashMap::new()).expect("apply");

    assert_eq!(projection.decoded.load(Ordering::Relaxed), 3);
}

#[test]
fn events_the_projection_ignores_need_no_rows_and_change_nothing() {
    let events = [
        event(1, "inbox", "a", "Added", json!({"by": 5})),
        counter(2, "b", "Ignored"),
        event(3, "conversation", "c", "Exploded", json!({})),
    ];

    let batch = prepare(&Counters::default(), &events).expect("prepare");
    assert_eq!(batch.keys, Vec::<String>::new());

    assert_eq!(batch.apply(&Counters::default(), loaded(&[("a", 1), ("b", 2)])), Ok(vec![]));
}

#[test]
fn ignored_events_between_folded_ones_are_skipped() {
    let events = [added(1, "a", 1), event(2, "inbox", "a", "Added", json!({"by": 100})), added(3, "a", 2)];

    assert_eq!(fold(&events, HashMap::new()), Ok(changes(&[("a", Some(3))])));
}

#[test]
fn an_empty_batch_needs_no_rows_and_changes_nothing() {
    let batch = prepare(&Counters::default(), &[]).expect("prepare");

    assert!(batch.keys.is_empty());
    assert_eq!(batch.apply(&Counters::default(), HashMap::new()), Ok(vec![]));
}

// Batch::apply

#[test]
fn loaded_rows_are_folded_from_their_stored_value() {
    let events = [added(1, "a", 5), added(2, "a", -2)];

    assert_eq!(fold(&events, loaded(&[("a", 10)])), Ok(changes(&[("a", Some(13))])));
}

#[test]
fn rows_absent_from_loaded_do_not_exist() {
    let events = [added(1, "a", 5), counter(2, "b", "Bumped")];

    assert_eq!(fold(&events, HashMap::new()), Ok(changes(&[("a", Some(5))])));
}

#[test]
fn loaded_rows_no_event_needs_are_not_reported() {
    let events = [added(1, "a", 1)];

    assert_eq!(fold(&events, loaded(&[("a", 1), ("unrelated", 7)])), Ok(changes(&[("a", Some(2))])));
}

#[test]
fn only_touched_rows_are_reported_in_the_order_first_touched() {
    let events = [added(1, "c", 1), counter(2, "b", "Bumped"), added(3, "a", 1), added(4, "c", 1)];

    let result = fold(&events, loaded(&[("a", 10), ("d", 40), ("c", 30)]));

    // b does not exist (the bump touches nothing) and d is loaded but never touched.
    assert_eq!(result, Ok(changes(&[("c", Some(32)), ("a", Some(11))])));
}

#[test]
fn a_removed_row_is_reported_as_none() {
    let events = [counter(1, "a", "Reset")];

    assert_eq!(fold(&events, loaded(&[("a", 10), ("b", 20)])), Ok(changes(&[("a", None)])));
}

#[test]
fn a_row_removed_then_recreated_is_reported_once_with_its_last_value() {
    let events = [added(1, "a", 1), counter(2, "a", "Reset"), added(3, "b", 1), added(4, "a", 7)];

    let result = fold(&events, loaded(&[("a", 10)]));

    assert_eq!(result, Ok(changes(&[("a", Some(7)), ("b", Some(1))])));
}

#[test]
fn a_row_created_then_removed_in_one_batch_is_reported_as_none() {
    let events = [added(1, "a", 1), counter(2, "a", "Reset")];

    assert_eq!(fold(&events, HashMap::new()), Ok(changes(&[("a", None)])));
}

#[test]
fn an_event_can_change_several_rows() {
    let events = [event(1, "counter", "a", "Moved", json!({"to": "z"}))];

    let result = fold(&events, loaded(&[("a", 3), ("z", 4)]));

    assert_eq!(result, Ok(changes(&[("a", None), ("z", Some(7))])));
}

#[test]
fn a_decode_error_names_the_projection_and_the_event_position() {
    let events = [added(10, "a", 1), event(20, "counter", "a", "Added", json!({"by": "lots"})), added(30, "a", 1)];

    let error = prepare(&Counters::default(), &events).err().expect("a decode error");

    assert_eq!(
        error,
        ProjectionError { projection: "counters", position: 20, reason: "Added without a whole `by`".to_owned() }
    );
    assert_eq!(error.to_string(), "counters cannot apply the event at position 20: Added without a whole `by`");
}

#[test]
fn an_apply_error_names_the_projection_and_the_event_position() {
    let events = [added(10, "a", 1), counter(25, "b", "Exploded"), added(30, "a", 1)];

    let result = fold(&events, HashMap::new());

    assert_eq!(
        result,
        Err(ProjectionError { projection: "counters", position: 25, reason: "cannot fold an explosion".to_owned() })
    );
}

#[test]
fn an_apply_error_on_a_missing_row_names_its_position() {
    let events = [event(42, "counter", "ghost", "Moved", json!({"to": "z"}))];

    let error = fold(&events, HashMap::new()).expect_err("moving a counter that does not exist");

    assert_eq!(error.to_string(), "counters cannot apply the event at position 42: counter ghost does not exist");
}

// Rows

#[test]
fn rows_reads_the_loaded_rows_of_its_keys_only() {
    let rows = Rows::new(keys(&["a", "b"]), loaded(&[("a", 1), ("c", 3)]));

    assert_eq!(rows.get(&"a".to_owned()), Some(&1));
    assert_eq!(rows.get(&"b".to_owned()), None);
    assert_eq!(rows.get(&"c".to_owned()), None);
    assert_eq!(rows.get(&"never asked".to_owned()), None);
}

#[test]
fn reading_a_row_does_not_touch_it() {
    let rows = Rows::new(keys(&["a"]), loaded(&[("a", 1)]));
    assert_eq!(rows.get(&"a".to_owned()), Some(&1));

    assert_eq!(rows.into_changes(), vec![]);
}

#[test]
fn get_mut_on_a_missing_row_touches_nothing() {
    let mut rows: Rows<String, i64> = Rows::new(keys(&["a", "b"]), loaded(&[("b", 2)]));

    assert_eq!(rows.get_mut(&"a".to_owned()), None);
    assert_eq!(rows.get_mut(&"not a key".to_owned()), None);

    assert_eq!(rows.into_changes(), vec![]);
}

#[test]
fn get_mut_on_a_removed_row_touches_nothing_more() {
    let mut rows = Rows::new(keys(&["a", "b"]), loaded(&[("a", 1), ("b", 2)]));
    rows.remove(&"b".to_owned());

    assert_eq!(rows.get_mut(&"b".to_owned()), None);
    assert_eq!(rows.get(&"b".to_owned()), None);

    assert_eq!(rows.into_changes(), vec![("b".to_owned(), None)]);
}

#[test]
fn get_mut_on_an_existing_row_touches_it_even_if_unchanged() {
    let mut rows = Rows::new(keys(&["a", "b"]), loaded(&[("a", 1), ("b", 2)]));

    let _ = rows.get_mut(&"b".to_owned());
    *rows.get_mut(&"a".to_owned()).expect("a exists") += 10;

    assert_eq!(rows.into_changes(), vec![("b".to_owned(), Some(2)), ("a".to_owned(), Some(11))]);
}

#[test]
fn put_creates_a_row_even_outside_the_loaded_keys() {
    let mut rows = Rows::new(keys(&["a"]), HashMap::new());

    rows.put("z".to_owned(), 26);
    rows.put("a".to_owned(), 1);
    rows.put("z".to_owned(), 27);

    assert_eq!(rows.get(&"z".to_owned()), Some(&27));
    assert_eq!(rows.into_changes(), vec![("z".to_owned(), Some(27)), ("a".to_owned(), Some(1))]);
}

#[test]
fn removing_a_row_that_never_existed_is_reported_as_none() {
    let mut rows: Rows<String, i64> = Rows::new(keys(&["a"]), HashMap::new());

    rows.remove(&"a".to_owned());

    assert_eq!(rows.into_changes(), vec![("a".to_owned(), None)]);
}

// ProjectionError

#[test]
fn a_projection_error_reads_as_a_sentence() {
    let error = ProjectionError { projection: "inbox", position: 1234, reason: "bad payload".to_owned() };

    assert_eq!(error.to_string(), "inbox cannot apply the event at position 1234: bad payload");
}

#[test]
fn a_key_given_twice_keeps_its_loaded_row() {
    let rows: Rows<&str, i32> = Rows::new(vec!["a", "a"], HashMap::from([("a", 1)]));
    assert_eq!(rows.get(&"a"), Some(&1));
}
