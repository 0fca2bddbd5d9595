//! Commands on several aggregates committed together (`convo_store::Unit`, decision 0005):
//! all of their events or none, on both backends, also when a stream was taken meanwhile by
//! another node and when PostgreSQL's group committer is appending around conflicts.

use std::collections::HashMap;
use std::sync::Arc;

use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::webhook::{DisabledReason, WebhookEndpointAction};
use convo_domain::{Actor, ChannelType, WebhookEndpointCommand};
use convo_store::{Backend, CommandError, Engine, StoreError, Unit};
use cqrs_es::persist::{PersistenceError, SerializedEvent};
use serde_json::json;
use uuid::Uuid;

use crate::support::{API_WS, engine, on_both_backends, whole_log};

on_both_backends!(
    a_unit_writes_its_streams_together_and_keeps_their_caches,
    a_unit_whose_stream_another_node_took_writes_nothing_and_decides_again,
    a_raw_append_of_several_streams_is_whole_or_refused_also_around_conflicts,
    several_commands_on_one_aggregate_in_a_unit_follow_each_other,
    an_aggregate_a_unit_took_for_new_but_another_node_had_made_is_decided_again_on_it,
);

fn metadata() -> HashMap<String, String> {
    convo_store::metadata(API_WS, [("command".to_owned(), "test".to_owned())])
}

fn create_inbox(inbox_id: Uuid) -> InboxCommand {
    InboxCommand {
        workspace_id: API_WS,
        actor: Actor::system("test"),
        action: InboxAction::Create { inbox_id, name: "Support".into(), channel: ChannelType::Sms, policy: None },
    }
}

fn switch(webhook_id: Uuid, action: WebhookEndpointAction) -> WebhookEndpointCommand {
    WebhookEndpointCommand { workspace_id: API_WS, webhook_id, actor: Actor::system("test"), action }
}

fn disable(webhook_id: Uuid) -> WebhookEndpointCommand {
    switch(webhook_id, WebhookEndpointAction::Disable { reason: DisabledReason::Requested, detail: "test".into() })
}

/// (aggregate type, id, sequence) of every event in the log, in log order.
async fn streams<B: Backend>(engine: &Engine<B>) -> Vec<(String, String, i64)> {
    whole_log(engine).await.into_iter().map(|e| (e.aggregate_type, e.aggregate_id, e.sequence)).collect()
}

async fn a_unit_writes_its_streams_together_and_keeps_their_caches<B: Backend>(backend: B) {
    let t = engine(backend);
    let (inbox, hook) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let mut unit = Unit::new(1);
    let created = unit.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &metadata()).await;
    assert_eq!(created.expect("decided").events.len(), 1);
    let switched = unit.decide(&t.engine.webhook_endpoints, &hook.to_string(), disable(hook), &metadata()).await;
    assert_eq!(switched.expect("decided").state.enabled, Some(false));
    assert_eq!(streams(&t.engine).await, [], "nothing before the commit");
    let position = unit.commit().await.expect("committed").expect("a position");
    let log = whole_log(&t.engine).await;
    let written: Vec<(&str, &str, i64)> =
        log.iter().map(|e| (e.aggregate_type.as_str(), e.aggregate_id.as_str(), e.sequence)).collect();
    assert_eq!(written, [("inbox", inbox.to_string().as_str(), 1), ("webhook_endpoint", hook.to_string().as_str(), 1)]);
    assert_eq!(log[1].position, position, "the position of the last event");
    // The caches hold what was committed: the next command on each reads nothing from the store.
    let loaded = (t.engine.inboxes.events_loaded(), t.engine.webhook_endpoints.events_loaded());
    let delete = InboxCommand { action: InboxAction::Delete, ..create_inbox(inbox) };
    let deleted = t.engine.inboxes.execute(&inbox.to_string(), delete, &metadata()).await.expect("deleted");
    let enable = switch(hook, WebhookEndpointAction::Enable);
    let enabled = t.engine.webhook_endpoints.execute(&hook.to_string(), enable, &metadata()).await.expect("enabled");
    assert_eq!((deleted.version, deleted.attempts, enabled.version, enabled.attempts), (2, 1, 2, 1));
    assert_eq!((t.engine.inboxes.events_loaded(), t.engine.webhook_endpoints.events_loaded()), loaded);
}

async fn a_unit_whose_stream_another_node_took_writes_nothing_and_decides_again<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let other_node = Arc::new(Engine::new(backend, t.clock.clone()));
    let (inbox, hook) = (Uuid::from_u128(3), Uuid::from_u128(4));
    let mut unit = Unit::new(1);
    unit.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &metadata()).await.expect("decided");
    unit.decide(&t.engine.webhook_endpoints, &hook.to_string(), disable(hook), &metadata()).await.expect("decided");
    // Meanwhile another node switches the endpoint off: its sequence 1 is taken.
    other_node.webhook_endpoints.execute(&hook.to_string(), disable(hook), &metadata()).await.expect("theirs");
    let refused = unit.commit().await;
    assert!(matches!(refused, Err(CommandError::Store(StoreError::Conflict))), "{refused:?}");
    assert_eq!(streams(&t.engine).await, [("webhook_endpoint".into(), hook.to_string(), 1)], "none of the unit");
    // Decided again, caught up: the endpoint is off already (no event), the inbox is created.
    let mut again = Unit::new(2);
    again.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &metadata()).await.expect("decided");
    let switched = again.decide(&t.engine.webhook_endpoints, &hook.to_string(), disable(hook), &metadata()).await;
    assert_eq!(switched.expect("decided").events.len(), 0, "off already");
    again.commit().await.expect("committed");
    let expected = [("webhook_endpoint".into(), hook.to_string(), 1), ("inbox".into(), inbox.to_string(), 1)];
    assert_eq!(streams(&t.engine).await, expected);
}

fn event(aggregate_type: &str, id: &str, sequence: usize) -> SerializedEvent {
    SerializedEvent::new(
        id.to_owned(),
        sequence,
        aggregate_type.to_owned(),
        "Probed".into(),
        "1.0.0".into(),
        json!({"n": sequence}),
        json!({"workspace_id": API_WS.to_string()}),
    )
}

/// At the backend: an append of two streams is written whole, or refused whole when one of its
/// streams' sequences is taken, while single appends around it go on. On PostgreSQL the first
/// conflict puts the group committer in its tolerant mode, whose statement keeps or drops each
/// stream on its own; an append of several streams must still not be cut in two there.
async fn a_raw_append_of_several_streams_is_whole_or_refused_also_around_conflicts<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    backend.append(&[event("probe", "a", 1)]).await.expect("a 1");
    let taken = backend.append(&[event("probe", "a", 1)]).await;
    assert!(matches!(taken, Err(PersistenceError::OptimisticLockError)), "{taken:?}");
    // Now tolerant (PostgreSQL): a unit with one stream free and one taken, among singles.
    let unit = [event("probe", "b", 1), event("probe", "a", 1), event("probe", "a", 2)];
    let singles: Vec<_> = (0..20).map(|i| vec![event("single", &format!("s{i}"), 1)]).collect();
    let refused = backend.append(&unit);
    let appended = futures::future::join_all(singles.iter().map(|events| backend.append(events)));
    let (refused, appended) = tokio::join!(refused, appended);
    assert!(matches!(refused, Err(PersistenceError::OptimisticLockError)), "{refused:?}");
    assert!(appended.iter().all(Result::is_ok), "{appended:?}");
    let written = streams(&t.engine).await;
    assert!(!written.iter().any(|(_, id, _)| id == "b"), "b without a 2 would be half the unit: {written:?}");
    assert_eq!(written.iter().filter(|(kind, _, _)| kind == "single").count(), 20);
    // A unit whose streams are free is written whole, in its order, in that mode too.
    let whole = [event("probe", "b", 1), event("probe", "a", 2), event("probe", "b", 2)];
    let last = backend.append(&whole).await.expect("whole");
    let written = streams(&t.engine).await;
    let tail: Vec<(&str, i64)> = written[written.len() - 3..].iter().map(|(_, id, s)| (id.as_str(), *s)).collect();
    assert_eq!(tail, [("b", 1), ("a", 2), ("b", 2)]);
    assert_eq!(whole_log(&t.engine).await.last().map(|e| e.position), Some(last));
}

/// Two commands on one aggregate in a unit: the second is decided on what the first left, and
/// both are written at consecutive sequences with the other aggregate's events.
async fn several_commands_on_one_aggregate_in_a_unit_follow_each_other<B: Backend>(backend: B) {
    let t = engine(backend);
    let (inbox, hook) = (Uuid::from_u128(5), Uuid::from_u128(6));
    let (endpoints, id, meta) = (&t.engine.webhook_endpoints, hook.to_string(), metadata());
    let enable = || switch(hook, WebhookEndpointAction::Enable);
    let mut unit = Unit::new(1);
    let off = unit.decide(endpoints, &id, disable(hook), &meta).await.expect("off");
    unit.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &meta).await.expect("inbox");
    let on = unit.decide(endpoints, &id, enable(), &meta).await.expect("on");
    let again = unit.decide(endpoints, &id, enable(), &meta).await.expect("a repeat");
    assert_eq!(again.events.len(), 0, "on already, within the unit");
    assert_eq!((off.version, on.version, on.state.enabled), (0, 1, Some(true)));
    unit.commit().await.expect("committed");
    let expected = [
        ("webhook_endpoint".into(), hook.to_string(), 1),
        ("inbox".into(), inbox.to_string(), 1),
        ("webhook_endpoint".into(), hook.to_string(), 2),
    ];
    assert_eq!(streams(&t.engine).await, expected);
    let loaded = endpoints.events_loaded();
    let off_again = endpoints.execute(&id, disable(hook), &meta).await.expect("off again");
    assert_eq!((off_again.version, endpoints.events_loaded()), (3, loaded), "its cache holds version 2");
}

/// A unit decides an aggregate its cache does not hold as a new one, without reading it (what
/// a unit mostly creates is new). One another node had made already: the append conflicts,
/// nothing is written, and the next try reads it and decides on what it is.
async fn an_aggregate_a_unit_took_for_new_but_another_node_had_made_is_decided_again_on_it<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let other_node = Engine::new(backend, t.clock.clone());
    let (inbox, hook) = (Uuid::from_u128(7), Uuid::from_u128(8));
    other_node.inboxes.execute(&inbox.to_string(), create_inbox(inbox), &metadata()).await.expect("theirs");
    let mut unit = Unit::new(1);
    let guessed = unit.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &metadata()).await;
    assert_eq!(guessed.expect("decided as new").version, 0);
    unit.decide(&t.engine.webhook_endpoints, &hook.to_string(), disable(hook), &metadata()).await.expect("decided");
    let refused = unit.commit().await;
    assert!(matches!(refused, Err(CommandError::Store(StoreError::Conflict))), "{refused:?}");
    let mut again = Unit::new(2);
    let created = again.decide(&t.engine.inboxes, &inbox.to_string(), create_inbox(inbox), &metadata()).await;
    assert!(matches!(created, Err(CommandError::Rejected(convo_domain::InboxError::AlreadyExists))), "{created:?}");
    assert_eq!(streams(&t.engine).await, [("inbox".into(), inbox.to_string(), 1)], "only theirs");
}
