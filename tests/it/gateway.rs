//! The gateway as a production door: idempotency keys (replay, mismatch, in flight, a request
//! that died), inbound deduplication by the channel's message id across restarts, the live SSE
//! stream (catch-up, live, resume, heartbeats, slow clients), and limits and observability
//! (body size, timeouts, rate limit, request ids, metrics).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use convo_gateway::GatewayConfig;
use convo_gateway::{Claim, Idempotency, Scope, StoredResponse};
use convo_store::Backend;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::{
    API_WS, TestEngine, api_key, app, authed, call, engine, on_both_backends, raw, read_models, whole_log,
};

on_both_backends!(
    an_idempotency_key_replays_the_first_answer_and_writes_once,
    a_key_still_in_flight_is_409_and_one_whose_request_died_answers_what_it_wrote,
    idempotency_keys_are_kept_for_24_hours,
    a_connector_retrying_an_inbound_message_makes_one_message_even_after_a_restart,
    the_stream_sends_the_workspaces_events_live_and_resumes_after_last_event_id,
    a_slow_stream_client_is_disconnected_without_holding_up_writers,
    limits_answer_413_429_and_503_as_problem_json,
    requests_carry_ids_and_metrics_count_commands_and_projection_lag,
    a_graceful_shutdown_ends_live_streams_and_finishes_the_commands_in_flight,
);

fn agent() -> Value {
    json!({"kind": "agent", "id": "ada"})
}

async fn setup<B: Backend>(t: &TestEngine<B>, app: &axum::Router) -> (String, String) {
    let inbox = call(app, "POST", "/v1/inboxes", Some(json!({"name": "WA", "channel_type": "whatsapp"}))).await;
    assert_eq!(inbox.status, StatusCode::CREATED, "{:?}", inbox.body);
    let inbox_id = inbox.body["inbox_id"].as_str().expect("inbox id").to_owned();
    let inbound = call(
        app,
        "POST",
        "/v1/inbound-messages",
        Some(json!({"inbox_id": inbox_id, "contact_id": "+4917000001", "sent_at": t.clock_now(),
                    "content": {"type": "text", "body": "hello"}})),
    )
    .await;
    assert_eq!(inbound.status, StatusCode::CREATED, "{:?}", inbound.body);
    (inbox_id, inbound.body["conversation_id"].as_str().expect("conversation id").to_owned())
}

fn with_key(method: &str, uri: &str, key: &str, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .expect("a request")
}

async fn count_events<B: Backend>(t: &TestEngine<B>, event_type: &str) -> usize {
    whole_log(&t.engine).await.iter().filter(|e| e.event_type == event_type).count()
}

async fn an_idempotency_key_replays_the_first_answer_and_writes_once<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let (_, conversation) = setup(&t, &app).await;
    let uri = format!("/v1/conversations/{conversation}/messages");
    let body = json!({"actor": agent(), "content": {"type": "text", "body": "once"}});

    let first = app.clone().oneshot(with_key("POST", &uri, "send-1", &body)).await.expect("answer");
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get(convo_gateway::REPLAYED_HEADER).is_none());
    let first: Value =
        serde_json::from_slice(&first.into_body().collect().await.expect("body").to_bytes()).expect("json");
    let again = app.clone().oneshot(with_key("POST", &uri, "send-1", &body)).await.expect("answer");
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get(convo_gateway::REPLAYED_HEADER).map(|v| v.as_bytes()), Some(&b"true"[..]));
    let again: Value =
        serde_json::from_slice(&again.into_body().collect().await.expect("body").to_bytes()).expect("json");
    assert_eq!(again, first, "the same answer: same message id, version and position");
    assert_eq!(count_events(&t, "MessageSent").await, 1, "written once");

    // The same key with another request is refused, and writes nothing.
    let other = json!({"actor": agent(), "content": {"type": "text", "body": "something else"}});
    let reused = raw(&app, with_key("POST", &uri, "send-1", &other)).await;
    assert_eq!(reused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reused.body["code"], "idempotencyKeyReused");
    assert_eq!(reused.content_type, "application/problem+json");
    assert_eq!(count_events(&t, "MessageSent").await, 1);

    // A rejection is an answer too: replayed, not run again.
    let closed = json!({"actor": {"kind": "contact", "id": "x"}, "content": {"type": "text", "body": "no"}});
    let rejected = raw(&app, with_key("POST", &uri, "send-2", &closed)).await;
    assert_eq!(rejected.status, StatusCode::UNPROCESSABLE_ENTITY);
    let replayed = raw(&app, with_key("POST", &uri, "send-2", &closed)).await;
    assert_eq!((replayed.status, &replayed.body), (rejected.status, &rejected.body));

    // Keys belong to a workspace: another workspace's key of the same name is its own.
    let theirs = authed(
        convo_gateway::router(t.engine.clone(), read_models(&t), &crate::support::test_config()),
        api_key(&t, Uuid::from_u128(0xb), &[Scope::Write, Scope::Connector]).await,
    );
    let inbox =
        raw(&theirs, with_key("POST", "/v1/inboxes", "send-1", &json!({"name": "B", "channel_type": "sms"}))).await;
    assert_eq!(inbox.status, StatusCode::CREATED, "{:?}", inbox.body);

    // A malformed key is a validation error.
    let bad = raw(&app, with_key("POST", &uri, "has space", &body)).await;
    assert_eq!((bad.status, bad.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")));
}

async fn a_key_still_in_flight_is_409_and_one_whose_request_died_answers_what_it_wrote<B: Backend>(backend: B) {
    use convo_domain::conversation::ConversationAction;
    let t = engine(backend);
    let app = app(&t).await;
    let (_, conversation) = setup(&t, &app).await;
    let uri = format!("/v1/conversations/{conversation}/messages");
    let keys = Idempotency::new(t.engine.backend.sql(), 60_000);
    let now = t.clock_now().timestamp_millis();

    // A first request holds the key (it claimed it and is still running).
    let body = json!({"actor": agent(), "content": {"type": "text", "body": "slow"}});
    let fingerprint = convo_gateway::request_fingerprint("POST", &uri, body.to_string().as_bytes());
    assert_eq!(keys.claim(API_WS, "held", &fingerprint, now).await.expect("claim"), Claim::Run { took_over: false });
    let busy = raw(&app, with_key("POST", &uri, "held", &body)).await;
    assert_eq!(busy.status, StatusCode::CONFLICT, "{:?}", busy.body);
    assert_eq!(busy.body["code"], "idempotencyKeyInFlight");

    // That request committed its command, then died before storing its answer.
    let message_id = Uuid::now_v7();
    let command = convo_domain::ConversationCommand {
        workspace_id: API_WS,
        actor: convo_domain::Actor::agent("ada"),
        action: ConversationAction::SendMessage {
            minted_id: false,
            mentions: vec![],
            message_id,
            content: crate::support::text("slow"),
        },
    };
    let mut meta = convo_store::metadata(API_WS, [("command".to_owned(), "send_message".to_owned())]);
    meta.insert("idempotency_key".to_owned(), "held".to_owned());
    let committed = t.engine.conversations.execute(&conversation, command, &meta).await.expect("the first request");
    // Once its lease has run out, a retry answers what it wrote, and writes nothing more.
    t.clock.advance(chrono::Duration::minutes(2));
    let retry = raw(&app, with_key("POST", &uri, "held", &body)).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
    assert_eq!(retry.body["conversation_id"], conversation.as_str());
    assert_eq!(retry.body["message_id"], message_id.to_string());
    assert_eq!(retry.body["version"], committed.version);
    assert_eq!(retry.body["position"], committed.position.expect("a position"));
    assert_eq!(count_events(&t, "MessageSent").await, 1);

    // A request that died before writing anything: the retry runs the command.
    let body = json!({"actor": agent(), "content": {"type": "text", "body": "lost"}});
    let fingerprint = convo_gateway::request_fingerprint("POST", &uri, body.to_string().as_bytes());
    let now = t.clock_now().timestamp_millis();
    keys.claim(API_WS, "lost", &fingerprint, now).await.expect("claim");
    t.clock.advance(chrono::Duration::minutes(2));
    let retry = raw(&app, with_key("POST", &uri, "lost", &body)).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{:?}", retry.body);
    assert_eq!(count_events(&t, "MessageSent").await, 2);
}

async fn idempotency_keys_are_kept_for_24_hours<B: Backend>(backend: B) {
    let t = engine(backend);
    let keys = Idempotency::new(t.engine.backend.sql(), 60_000);
    let at = t.clock_now().timestamp_millis();
    let answer = StoredResponse { status: 201, body: json!({"version": 1}), sealed: false };
    assert_eq!(keys.claim(API_WS, "k", "h", at).await.expect("claim"), Claim::Run { took_over: false });
    keys.complete(API_WS, "k", &answer).await.expect("complete");
    let day = 24 * 3600 * 1000;
    assert_eq!(keys.purge(at + day - 1).await.expect("purge"), 0, "kept for a whole day");
    assert_eq!(keys.claim(API_WS, "k", "h", at + day - 1).await.expect("claim"), Claim::Replay(answer));
    assert_eq!(keys.purge(at + day + 1).await.expect("purge"), 1, "forgotten after");
    assert_eq!(keys.claim(API_WS, "k", "h", at + day + 1).await.expect("claim"), Claim::Run { took_over: false });
}

async fn a_connector_retrying_an_inbound_message_makes_one_message_even_after_a_restart<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let app = app(&t).await;
    let (inbox, _) = setup(&t, &app).await;
    let message = json!({"inbox_id": inbox, "contact_id": "+4917000002", "channel_message_id": "wamid.HBgM001",
                         "sent_at": t.clock_now(), "content": {"type": "text", "body": "are you there?"}});
    let first = call(&app, "POST", "/v1/inbound-messages", Some(message.clone())).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let retry = call(&app, "POST", "/v1/inbound-messages", Some(message.clone())).await;
    assert_eq!(retry.status, StatusCode::OK, "a repeat creates nothing: {:?}", retry.body);
    assert_eq!(retry.body["message_id"], first.body["message_id"]);
    assert_eq!(retry.body["version"], first.body["version"]);

    // A restarted engine (empty caches) on the same database still knows the message.
    let restarted = engine(backend);
    let app = crate::support::app(&restarted).await;
    let retry = call(&app, "POST", "/v1/inbound-messages", Some(message)).await;
    assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
    assert_eq!(retry.body["message_id"], first.body["message_id"]);
    let conversation = first.body["conversation_id"].as_str().expect("id");
    let position = first.body["position"].as_i64().expect("position");
    let timeline =
        call(&app, "GET", &format!("/v1/conversations/{conversation}/messages?min_position={position}"), None).await;
    let bodies: Vec<&str> =
        timeline.body["items"].as_array().into_iter().flatten().filter_map(|m| m["content"]["body"].as_str()).collect();
    assert_eq!(bodies, ["are you there?"], "one message in the timeline");
    assert_eq!(count_events(&restarted, "InboundMessageReceived").await, 2, "hello and this one, once");
}

/// One server-sent event: (id, event, data).
type Sse = (Option<i64>, String, Value);

/// Reads frames until `n` events (or, with `heartbeats`, `n` frames of any kind) arrived, or
/// the stream ended; `None` marks the end.
async fn read_sse(body: &mut Body, n: usize, heartbeats: bool) -> (Vec<Sse>, usize, bool) {
    let (mut events, mut comments, mut buffer) = (Vec::new(), 0, String::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while events.len() + if heartbeats { comments } else { 0 } < n {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("{n} events in time; got {events:?} and {comments} heartbeats"));
        let Some(frame) = frame else { return (events, comments, true) };
        let Ok(data) = frame.expect("a frame").into_data() else { continue };
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut event, mut data) = (None, String::new(), Value::Null);
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str(v.trim()).expect("data is JSON");
                } else if line.starts_with(':') {
                    comments += 1;
                }
            }
            if !event.is_empty() {
                events.push((id, event, data));
            }
        }
    }
    (events, comments, false)
}

async fn open_stream(app: &axum::Router, uri: &str, last_event_id: Option<i64>) -> Body {
    let mut request = Request::get(uri);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    let response = app.clone().oneshot(request.body(Body::empty()).expect("request")).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers().get(header::CONTENT_TYPE).map(|v| v.as_bytes()), Some(&b"text/event-stream"[..]));
    response.into_body()
}

async fn the_stream_sends_the_workspaces_events_live_and_resumes_after_last_event_id<B: Backend>(backend: B) {
    let t = engine(backend);
    let config = GatewayConfig { stream_heartbeat: Duration::from_millis(200), ..crate::support::test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router.clone(), api_key(&t, API_WS, &[Scope::Write, Scope::Connector]).await);
    let theirs = authed(router, api_key(&t, Uuid::from_u128(0xb), &[Scope::Write, Scope::Connector]).await);
    let (_, conversation) = setup(&t, &app).await;
    // Another workspace writes too; its events must never reach this stream.
    let other = call(&theirs, "POST", "/v1/inboxes", Some(json!({"name": "B", "channel_type": "sms"}))).await;
    assert_eq!(other.status, StatusCode::CREATED);

    // From the start: the five events so far (inbox, the sender's contact, conversation
    // started, inbound).
    let mut body = open_stream(&app, "/v1/stream?after=0", None).await;
    let (caught_up, _, ended) = read_sse(&mut body, 5, false).await;
    assert!(!ended);
    let types: Vec<&str> = caught_up.iter().map(|e| e.1.as_str()).collect();
    let first = ["InboxCreated", "IdentityClaimed", "ContactCreated", "ConversationStarted", "InboundMessageReceived"];
    assert_eq!(types, first);
    assert!(caught_up.iter().all(|e| e.2["workspace_id"] == API_WS.to_string()));
    assert!(caught_up.iter().all(|e| e.0 == e.2["position"].as_i64()), "the id is the position");

    // Live: a send arrives on the open stream, and nothing of the other workspace.
    let sent = call(
        &app,
        "POST",
        &format!("/v1/conversations/{conversation}/messages"),
        Some(json!({"actor": agent(), "content": {"type": "text", "body": "live"}})),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    call(&theirs, "POST", "/v1/inboxes", Some(json!({"name": "B2", "channel_type": "sms"}))).await;
    let (live, _, _) = read_sse(&mut body, 1, false).await;
    assert_eq!(live[0].1, "MessageSent");
    assert_eq!(live[0].0, sent.body["position"].as_i64());

    // Idle: heartbeats keep the connection alive.
    let (_, heartbeats, _) = read_sse(&mut body, 2, true).await;
    assert!(heartbeats >= 1, "a heartbeat comment while idle");
    drop(body);

    // Reconnecting with Last-Event-ID resumes right after it: nothing lost, nothing repeated.
    let mut body = open_stream(&app, "/v1/stream", caught_up[3].0).await;
    let (resumed, _, _) = read_sse(&mut body, 2, false).await;
    let types: Vec<&str> = resumed.iter().map(|e| e.1.as_str()).collect();
    assert_eq!(types, ["InboundMessageReceived", "MessageSent"]);

    // A malformed Last-Event-ID is a validation error, not a stream from somewhere.
    let bad = raw(&app, Request::get("/v1/stream").header("last-event-id", "x").body(Body::empty()).expect("r")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_slow_stream_client_is_disconnected_without_holding_up_writers<B: Backend>(backend: B) {
    let t = engine(backend);
    let slow_after = Duration::from_millis(300);
    let config = GatewayConfig { stream_buffer: 16, stream_slow_after: slow_after, ..crate::support::test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router, api_key(&t, API_WS, &[Scope::Write, Scope::Connector]).await);
    let (_, conversation) = setup(&t, &app).await;
    let before = whole_log(&t.engine).await.last().map_or(0, |e| e.position);
    // A client that connects and then reads nothing.
    let mut slow = open_stream(&app, "/v1/stream", None).await;
    // Writers go on: every command is answered while the client does not read.
    for i in 0..60 {
        let sent = call(
            &app,
            "POST",
            &format!("/v1/conversations/{conversation}/messages"),
            Some(json!({"actor": agent(), "content": {"type": "text", "body": format!("burst {i}")}})),
        )
        .await;
        assert_eq!(sent.status, StatusCode::CREATED);
    }
    // Its buffer stays full for longer than the server allows.
    tokio::time::sleep(slow_after * 3).await;
    // The slow client got what fitted in its buffer, then the server closed its stream.
    let (received, _, ended) = read_sse(&mut slow, 60, false).await;
    assert!(ended, "the slow client was disconnected");
    assert!(received.len() < 60, "it did not get everything: {}", received.len());
    // A client that keeps up gets it all, resuming after what the slow one saw.
    let body = |e: &Sse| e.2["payload"]["content"]["body"].as_str().unwrap_or_default().to_owned();
    let seen: Vec<String> = received.iter().map(body).collect();
    let expected: Vec<String> = (0..seen.len()).map(|i| format!("burst {i}")).collect();
    assert_eq!(seen, expected, "what the slow client got, it got in order");
    let last = received.last().and_then(|e| e.0).unwrap_or(before);
    let mut resumed = open_stream(&app, "/v1/stream", Some(last)).await;
    // More than its buffer to catch up on, while writers go on: it is not taken for slow.
    let writer = {
        let (app, conversation) = (app.clone(), conversation.clone());
        tokio::spawn(async move {
            for i in 60..80 {
                let uri = format!("/v1/conversations/{conversation}/messages");
                let body = json!({"actor": agent(), "content": {"type": "text", "body": format!("burst {i}")}});
                assert_eq!(call(&app, "POST", &uri, Some(body)).await.status, StatusCode::CREATED);
            }
        })
    };
    let (rest, _, ended) = read_sse(&mut resumed, 80 - received.len(), false).await;
    writer.await.expect("the writer");
    assert!(!ended, "a client reading its catch-up stays connected");
    let rest: Vec<String> = rest.iter().map(body).collect();
    let expected: Vec<String> = (seen.len()..80).map(|i| format!("burst {i}")).collect();
    assert_eq!(rest, expected, "resumed right after it: nothing lost, nothing repeated");
}

async fn limits_answer_413_429_and_503_as_problem_json<B: Backend>(backend: B) {
    let t = engine(backend);
    let config = GatewayConfig {
        body_limit: 2048,
        request_timeout: Duration::from_millis(300),
        rate_limit: Some(convo_gateway::RateLimit {
            per_second: std::num::NonZeroU32::new(1).expect("non-zero"),
            burst: std::num::NonZeroU32::new(3).expect("non-zero"),
        }),
        ..GatewayConfig::default()
    };
    // Read models that never run, so that a position the log has is never reached (one beyond
    // the log's head is refused at once, 422), and an event in the log, written past the limit.
    let read = std::sync::Arc::new(convo_read::ReadModels::new(&t.engine.backend));
    let router = convo_gateway::router(t.engine.clone(), read, &config);
    let app = authed(router.clone(), api_key(&t, API_WS, &[Scope::Write, Scope::Connector]).await);
    t.create_inbox(convo_domain::ChannelType::Sms).await;
    let big = json!({"name": "x".repeat(4096), "channel_type": "sms"});
    let too_large = call(&app, "POST", "/v1/inboxes", Some(big)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        (too_large.body["code"].as_str(), too_large.content_type.as_str()),
        (Some("payloadTooLarge"), "application/problem+json")
    );
    // With an idempotency key too (the body is read before the handler).
    let keyed = raw(&app, with_key("POST", "/v1/inboxes", "big", &json!({"name": "x".repeat(4096)}))).await;
    assert_eq!(keyed.status, StatusCode::PAYLOAD_TOO_LARGE);

    // A request that cannot finish in time (waiting for a position never reached) is 503.
    let slow = call(&app, "GET", "/v1/conversations?min_position=1", None).await;
    assert_eq!((slow.status, slow.body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("timeout")));

    // The burst is spent by now (3 requests); the next is refused with a Retry-After.
    let limited = app.clone().oneshot(Request::get("/v1/inboxes").body(Body::empty()).expect("r")).await.expect("a");
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = limited.headers()[header::RETRY_AFTER].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after >= 1);
    // Limits are per key: another key of the same workspace is not held back.
    let other = authed(router, api_key(&t, API_WS, &[Scope::Read]).await);
    assert_eq!(call(&other, "GET", "/v1/inboxes", None).await.status, StatusCode::OK);
}

async fn requests_carry_ids_and_metrics_count_commands_and_projection_lag<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let (_, conversation) = setup(&t, &app).await;
    let request = Request::get("/v1/inboxes").header("x-request-id", "req-123").body(Body::empty()).expect("r");
    let answer = app.clone().oneshot(request).await.expect("answer");
    assert_eq!(answer.headers()["x-request-id"], "req-123", "the caller's id is echoed");
    let answer = app.clone().oneshot(Request::get("/v1/inboxes").body(Body::empty()).expect("r")).await.expect("a");
    let id = answer.headers()["x-request-id"].to_str().expect("ascii");
    assert!(Uuid::parse_str(id).is_ok(), "a fresh id otherwise: {id}");

    // Read our write so the projections have folded it (and observed their lag).
    let position = whole_log(&t.engine).await.last().map(|e| e.position).unwrap_or(0);
    let read = call(&app, "GET", &format!("/v1/conversations/{conversation}?min_position={position}"), None).await;
    assert_eq!(read.status, StatusCode::OK);
    let metrics = raw(&app, Request::get("/metrics").body(Body::empty()).expect("r")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.body.as_str().expect("text").to_owned();
    for needle in [
        "convo_command_duration_seconds_bucket{command=\"receive_inbound_message\"",
        "convo_command_duration_seconds_bucket{command=\"create_inbox\"",
        "convo_projection_lag_seconds_bucket{projection=\"inbox\"",
        "convo_http_request_duration_seconds_bucket{method=\"GET\",route=\"/v1/inboxes\"",
    ] {
        assert!(text.contains(needle), "/metrics has {needle}");
    }
}

async fn a_graceful_shutdown_ends_live_streams_and_finishes_the_commands_in_flight<B: Backend>(backend: B) {
    let t = engine(backend);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let config = GatewayConfig { shutdown: Some(shutdown.clone()), ..crate::support::test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let key = api_key(&t, API_WS, &[Scope::Write, Scope::Connector]).await;
    let app = authed(router.clone(), key.clone());
    let (_, conversation) = setup(&t, &app).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let mut signal = shutdown;
    let server = tokio::spawn(async move {
        axum::serve(listener, router).with_graceful_shutdown(async move { drop(signal.wait_for(|s| *s).await) }).await
    });
    let http = reqwest::Client::new();
    // A dashboard following the live stream: it must not keep the server up.
    let mut live = http.get(format!("{url}/v1/stream")).bearer_auth(&key).send().await.expect("stream");
    assert_eq!(live.status(), StatusCode::OK);
    // Commands in flight when the shutdown comes.
    let sends: Vec<_> = (0..20)
        .map(|i| {
            let (http, key) = (http.clone(), key.clone());
            let uri = format!("{url}/v1/conversations/{conversation}/messages");
            tokio::spawn(async move {
                let body = json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": format!("in flight {i}")}});
                let answer = http.post(uri).bearer_auth(key).json(&body).send().await?;
                let status = answer.status();
                Ok::<_, reqwest::Error>((status, answer.json::<Value>().await?))
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(5)).await;
    stop.send_replace(true);
    tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("the server stops although a stream is open")
        .expect("the server task")
        .expect("serving");
    // The stream ended cleanly (no more chunks), it was not left hanging.
    while let Some(_chunk) = tokio::time::timeout(Duration::from_secs(5), live.chunk())
        .await
        .expect("the stream ends")
        .expect("the stream ends cleanly")
    {}
    // Every command the server took was answered completely, and what it answered is durable;
    // the others were refused at the door (connection closed), never half-done.
    let log = whole_log(&t.engine).await;
    let mut answered = 0;
    for send in sends {
        if let Ok((status, body)) = send.await.expect("a task") {
            assert_eq!(status, StatusCode::CREATED, "{body:?}");
            let message_id = body["message_id"].as_str().expect("message id");
            assert!(log.iter().any(|e| e.payload["message_id"] == message_id), "answered means written");
            answered += 1;
        }
    }
    let written = log.iter().filter(|e| e.event_type == "MessageSent").count();
    assert_eq!(written, answered, "nothing written without an answer");
}
