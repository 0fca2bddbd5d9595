//! Secrets at rest, on both backends (docs/WEBHOOKS.md, "Secrets at rest"): the endpoints'
//! `whsec_` secrets (current and rotated), the workspaces' ed25519 seeds and the idempotent
//! answers that show a secret are stored sealed with the node's secrets key, never in clear,
//! and deliveries still verify; a node with another key names both keys (503
//! `secretsKeyMismatch`), seals nothing the others could not open, and leaves the deliveries
//! pending for a node with the right key; secrets an older convo stored in clear are read as
//! they are, and sealed at start.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use convo_read::ReadModels;
use convo_store::{Backend, SqlStore, SqlValue};
use convo_webhooks::{AtRest, NewEndpoint, SecretsKey, WebhookConfig, Webhooks};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{
    API_WS, TestEngine, WS, api_key, authed, call, engine, on_both_backends, read_models, test_config,
};
use crate::webhooks::{Receiver, config, secrets_key};

on_both_backends!(
    secrets_and_signing_keys_are_sealed_at_rest_and_deliveries_still_verify,
    a_node_with_another_secrets_key_names_both_keys_and_signs_nothing,
    secrets_stored_in_clear_are_read_as_they_are_and_sealed_at_start,
);

/// The gateway of a node with the delivery settings (and secrets key) of `webhooks`, as an
/// admin of [`API_WS`].
async fn node<B: Backend>(t: &TestEngine<B>, read: &Arc<ReadModels<B>>, webhooks: &WebhookConfig) -> Router {
    let config = convo_gateway::GatewayConfig { webhooks: webhooks.clone(), ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read.clone(), &config);
    authed(router, api_key(t, API_WS, &[convo_gateway::Scope::Admin]).await)
}

/// A POST with an `Idempotency-Key`: its status, whether it repeats an earlier answer, its body.
async fn post_with_key(app: &Router, uri: &str, body: Option<&Value>, key: &str) -> (StatusCode, bool, Value) {
    let mut request = Request::builder().method("POST").uri(uri).header("idempotency-key", key);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    let response = app.clone().oneshot(request.body(body).expect("a request")).await.expect("an answer");
    let (status, replayed) = (response.status(), response.headers().contains_key(convo_gateway::REPLAYED_HEADER));
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    (status, replayed, serde_json::from_slice(&bytes).expect("a JSON body"))
}

/// Each row of `sql` (one text column).
async fn rows<B: Backend>(t: &TestEngine<B>, sql: &str) -> Vec<String> {
    t.engine.backend.sql().text_rows(sql, &[]).await.expect("read the table")
}

/// Everything the tables that hold secrets store, as text.
async fn at_rest<B: Backend>(t: &TestEngine<B>) -> String {
    let mut all = rows(t, "SELECT endpoint_id || ' ' || secret || ' ' || coalesce(previous_secret, '') || ' ' || row FROM webhook_endpoints").await;
    all.extend(rows(t, "SELECT key_id || ' ' || private_key || ' ' || public_key FROM webhook_signing_keys").await);
    all.extend(rows(t, "SELECT key || ' ' || coalesce(response, '') FROM idempotency_keys").await);
    all.join("\n")
}

/// `secret` is nowhere in `stored`: neither as given (`whsec_…`) nor its base64 body.
#[track_caller]
fn nowhere(stored: &str, secret: &str, what: &str) {
    let body = secret.strip_prefix("whsec_").unwrap_or(secret);
    assert!(body.len() >= 32, "{what}: a real secret: {secret}");
    assert!(!stored.contains(body), "{what} is stored in clear:\n{stored}");
}

#[track_caller]
fn assert_mismatch(status: StatusCode, body: &Value, ours: &SecretsKey, theirs: &SecretsKey, what: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("secretsKeyMismatch")),
        "{what}: {body}"
    );
    assert_eq!(
        (body["sealed_with_key"].as_str(), body["node_key"].as_str()),
        (Some(ours.id()), Some(theirs.id())),
        "{what}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(ours.id()) && detail.contains(theirs.id()), "{what}: both keys named: {detail}");
}

async fn secrets_and_signing_keys_are_sealed_at_rest_and_deliveries_still_verify<B: Backend>(backend: B) {
    let t = engine(backend);
    let webhooks = WebhookConfig { rotation_overlap: Duration::from_secs(60), ..config() };
    let key = webhooks.secrets_key.clone();
    let app = node(&t, &read_models(&t), &webhooks).await;
    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    // The workspace's signing key, rotated: two keys sign.
    call(&app, "GET", "/v1/webhooks/signing-keys", None).await;
    let keys = call(&app, "POST", "/v1/webhooks/signing-keys/rotate", None).await;
    assert_eq!(keys.status, StatusCode::OK, "{}", keys.body);
    let public: Vec<String> = keys.body["keys"]
        .as_array()
        .expect("the keys")
        .iter()
        .map(|k| k["public_key"].as_str().expect("a public key").to_owned())
        .collect();
    assert_eq!(public.len(), 2);
    let receiver = Receiver::start_with(json!({"default": {"status": 200}}), &public);

    // Created and rotated, each with an Idempotency-Key: a retry answers the secret again.
    let hook = json!({"url": receiver.url, "event_types": ["InboundMessageReceived"]});
    let (status, replayed, created) = post_with_key(&app, "/v1/webhooks", Some(&hook), "create-1").await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{created}");
    let old = created["secret"].as_str().expect("a secret").to_owned();
    let again = post_with_key(&app, "/v1/webhooks", Some(&hook), "create-1").await;
    assert_eq!(again, (StatusCode::CREATED, true, created.clone()), "the retry answers the same secret");
    let id = created["endpoint_id"].as_str().expect("an id").to_owned();
    let rotate = format!("/v1/webhooks/{id}/secret/rotate");
    let (status, _, rotated) = post_with_key(&app, &rotate, None, "rotate-1").await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = rotated["secret"].as_str().expect("a new secret").to_owned();
    assert_ne!(new, old);
    let again = post_with_key(&app, &rotate, None, "rotate-1").await;
    assert_eq!(again, (StatusCode::OK, true, rotated.clone()), "the retry answers the same new secret");

    // At rest: neither secret, in the endpoints, the signing keys or the idempotent answers.
    let stored = at_rest(&t).await;
    nowhere(&stored, &old, "the first secret");
    nowhere(&stored, &new, "the rotated secret");
    // Each is sealed with this node's key, for its endpoint.
    let sealed = format!("sealed:v1:{}:", key.id());
    let secrets = rows(&t, "SELECT secret || ' ' || previous_secret FROM webhook_endpoints").await;
    let (current, previous) = secrets[0].split_once(' ').expect("both secrets");
    assert!(current.starts_with(&sealed) && previous.starts_with(&sealed), "{current} {previous}");
    let context = format!("webhook secret {id}");
    assert_eq!((key.open(&context, current), key.open(&context, previous)), (Ok(new.clone()), Ok(old.clone())));
    // The seeds: sealed, and each opens to the seed of its public key.
    for row in rows(&t, "SELECT key_id || ' ' || private_key || ' ' || public_key FROM webhook_signing_keys").await {
        let [key_id, private_key, public_key] = row.split(' ').collect::<Vec<_>>()[..] else { panic!("{row}") };
        assert!(private_key.starts_with(&sealed), "{private_key}");
        let seed = key.open(&format!("webhook signing key {key_id}"), private_key).expect("the seed opens");
        let bytes: [u8; 32] = b64().decode(&seed).expect("base64").try_into().expect("32 bytes");
        let derived = ed25519_dalek::SigningKey::from_bytes(&bytes).verifying_key();
        assert_eq!(format!("whpk_{}", b64().encode(derived.as_bytes())), public_key, "the seed of this key");
        assert!(!stored.contains(&seed), "the seed is stored in clear:\n{stored}");
        assert!(!stored.contains(&b64().encode(&bytes[..24])), "a part of the seed is stored in clear");
    }
    // The answers kept for retries are sealed too.
    let kept = rows(&t, "SELECT response FROM idempotency_keys WHERE key IN ('create-1', 'rotate-1')").await;
    assert_eq!(kept.len(), 2);
    for answer in kept {
        let answer: Value = serde_json::from_str(&answer).expect("a stored answer");
        assert_eq!(answer["sealed"], true, "{answer}");
        assert!(answer["body"].as_str().is_some_and(|b| b.starts_with(&sealed)), "{answer}");
    }

    // Deliveries verify: a v1 signature with each secret (the overlap), a v1a with each key.
    receiver.trust(&new);
    let tasks = convo_webhooks::spawn(&t.engine, webhooks);
    let message = json!({"inbox_id": inbox.body["inbox_id"], "contact_id": "+4917900001", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hello"}});
    let sent = call(&app, "POST", "/v1/inbound-messages", Some(message)).await;
    assert!(sent.status.is_success(), "{}", sent.body);
    let received = receiver.wait_for(1).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    let signatures = received[0]["signatures"].as_array().expect("signatures");
    let count = |scheme: &str| signatures.iter().filter(|s| s.as_str().is_some_and(|s| s.starts_with(scheme))).count();
    assert_eq!((count("v1,"), count("v1a,")), (2, 2), "{:#?}", received[0]);
    assert_eq!((&received[0]["v1_verified"], &received[0]["v1a_verified"]), (&json!(true), &json!(true)));
    receiver.trust(&old);
    call(&app, "POST", &format!("/v1/webhooks/{id}/verify"), None).await;
    assert_eq!(receiver.wait_for(2).await[1]["v1_verified"], true, "the old secret verifies during the overlap");
}

/// Node A seals with our key, node B with another, on one database: B names both keys where
/// it needs a secret (a test delivery, a retry of a creation), refuses what would leave secrets
/// that A cannot open, and its sender leaves the endpoint's deliveries pending, until a sender
/// with our key sends them.
async fn a_node_with_another_secrets_key_names_both_keys_and_signs_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let ours = config();
    let theirs = WebhookConfig { secrets_key: SecretsKey::random(), ..config() };
    let read = read_models(&t);
    let (a, b) = (node(&t, &read, &ours).await, node(&t, &read, &theirs).await);
    let (ours_key, theirs_key) = (ours.secrets_key.clone(), theirs.secrets_key.clone());
    assert_ne!(ours_key.id(), theirs_key.id());
    let inbox = call(&a, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    let receiver = Receiver::start(json!({"default": {"status": 200}}));
    let hook = json!({"url": receiver.url, "event_types": ["InboundMessageReceived"]});
    let (status, _, created) = post_with_key(&a, "/v1/webhooks", Some(&hook), "create-1").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    receiver.trust(created["secret"].as_str().expect("a secret"));
    let id = created["endpoint_id"].as_str().expect("an id").to_owned();

    // Where B needs a secret: 503, naming both keys.
    let verify = call(&b, "POST", &format!("/v1/webhooks/{id}/verify"), None).await;
    assert_eq!(verify.content_type, "application/problem+json");
    assert_mismatch(verify.status, &verify.body, &ours_key, &theirs_key, "a test delivery from B");
    let (status, replayed, body) = post_with_key(&b, "/v1/webhooks", Some(&hook), "create-1").await;
    assert!(!replayed);
    assert_mismatch(status, &body, &ours_key, &theirs_key, "a retry of the creation on B");
    // What B would seal, A could not open: refused.
    let (status, _, body) = post_with_key(&b, &format!("/v1/webhooks/{id}/secret/rotate"), None, "rotate-b").await;
    assert_mismatch(status, &body, &ours_key, &theirs_key, "a rotation of the secret on B");
    let rotated = call(&b, "POST", "/v1/webhooks/signing-keys/rotate", None).await;
    assert_mismatch(rotated.status, &rotated.body, &ours_key, &theirs_key, "a rotation of the signing key on B");
    let another = call(&b, "POST", "/v1/webhooks", Some(json!({"url": "https://example.com/b"}))).await;
    assert_mismatch(another.status, &another.body, &ours_key, &theirs_key, "another endpoint on B");
    assert_eq!(call(&a, "GET", "/v1/webhooks", None).await.body["items"].as_array().map(Vec::len), Some(1));
    // A answers all of it as before.
    let again = post_with_key(&a, "/v1/webhooks", Some(&hook), "create-1").await;
    assert_eq!(again, (StatusCode::CREATED, true, created.clone()), "A still opens its kept answer");
    let tested = call(&a, "POST", &format!("/v1/webhooks/{id}/verify"), None).await;
    assert_eq!(tested.body["succeeded"], true, "{}", tested.body);
    assert_eq!(receiver.wait_for(1).await[0]["v1_verified"], true);

    // B's sender: the fan-out needs no secret, so the delivery is made, and waits.
    let tasks = convo_webhooks::spawn(&t.engine, theirs);
    let message = json!({"inbox_id": inbox.body["inbox_id"], "contact_id": "+4917900002", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "waits for the right key"}});
    let sent = call(&a, "POST", "/v1/inbound-messages", Some(message)).await;
    assert!(sent.status.is_success(), "{}", sent.body);
    let pending = "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'";
    let started = std::time::Instant::now();
    while t.engine.backend.sql().scalar(pending, &[]).await.expect("count") != Some(1) {
        assert!(started.elapsed() < Duration::from_secs(10), "the fan-out made no delivery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await; // B's sender would have sent it by now
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(receiver.received().len(), 1, "B sent nothing");
    let scheduled = "SELECT count(*) FROM webhook_attempts WHERE position > 0";
    assert_eq!(t.engine.backend.sql().scalar(scheduled, &[]).await.expect("count"), Some(0), "B attempted nothing");
    assert_eq!(t.engine.backend.sql().scalar(pending, &[]).await.expect("count"), Some(1), "still pending");
    // A's sender sends it.
    let tasks = convo_webhooks::spawn(&t.engine, ours);
    let received = receiver.wait_for(2).await;
    tasks.iter().for_each(tokio::task::JoinHandle::abort);
    assert_eq!(received[1]["body"]["payload"]["content"]["body"], "waits for the right key");
    assert_eq!(received[1]["v1_verified"], true);
}

/// Endpoints and a signing key as an older convo stored them, in clear: read as they are; a
/// rotation seals the secret it keeps; the start of a node seals the rest, unless the database
/// holds secrets sealed with another key than the node's, which it names and leaves alone.
async fn secrets_stored_in_clear_are_read_as_they_are_and_sealed_at_start<B: Backend>(backend: B) {
    let t = engine(backend);
    let key = secrets_key();
    let sql = t.engine.backend.sql();
    let webhooks = Webhooks::new(sql.clone(), key.clone());
    let head = t.engine.log.head().await.expect("head");
    let new = || NewEndpoint {
        url: "https://example.com/hook".into(),
        description: String::new(),
        enabled: true,
        event_types: vec![],
        inbox_id: None,
    };
    let (first, first_secret) =
        webhooks.create(WS, uuid::Uuid::now_v7(), new(), head, chrono::Utc::now()).await.expect("create");
    let (second, second_secret) =
        webhooks.create(WS, uuid::Uuid::now_v7(), new(), head, chrono::Utc::now()).await.expect("create");
    // In clear, as before secrets were sealed.
    for (endpoint, secret) in [(&first, &first_secret), (&second, &second_secret)] {
        let clear = sql.sql("UPDATE webhook_endpoints SET secret = {1} WHERE endpoint_id = {2}");
        let values = [SqlValue::Text(secret.clone()), SqlValue::Text(endpoint.endpoint_id.to_string())];
        sql.execute(&clear, &values).await.expect("store in clear");
    }
    let [row] = &rows(&t, "SELECT key_id || ' ' || private_key FROM webhook_signing_keys").await[..] else {
        panic!("one signing key")
    };
    let (key_id, sealed_seed) = row.split_once(' ').expect("a key");
    let seed = key.open(&format!("webhook signing key {key_id}"), sealed_seed).expect("the seed");
    let clear = sql.sql("UPDATE webhook_signing_keys SET private_key = {1} WHERE key_id = {2}");
    sql.execute(&clear, &[SqlValue::Text(seed.clone()), SqlValue::Text(key_id.to_owned())]).await.expect("in clear");
    assert!(at_rest(&t).await.contains(&seed));

    // Read as they are.
    assert_eq!(webhooks.secret(second.endpoint_id).await.expect("read"), Some(second_secret.clone()));
    webhooks.check_signing(&first).await.expect("this node signs for it");
    let enabled = webhooks.enabled().await.expect("enabled");
    assert_eq!(enabled.len(), 2, "both are sent to");
    // A rotation keeps the old secret sealed.
    let rotated = webhooks.rotate_secret(WS, first.endpoint_id, Duration::from_secs(60), chrono::Utc::now());
    let rotated = rotated.await.expect("rotate").expect("the endpoint");
    assert_eq!(webhooks.secret(first.endpoint_id).await.expect("read"), Some(format!("{rotated} {first_secret}")));
    nowhere(&at_rest(&t).await, &first_secret, "the rotated-out secret");

    // A node with another key: names ours, seals nothing.
    let theirs = Webhooks::new(sql.clone(), SecretsKey::random());
    let found = theirs.seal_in_clear().await.expect("look");
    assert_eq!(found, AtRest { sealed: 0, other_keys: vec![key.id().to_owned()] });
    assert!(at_rest(&t).await.contains(&second_secret), "left as it was");
    // Ours seals the rest (the second secret and the seed), once.
    assert_eq!(webhooks.seal_in_clear().await.expect("seal"), AtRest { sealed: 2, other_keys: vec![] });
    assert_eq!(webhooks.seal_in_clear().await.expect("seal"), AtRest::default(), "nothing is left in clear");
    let stored = at_rest(&t).await;
    nowhere(&stored, &second_secret, "the second secret");
    assert!(!stored.contains(&seed), "the seed is sealed:\n{stored}");
    assert_eq!(webhooks.secret(second.endpoint_id).await.expect("read"), Some(second_secret));
    assert_eq!(webhooks.enabled().await.expect("enabled").len(), 2, "both are still sent to");
    webhooks.check_signing(&second).await.expect("its signing key opens");
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}
