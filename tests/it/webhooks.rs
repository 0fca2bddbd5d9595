//! Webhooks delivered from the log to a receiver nobody here wrote: the Python Standard Webhooks
//! library (`standardwebhooks` from PyPI) verifies every delivery's `v1` signature in
//! `tests/fixtures/webhook_receiver.py` (installed by `deploy/python-deps.sh`). The receiver
//! answers as a test scripts it: failures, 410, a timeout. The first receiver installs the
//! packages if they are missing (`deploy/python-deps.sh`).

use std::time::{Duration, Instant};

use convo_domain::ChannelType;
use convo_store::Backend;
use convo_webhooks::{AttemptFilter, Endpoint, NewEndpoint, SecretsKey, WebhookConfig, Webhooks};
use serde_json::{Value, json};

use crate::support::{TestEngine, WS, engine, on_both_backends, whole_log};

on_both_backends!(
    every_event_after_the_endpoint_exists_is_delivered_signed_once_in_each_conversations_order,
    a_failing_receiver_gets_the_same_delivery_again_on_the_schedule_until_it_succeeds,
    a_receiver_that_answers_410_disables_its_endpoint_and_gets_nothing_more,
    an_endpoint_that_fails_for_the_whole_disable_period_is_disabled_and_one_that_recovers_is_not,
    by_default_nothing_is_sent_over_http_or_to_an_address_inside_the_network,
    a_delivery_given_up_lets_the_next_event_of_its_conversation_go,
    a_replay_delivers_events_again_with_their_webhook_ids_marked_replay,
    a_replay_asked_while_the_event_is_on_its_way_is_sent_after_it,
    a_verify_call_sends_a_signed_test_delivery_and_answers_with_its_attempt,
    a_rotated_secret_signs_beside_the_old_one_for_the_overlap_then_alone,
    deliveries_carry_v1a_signatures_that_the_workspaces_public_keys_verify,
);

pub(crate) use convo_tests::receiver::Receiver;

/// The key the tests' secrets are sealed with: the one of every sender, gateway and store here.
pub(crate) fn secrets_key() -> SecretsKey {
    SecretsKey::new([0x5e; 32])
}

/// A fast schedule: the spec's shape, in milliseconds.
pub(crate) fn config() -> WebhookConfig {
    let ms = Duration::from_millis;
    WebhookConfig {
        schedule: vec![ms(0), ms(100), ms(200), ms(300)],
        timeout: Duration::from_secs(2),
        // The receiver is on loopback, over http.
        allow_insecure: true,
        secrets_key: secrets_key(),
        ..Default::default()
    }
}

/// An endpoint of the test workspace on `receiver`, created now, which trusts its secret.
async fn endpoint<B: Backend>(t: &TestEngine<B>, receiver: &Receiver, event_types: &[&str]) -> Endpoint {
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let new = NewEndpoint {
        url: receiver.url.clone(),
        description: "test".into(),
        enabled: true,
        event_types: event_types.iter().map(|s| (*s).to_owned()).collect(),
        inbox_id: None,
    };
    let head = t.engine.log.head().await.expect("head");
    let (endpoint, secret) =
        webhooks.create(WS, uuid::Uuid::now_v7(), new, head, chrono::Utc::now()).await.expect("create an endpoint");
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.trust(&secret);
    endpoint
}

/// The endpoints' switches the log holds, in log order: (aggregate id, workspace, payload).
pub(crate) async fn switches<B: Backend>(t: &TestEngine<B>) -> Vec<(String, Option<String>, Value)> {
    let log = whole_log(&t.engine).await.into_iter();
    log.filter(|e| e.aggregate_type == "webhook_endpoint")
        .map(|e| (e.aggregate_id, e.workspace_id, e.payload))
        .collect()
}

fn dispatch<B: Backend>(t: &TestEngine<B>) -> Vec<tokio::task::JoinHandle<()>> {
    convo_webhooks::spawn(&t.engine, config())
}

/// Waits until the attempt log holds `n` attempts (at most 10 s); newest first.
async fn attempts<B: Backend>(t: &TestEngine<B>, n: usize) -> Vec<convo_webhooks::Attempt> {
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let started = Instant::now();
    loop {
        let attempts =
            webhooks.attempts(WS, &AttemptFilter { limit: 100, ..Default::default() }).await.expect("attempts");
        if attempts.len() >= n || started.elapsed() > Duration::from_secs(10) {
            return attempts.into_iter().map(|(_, a)| a).collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn every_event_after_the_endpoint_exists_is_delivered_signed_once_in_each_conversations_order<B: Backend>(
    backend: B,
) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await; // before the endpoint: not delivered
    let receiver = Receiver::start(json!({"default": {"status": 204}}));
    let endpoint = endpoint(&t, &receiver, &[]).await;
    let tasks = dispatch(&t);
    for i in 0..24 {
        t.inbound(inbox, &format!("+4917100{:03}", i % 4), &format!("message {i}")).await;
    }
    let expected: Vec<_> =
        whole_log(&t.engine).await.into_iter().filter(|e| e.position > endpoint.after_position).collect();
    receiver.wait_for(expected.len()).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // a second delivery would arrive by now
    let received = receiver.received();
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(received.len(), expected.len(), "each event once: {received:#?}");
    for request in &received {
        assert_eq!(request["v1_verified"], true, "the Standard Webhooks library verifies it: {request}");
    }
    // The body is the event as GET /v1/events gives it, and the id is the event's.
    let mut bodies: Vec<Value> = received.iter().map(|r| r["body"].clone()).collect();
    bodies.sort_by_key(|b| b["position"].as_i64());
    let envelopes: Vec<Value> = expected.iter().map(|e| serde_json::to_value(e).expect("json")).collect();
    assert_eq!(bodies, envelopes);
    for request in &received {
        assert_eq!(request["webhook_id"], format!("msg_{}", request["body"]["position"]));
    }
    // Each conversation's events arrive in its order.
    let mut last: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    for request in &received {
        let (id, sequence) = (request["body"]["aggregate_id"].to_string(), request["body"]["sequence"].as_i64());
        let sequence = sequence.expect("a sequence");
        let before = last.insert(id.clone(), sequence);
        assert!(before.is_none_or(|b| b < sequence), "{id}: {sequence} after {before:?}");
    }
}

async fn a_failing_receiver_gets_the_same_delivery_again_on_the_schedule_until_it_succeeds<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let script = json!([{"status": 500, "body": "down"}, {"status": 503}, {"sleep_ms": 2500}]);
    let receiver = Receiver::start(json!({"default": {"status": 200}, "script": script}));
    let endpoint = endpoint(&t, &receiver, &["InboundMessageReceived"]).await;
    let tasks = dispatch(&t);
    t.inbound(inbox, "+4917200001", "hello").await;
    // 500, 503, a timeout (2 s), then 200: four requests for the one event.
    let received = receiver.wait_for(4).await;
    let attempts = attempts(&t, 4).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(received.len(), 4, "{received:#?}");
    let ids: std::collections::HashSet<&Value> = received.iter().map(|r| &r["webhook_id"]).collect();
    assert_eq!(ids.len(), 1, "every attempt carries the event's webhook-id");
    assert!(received.iter().all(|r| r["v1_verified"] == true), "{received:#?}");
    // Newest first: the success, the timeout, the 503, the 500 with its body.
    let outcomes: Vec<(u32, bool, Option<u16>)> =
        attempts.iter().map(|a| (a.attempt, a.succeeded, a.status_code)).collect();
    assert_eq!(outcomes, vec![(4, true, Some(200)), (3, false, None), (2, false, Some(503)), (1, false, Some(500))]);
    assert!(attempts[1..].iter().all(|a| a.next_attempt_at.is_some() && !a.gave_up), "{attempts:#?}");
    assert!(attempts[0].next_attempt_at.is_none() && !attempts[0].gave_up);
    let first = &attempts[3];
    assert_eq!((first.response_body.as_str(), first.trigger.as_str()), ("down", "scheduled"));
    assert!(attempts[1].error.as_deref().is_some_and(|e| e.contains("timeout")), "{:?}", attempts[1]);
    assert!(attempts.iter().all(|a| a.endpoint_id == endpoint.endpoint_id && a.event_type == "InboundMessageReceived"));
}

async fn a_receiver_that_answers_410_disables_its_endpoint_and_gets_nothing_more<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let receiver = Receiver::start(json!({"default": {"status": 410}}));
    let endpoint = endpoint(&t, &receiver, &["InboundMessageReceived"]).await;
    let tasks = dispatch(&t);
    t.inbound(inbox, "+4917300001", "one").await;
    receiver.wait_for(1).await;
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let started = Instant::now();
    let disabled = loop {
        let now = webhooks.get(WS, endpoint.endpoint_id).await.expect("get").expect("the endpoint");
        if !now.enabled || started.elapsed() > Duration::from_secs(10) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!disabled.enabled, "a 410 disables the endpoint");
    assert!(disabled.disabled_reason.as_deref().is_some_and(|r| r.contains("410")), "{disabled:?}");
    t.inbound(inbox, "+4917300001", "two").await;
    tokio::time::sleep(Duration::from_millis(500)).await; // a delivery would have been tried by now
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(receiver.received().len(), 1, "nothing after the 410");
    // The log says so, once, as the engine's doing, in the endpoint's workspace.
    let switches = switches(&t).await;
    assert_eq!(switches.len(), 1, "{switches:?}");
    let (id, workspace, payload) = &switches[0];
    assert_eq!((id, workspace.as_deref()), (&endpoint.endpoint_id.to_string(), Some(WS.to_string().as_str())));
    assert_eq!((&payload["type"], &payload["reason"]), (&json!("WebhookEndpointDisabled"), &json!("gone")));
    assert_eq!(payload["actor"], json!({"kind": "system", "id": "webhooks"}));
    assert_eq!(payload["detail"].as_str(), disabled.disabled_reason.as_deref());
}

/// The 5 days of the default in 1.5 s: a receiver that refuses every attempt for that
/// long has its endpoint disabled, saying since when; one whose failures are broken by a
/// success keeps going, and its streak starts over.
async fn an_endpoint_that_fails_for_the_whole_disable_period_is_disabled_and_one_that_recovers_is_not<B: Backend>(
    backend: B,
) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let failing = Receiver::start(json!({"default": {"status": 500}}));
    // Fails for 500 ms (each attempt 100 ms apart: five), then succeeds, then fails again.
    let mut script: Vec<Value> = std::iter::repeat_n(json!({"status": 500}), 5).collect();
    script.push(json!({"status": 204}));
    let recovering = Receiver::start(json!({"default": {"status": 500}, "script": script}));
    let failing_endpoint = endpoint(&t, &failing, &["InboundMessageReceived"]).await;
    let recovering_endpoint = endpoint(&t, &recovering, &["InboundMessageReceived"]).await;
    let config = WebhookConfig {
        schedule: vec![Duration::from_millis(100); 200],
        disable_after: Duration::from_millis(1500),
        ..config()
    };
    let tasks = convo_webhooks::spawn(&t.engine, config);
    let started = Instant::now();
    t.inbound(inbox, "+4917300001", "one").await;
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let disabled = loop {
        let now = webhooks.get(WS, failing_endpoint.endpoint_id).await.expect("get").expect("the endpoint");
        if !now.enabled || started.elapsed() > Duration::from_secs(10) {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let took = started.elapsed();
    assert!(!disabled.enabled, "failing for longer than disable_after disables: {disabled:?}");
    assert!(took >= Duration::from_millis(1500), "not before disable_after: {took:?}");
    let reason = disabled.disabled_reason.clone().unwrap_or_default();
    assert!(reason.starts_with("no delivery succeeded since 20"), "{reason}");
    let switches = switches(&t).await;
    assert_eq!(switches.len(), 1, "only the failing one is switched off: {switches:?}");
    assert_eq!(switches[0].0, failing_endpoint.endpoint_id.to_string());
    assert_eq!((&switches[0].2["reason"], &switches[0].2["detail"]), (&json!("failing"), &json!(reason)));
    let refused = failing.received().len();
    assert!(refused >= 10, "attempts until then: {refused}");
    // The other: its success at 500 ms ended its streak; its next delivery fails from now on,
    // so it is still enabled 300 ms later (1.5 s after the start).
    t.inbound(inbox, "+4917300002", "two").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let recovered = webhooks.get(WS, recovering_endpoint.endpoint_id).await.expect("get").expect("the endpoint");
    assert!(recovered.enabled, "a success starts the streak over: {recovered:?}");
    assert!(recovering.received().iter().any(|r| r["answered"] == 204), "it succeeded once");
    // Nothing more reaches the disabled one; enabled again, it is tried again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(failing.received().len(), refused, "nothing is sent to a disabled endpoint");
    let change = convo_webhooks::EndpointChange { enabled: Some(true), ..Default::default() };
    let enabled = webhooks.update(WS, failing_endpoint.endpoint_id, change).await.expect("update").expect("it");
    assert!(enabled.enabled && enabled.disabled_reason.is_none(), "{enabled:?}");
    failing.wait_for(refused + 1).await;
    let still = webhooks.get(WS, failing_endpoint.endpoint_id).await.expect("get").expect("the endpoint");
    assert!(still.enabled, "its streak started over when it was enabled again: {still:?}");
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
}

/// The default configuration: an http URL, an https URL to 127.0.0.1 and one to a name that
/// resolves to loopback (`localhost`) are each refused at delivery, in the attempt log, and
/// nothing reaches the receiver.
async fn by_default_nothing_is_sent_over_http_or_to_an_address_inside_the_network<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let receiver = Receiver::start(json!({"default": {"status": 200}}));
    let port = receiver.url.trim_start_matches("http://127.0.0.1:").trim_end_matches("/hooks").to_owned();
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    for url in
        [receiver.url.clone(), format!("https://127.0.0.1:{port}/hooks"), format!("https://localhost:{port}/hooks")]
    {
        let new = NewEndpoint { url, description: String::new(), enabled: true, event_types: vec![], inbox_id: None };
        let head = t.engine.log.head().await.expect("head");
        webhooks.create(WS, uuid::Uuid::now_v7(), new, head, chrono::Utc::now()).await.expect("create");
    }
    let secure = WebhookConfig { allow_insecure: false, ..config() };
    let tasks = convo_webhooks::spawn(&t.engine, secure);
    t.inbound(inbox, "+4917400001", "hello").await; // two events: 2 × 3 deliveries, 4 attempts each
    let attempts = attempts(&t, 24).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(attempts.len(), 24, "{attempts:#?}");
    assert!(attempts.iter().all(|a| !a.succeeded && a.status_code.is_none()), "{attempts:#?}");
    let errors: std::collections::HashSet<String> = attempts.iter().filter_map(|a| a.error.clone()).collect();
    let said = |needle: &str| errors.iter().any(|e| e.contains(needle));
    assert!(
        said("is not https") && said("127.0.0.1 is not a public address") && said("localhost resolves only"),
        "{errors:#?}"
    );
    assert!(receiver.received().is_empty(), "nothing reached the receiver");
}

/// A conversation's next event waits for the one before it, until that one is given up (the
/// schedule is over): then it goes, and the attempt log says the first was given up.
async fn a_delivery_given_up_lets_the_next_event_of_its_conversation_go<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let failures = json!([{"status": 500}, {"status": 500}, {"status": 500}, {"status": 500}]);
    let receiver = Receiver::start(json!({"default": {"status": 200}, "script": failures}));
    endpoint(&t, &receiver, &["InboundMessageReceived"]).await;
    let tasks = dispatch(&t);
    t.inbound(inbox, "+4917500001", "first").await;
    t.inbound(inbox, "+4917500001", "second").await;
    let received = receiver.wait_for(5).await;
    let attempts = attempts(&t, 5).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let ids: Vec<&str> = received.iter().map(|r| r["webhook_id"].as_str().unwrap_or_default()).collect();
    assert!(
        ids[..4].iter().all(|id| *id == ids[0]) && ids[4] != ids[0],
        "four tries of the first, then the second: {ids:?}"
    );
    let bodies: Vec<&str> =
        received.iter().map(|r| r["body"]["payload"]["content"]["body"].as_str().unwrap_or_default()).collect();
    assert_eq!(bodies, ["first", "first", "first", "first", "second"]);
    let given_up: Vec<(u32, bool)> = attempts.iter().map(|a| (a.attempt, a.gave_up)).collect();
    assert_eq!(given_up, vec![(1, false), (4, true), (3, false), (2, false), (1, false)], "newest first");
}

/// A receiver that lost what it got asks for it again: one event by its position, then every
/// event since a position. The same `webhook-id`s arrive again, and their attempts say `replay`;
/// an event of the workspace from before the endpoint existed can be replayed too.
async fn a_replay_delivers_events_again_with_their_webhook_ids_marked_replay<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    t.inbound(inbox, "+4917600001", "before the endpoint").await;
    let receiver = Receiver::start(json!({"default": {"status": 200}}));
    let endpoint = endpoint(&t, &receiver, &["InboundMessageReceived"]).await;
    let tasks = dispatch(&t);
    t.inbound(inbox, "+4917600001", "one").await;
    t.inbound(inbox, "+4917600002", "two").await;
    let first = receiver.wait_for(2).await;
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let replay = |what| convo_webhooks::replay(&webhooks, &t.engine.log, &endpoint, what);
    let position = first[0]["body"]["position"].as_i64().expect("a position");
    assert_eq!(replay(convo_webhooks::Replay::One(position)).await.expect("replay"), Some(1));
    let again = receiver.wait_for(3).await;
    assert_eq!(again[2]["webhook_id"], first[0]["webhook_id"], "the event's own id, again");
    let all = replay(convo_webhooks::Replay::SincePosition(0)).await.expect("replay");
    assert_eq!(all, Some(3), "the three inbound messages, the first from before the endpoint");
    assert_eq!(replay(convo_webhooks::Replay::One(i64::MAX)).await.expect("replay"), None, "no event there");
    let received = receiver.wait_for(6).await;
    let attempts = attempts(&t, 6).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(received.len(), 6, "{received:#?}");
    let mut inbound: Vec<String> = whole_log(&t.engine)
        .await
        .iter()
        .filter(|e| e.event_type == "InboundMessageReceived")
        .map(|e| format!("msg_{}", e.position))
        .collect();
    let mut replayed: Vec<String> =
        received[3..].iter().map(|r| r["webhook_id"].as_str().unwrap_or_default().to_owned()).collect();
    replayed.sort();
    inbound.sort();
    assert_eq!(replayed, inbound, "every inbound message again, by its own id");
    assert!(received.iter().all(|r| r["v1_verified"] == true));
    let triggers: Vec<&str> = attempts.iter().map(|a| a.trigger.as_str()).collect();
    assert_eq!(triggers.iter().filter(|t| **t == "replay").count(), 4, "{triggers:?}");
    assert_eq!(triggers.iter().filter(|t| **t == "scheduled").count(), 2, "{triggers:?}");
}

/// `POST /v1/webhooks/{id}/verify`: a signed test delivery now, which the Standard Webhooks
/// library verifies, answered with its attempt (`manual`, in the attempt log); a receiver that
/// refuses it makes a failed attempt, answered all the same.
/// The receiver has the event but has not answered yet (so the attempt is not recorded) when
/// its replay is asked for: the replay is not swallowed by that attempt's record; it is sent
/// once the attempt has landed.
async fn a_replay_asked_while_the_event_is_on_its_way_is_sent_after_it<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let receiver = Receiver::start(json!({"default": {"status": 200}, "script": [{"sleep_ms": 800, "status": 200}]}));
    let endpoint = endpoint(&t, &receiver, &["InboundMessageReceived"]).await;
    let tasks = dispatch(&t);
    t.inbound(inbox, "+4917600003", "slow to answer").await;
    let first = receiver.wait_for(1).await;
    let position = first[0]["body"]["position"].as_i64().expect("a position");
    let webhooks = Webhooks::new(t.engine.backend.sql(), secrets_key());
    let replayed = convo_webhooks::replay(&webhooks, &t.engine.log, &endpoint, convo_webhooks::Replay::One(position));
    assert_eq!(replayed.await.expect("replay"), Some(1));
    let both = receiver.wait_for(2).await;
    let attempts = attempts(&t, 2).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(both[1]["webhook_id"], first[0]["webhook_id"], "the same event again");
    let triggers: Vec<(&str, bool)> = attempts.iter().rev().map(|a| (a.trigger.as_str(), a.succeeded)).collect();
    assert_eq!(triggers, [("scheduled", true), ("replay", true)]);
}

async fn a_verify_call_sends_a_signed_test_delivery_and_answers_with_its_attempt<B: Backend>(backend: B) {
    use crate::support::{API_WS, api_key, authed, call, read_models, test_config};
    let t = engine(backend);
    let config = convo_gateway::GatewayConfig { webhooks: config(), ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router, api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await);
    let receiver = Receiver::start(json!({"default": {"status": 200}, "script": [{"status": 200}, {"status": 500}]}));
    let created = call(&app, "POST", "/v1/webhooks", Some(json!({"url": receiver.url}))).await;
    assert_eq!(created.status, axum::http::StatusCode::CREATED, "{}", created.body);
    receiver.trust(created.body["secret"].as_str().expect("a secret"));
    let verify = format!("/v1/webhooks/{}/verify", created.body["endpoint_id"].as_str().expect("an id"));
    let answer = call(&app, "POST", &verify, None).await;
    assert_eq!(answer.status, axum::http::StatusCode::OK, "{}", answer.body);
    assert_eq!((&answer.body["succeeded"], &answer.body["trigger"]), (&json!(true), &json!("manual")));
    let refused = call(&app, "POST", &verify, None).await;
    assert_eq!((&refused.body["succeeded"], &refused.body["status_code"]), (&json!(false), &json!(500)));
    let received = receiver.wait_for(2).await;
    assert!(received.iter().all(|r| r["v1_verified"] == true), "{received:#?}");
    assert_eq!(received[0]["body"]["event_type"], "WebhookVerification");
    assert_eq!(received[0]["webhook_id"], answer.body["webhook_id"]);
    assert_ne!(received[0]["webhook_id"], received[1]["webhook_id"], "each test delivery is its own");
    let log = call(&app, "GET", "/v1/webhooks/attempts", None).await;
    let triggers: Vec<&Value> = log.body["items"].as_array().expect("a page").iter().map(|a| &a["trigger"]).collect();
    assert_eq!(triggers, [&json!("manual"), &json!("manual")]);
}

/// `POST /v1/webhooks/{id}/secret/rotate`: the new secret is shown once; during the overlap
/// every delivery carries a signature with each secret, so a receiver that still knows only the
/// old one verifies it; after the overlap only the new one signs.
async fn a_rotated_secret_signs_beside_the_old_one_for_the_overlap_then_alone<B: Backend>(backend: B) {
    use crate::support::{API_WS, api_key, authed, call, read_models, test_config};
    let t = engine(backend);
    let overlap = Duration::from_secs(2);
    let webhooks = WebhookConfig { rotation_overlap: overlap, ..config() };
    let config = convo_gateway::GatewayConfig { webhooks: webhooks.clone(), ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router, api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await);
    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    let receiver = Receiver::start(json!({"default": {"status": 200}}));
    let hook = json!({"url": receiver.url, "event_types": ["InboundMessageReceived"]});
    let created = call(&app, "POST", "/v1/webhooks", Some(hook)).await;
    let old = created.body["secret"].as_str().expect("a secret").to_owned();
    receiver.trust(&old); // the receiver is not told of the new one
    let rotate = format!("/v1/webhooks/{}/secret/rotate", created.body["endpoint_id"].as_str().expect("an id"));
    let rotated = call(&app, "POST", &rotate, None).await;
    assert_eq!(rotated.status, axum::http::StatusCode::OK, "{}", rotated.body);
    let new = rotated.body["secret"].as_str().expect("a new secret").to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    let tasks = convo_webhooks::spawn(&t.engine, webhooks);
    let message = |body: &str| {
        json!({"inbox_id": inbox.body["inbox_id"], "contact_id": "+4917700001", "sent_at": t.clock_now(),
               "content": {"type": "text", "body": body}})
    };
    call(&app, "POST", "/v1/inbound-messages", Some(message("during the overlap"))).await;
    let during = receiver.wait_for(1).await;
    tokio::time::sleep(overlap + Duration::from_millis(500)).await; // the overlap is over
    call(&app, "POST", "/v1/inbound-messages", Some(message("after it"))).await;
    let after = receiver.wait_for(2).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let v1 = |r: &Value| {
        r["signatures"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s.as_str().is_some_and(|s| s.starts_with("v1,"))).count())
    };
    assert_eq!(v1(&during[0]), 2, "{:#?}", during[0]);
    assert_eq!(during[0]["v1_verified"], true, "the old secret still verifies during the overlap");
    assert_eq!(v1(&after[1]), 1, "{:#?}", after[1]);
    assert_eq!(after[1]["v1_verified"], false, "after it the old secret no longer does");
    receiver.trust(&new);
    let verify = rotate.replace("/secret/rotate", "/verify");
    let tested = call(&app, "POST", &verify, None).await;
    assert_eq!(tested.body["succeeded"], true, "{}", tested.body);
    let with_new = receiver.wait_for(3).await;
    assert_eq!(with_new[2]["v1_verified"], true, "the new secret verifies");
}

/// The workspace's ed25519 keys: `GET /v1/webhooks/signing-keys` gives the public half, with
/// which a receiver that holds no secret verifies the `v1a` signature (Python's `cryptography`);
/// after a rotation both keys sign during the overlap, so the old public key still verifies.
async fn deliveries_carry_v1a_signatures_that_the_workspaces_public_keys_verify<B: Backend>(backend: B) {
    use crate::support::{API_WS, api_key, authed, call, read_models, test_config};
    let t = engine(backend);
    let webhooks = WebhookConfig { rotation_overlap: Duration::from_secs(60), ..config() };
    let config = convo_gateway::GatewayConfig { webhooks: webhooks.clone(), ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router, api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await);
    let keys = call(&app, "GET", "/v1/webhooks/signing-keys", None).await;
    assert_eq!(keys.status, axum::http::StatusCode::OK, "{}", keys.body);
    let public = keys.body["keys"][0]["public_key"].as_str().expect("a public key").to_owned();
    assert!(public.starts_with("whpk_") && keys.body["keys"][0]["retires_at"].is_null(), "{}", keys.body);
    let receiver = Receiver::start_with(json!({"default": {"status": 200}}), std::slice::from_ref(&public));
    let created = call(&app, "POST", "/v1/webhooks", Some(json!({"url": receiver.url}))).await;
    receiver.trust(created.body["secret"].as_str().expect("a secret"));
    let verify = format!("/v1/webhooks/{}/verify", created.body["endpoint_id"].as_str().expect("an id"));
    call(&app, "POST", &verify, None).await;
    let rotated = call(&app, "POST", "/v1/webhooks/signing-keys/rotate", None).await;
    let rotated = rotated.body["keys"].as_array().expect("the keys").clone();
    assert_eq!(rotated.len(), 2, "the new key and the old one in its overlap: {rotated:#?}");
    assert_eq!((rotated[1]["public_key"].as_str(), rotated[1]["retires_at"].is_null()), (Some(public.as_str()), false));
    call(&app, "POST", &verify, None).await;
    let received = receiver.wait_for(2).await;
    let v1a = |r: &Value| {
        r["signatures"]
            .as_array()
            .map_or(0, |s| s.iter().filter(|s| s.as_str().is_some_and(|s| s.starts_with("v1a,"))).count())
    };
    assert_eq!((v1a(&received[0]), v1a(&received[1])), (1, 2), "{received:#?}");
    for request in &received {
        assert_eq!((&request["v1_verified"], &request["v1a_verified"]), (&json!(true), &json!(true)), "{request}");
    }
}
