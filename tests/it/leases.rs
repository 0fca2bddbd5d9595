//! Leases on both backends (decision 0003): of two runners of one read model, one folds and the
//! other stands by, following the stored checkpoint, until the first ends; and a runner that
//! stalled past its lease, while another took it over, writes nothing when it wakes up.

use std::time::Duration;

use convo_domain::ChannelType;
use convo_projection_inbox::InboxProjection;
use convo_read::{ProjectionStore, ReadModels, run_projection};
use convo_store::{Backend, Lease, ProjectionStatus, SqlStore, SqlValue, StoreError};

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{API_WS, api_key, authed, call, engine, on_both_backends, test_config};

on_both_backends!(
    one_of_two_runners_folds_and_the_other_takes_over_when_it_ends,
    a_runner_that_stalled_past_its_lease_writes_nothing,
    an_api_node_without_runners_reads_the_writes_a_worker_folds,
);

/// The lease's token: how many times it changed hands (`None`: never taken).
async fn token<S: SqlStore>(sql: &S, name: &str) -> Option<i64> {
    let query = sql.sql("SELECT token FROM follower_leases WHERE name = {1}");
    sql.scalar(&query, &[SqlValue::Text(name.into())]).await.expect("the lease")
}

async fn messages<B: Backend>(t: &crate::support::TestEngine<B>, inbox: uuid::Uuid, n: usize) -> i64 {
    for i in 0..n {
        t.inbound(inbox, &format!("+4917700{:03}", i % 5), "hello").await;
    }
    t.engine.log.head().await.expect("head")
}

async fn one_of_two_runners_folds_and_the_other_takes_over_when_it_ends<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let read = ReadModels::new(&backend);
    let ttl = Duration::from_millis(500);
    let runner = |status| {
        let lease = Lease::new(backend.sql(), "inbox", ttl);
        tokio::spawn(run_projection(InboxProjection, read.inbox.clone(), t.engine.log.clone(), status, 50, Some(lease)))
    };
    let (first_status, second_status) = (ProjectionStatus::new("inbox"), ProjectionStatus::new("inbox"));
    let first = runner(first_status.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while token(&backend.sql(), "inbox").await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "the first runner takes the lease");
        tokio::task::yield_now().await;
    }
    let second = runner(second_status.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let head = messages(&t, inbox, 20).await;
    assert!(first_status.wait_for(head, Duration::from_secs(10)).await, "the holder folds");
    // The one standing by follows what the holder stores, so reads on its node see the writes.
    assert!(second_status.wait_for(head, Duration::from_secs(10)).await, "the other follows the checkpoint");
    assert_eq!(token(&backend.sql(), "inbox").await, Some(1), "the lease never changed hands");

    first.abort(); // let go as it ends
    let head = messages(&t, inbox, 10).await;
    assert!(second_status.wait_for(head, Duration::from_secs(10)).await, "the other takes over and folds");
    assert_eq!(token(&backend.sql(), "inbox").await, Some(2), "taken over once");
    second.abort();
}

async fn a_runner_that_stalled_past_its_lease_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let read = ReadModels::new(&backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let head = messages(&t, inbox, 3).await;

    let stalled = Lease::new(backend.sql(), "inbox", Duration::from_millis(200));
    let stalled_fence = stalled.acquire().await.expect("acquire").expect("nobody holds it");
    // The holder stalls (SIGSTOP, a long pause) past its lease; another runner takes it over.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let other = Lease::new(backend.sql(), "inbox", Duration::from_secs(30));
    let other_fence = other.acquire().await.expect("acquire").expect("it expired");
    assert_eq!(other_fence.token, stalled_fence.token + 1);

    // The stalled one wakes up: it cannot renew, and its fenced commit writes nothing.
    assert!(!stalled.renew(&stalled_fence).await.expect("renew"), "its lease is gone");
    let from = read.inbox.checkpoint().await.expect("checkpoint");
    let refused = read.inbox.fenced(Some(stalled_fence)).commit(&[], from, head).await;
    assert!(matches!(refused, Err(StoreError::Conflict)), "{refused:?}");
    assert_eq!(read.inbox.checkpoint().await.expect("checkpoint"), from, "nothing written");
    // The holder's commit goes through.
    read.inbox.fenced(Some(other_fence)).commit(&[], from, head).await.expect("the holder commits");
    assert_eq!(read.inbox.checkpoint().await.expect("checkpoint"), head);
}

/// On PostgreSQL, a worker announces its runners' progress and an API node follows it
/// (LISTEN/NOTIFY), without polling: the API node's read of its own write ends as soon as the
/// worker has folded it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_api_node_learns_a_workers_progress_by_notification() {
    let pg = crate::support::TestPg::new().await;
    let t = engine(pg.backend.clone());
    let worker = std::sync::Arc::new(ReadModels::new(&pg.backend));
    let mut tasks = worker.spawn(&t.engine.log);
    tasks.extend(pg.backend.relay_progress(worker.statuses(), vec![]));
    let api_models = std::sync::Arc::new(ReadModels::new(&pg.backend));
    tasks.extend(pg.backend.relay_progress(vec![], api_models.statuses()));
    let key = api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await;
    let api = authed(convo_gateway::router(t.engine.clone(), api_models.clone(), &test_config()), key);
    for name in ["First", "Second", "Third"] {
        let created = call(&api, "POST", "/v1/inboxes", Some(json!({"name": name, "channel_type": "sms"}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let position = created.body["position"].as_i64().expect("a position");
        assert!(
            api_models.inboxes_status.wait_for(position, Duration::from_secs(5)).await,
            "the API node learns the worker folded {position}"
        );
        let listed = call(&api, "GET", &format!("/v1/inboxes?min_position={position}"), None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    }
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
}

/// `convo serve --role api` beside `--role worker`: the API node runs no runner, yet a query
/// with the `min_position` its own command returned sees the write, once the worker folded it;
/// the worker serves only the operations endpoints.
async fn an_api_node_without_runners_reads_the_writes_a_worker_folds<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let worker = std::sync::Arc::new(ReadModels::new(&backend));
    let runners = worker.spawn(&t.engine.log);
    let api_models = std::sync::Arc::new(ReadModels::new(&backend));
    let watch = api_models.watch(Duration::from_millis(50));
    let key = api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await;
    let api = authed(convo_gateway::router(t.engine.clone(), api_models, &test_config()), key.clone());

    let created = call(&api, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let uri = format!("/v1/inboxes?min_position={}", created.body["position"]);
    let listed = call(&api, "GET", &uri, None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body["items"][0]["inbox_id"], created.body["inbox_id"], "the API node reads its write");

    let config = convo_gateway::GatewayConfig { serve_api: false, ..test_config() };
    let ops = authed(convo_gateway::router(t.engine.clone(), worker, &config), key);
    assert_eq!(call(&ops, "GET", "/readyz", None).await.status, StatusCode::OK);
    assert_eq!(call(&ops, "GET", "/v1/inboxes", None).await.status, StatusCode::NOT_FOUND, "a worker serves no API");
    watch.abort();
    runners.iter().for_each(tokio::task::JoinHandle::abort);
}
