//! Consistency tokens (`min_position`, `X-Convo-Min-Position`): a position the log has is waited
//! for, bounded, then 503 `notYetConsistent`; a position beyond the log's head, which no command
//! can have answered, is refused at once as 422 `validation`; a negative one too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use convo_gateway::Scope;
use convo_read::ReadModels;
use convo_store::Backend;
use serde_json::{Value, json};

use tower::ServiceExt;

use crate::support::{API_WS, api_key, authed, call, engine, raw, read_models, test_config};

/// The queries that take a consistency token; `{c}` is a conversation.
const QUERIES: [&str; 6] = [
    "/v1/conversations",
    "/v1/conversations/{c}",
    "/v1/conversations/{c}/window",
    "/v1/conversations/{c}/messages",
    "/v1/inboxes",
    "/v1/users/ada/unread-summary",
];

/// An inbox and a conversation through `app`: the position of the last command.
async fn write(app: &axum::Router, now: chrono::DateTime<chrono::Utc>) -> (String, i64) {
    let inbox = call(app, "POST", "/v1/inboxes", Some(json!({"name": "SMS", "channel_type": "sms"}))).await;
    assert_eq!(inbox.status, StatusCode::CREATED, "{}", inbox.body);
    let message = json!({"inbox_id": inbox.body["inbox_id"], "contact_id": "+4917000001", "sent_at": now,
                         "content": {"type": "text", "body": "hi"}});
    let done = call(app, "POST", "/v1/inbound-messages", Some(message)).await;
    assert_eq!(done.status, StatusCode::CREATED, "{}", done.body);
    let conversation = done.body["conversation_id"].as_str().expect("a conversation id").to_owned();
    (conversation, done.body["position"].as_i64().expect("a position"))
}

fn assert_validation(reply: &crate::support::Reply, field: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.body["code"].as_str(), reply.body["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation"), Some(field)),
        "{what}: {}",
        reply.body
    );
}

async fn a_position_beyond_the_head_is_422_at_once_and_a_negative_one_too<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = crate::support::app(&t).await;
    let (conversation, position) = write(&app, t.clock_now()).await;
    let head = t.engine.log.head().await.expect("the head");
    assert!(head >= position);
    for query in QUERIES {
        let uri = query.replace("{c}", &conversation);
        let sep = if uri.contains('?') { '&' } else { '?' };
        // Read your own write: the command's position is waited for and served.
        let own = call(&app, "GET", &format!("{uri}{sep}min_position={position}"), None).await;
        assert_eq!(own.status, StatusCode::OK, "{uri}: {}", own.body);

        for beyond in [head + 1, i64::MAX] {
            let started = Instant::now();
            let reply = call(&app, "GET", &format!("{uri}{sep}min_position={beyond}"), None).await;
            assert_validation(&reply, "min_position", &uri);
            assert!(reply.body["detail"].as_str().unwrap_or_default().contains("beyond the log's head"));
            // No wait: the default wait is 5 s.
            assert!(started.elapsed() < Duration::from_secs(2), "{uri} waited {:?}", started.elapsed());

            let request = Request::get(&uri).header("x-convo-min-position", beyond.to_string());
            let reply = raw(&app, request.body(Body::empty()).expect("a request")).await;
            assert_validation(&reply, "x-convo-min-position", &uri);
        }

        let negative = call(&app, "GET", &format!("{uri}{sep}min_position=-1"), None).await;
        assert_validation(&negative, "min_position", &uri);
        let request = Request::get(&uri).header("x-convo-min-position", "-1").body(Body::empty()).expect("a request");
        assert_validation(&raw(&app, request).await, "x-convo-min-position", &uri);
    }
    // The parameter wins over the header.
    let request = Request::get(format!("/v1/inboxes?min_position={position}"))
        .header("x-convo-min-position", (head + 1).to_string())
        .body(Body::empty())
        .expect("a request");
    assert_eq!(raw(&app, request).await.status, StatusCode::OK);
    // The log's `after` (a position or a sequence) is not negative either.
    for uri in ["/v1/events?after=-1".to_owned(), format!("/v1/conversations/{conversation}/events?after=-1")] {
        assert_validation(&call(&app, "GET", &uri, None).await, "after", &uri);
    }
    // Nor is a list's cursor one.
    let timeline = format!("/v1/conversations/{conversation}/messages?cursor=-1");
    assert_validation(&call(&app, "GET", &timeline, None).await, "cursor", &timeline);
}

async fn a_position_the_log_has_but_a_read_model_does_not_reach_in_time_is_503<B: Backend>(backend: B) {
    let t = engine(backend);
    // Read models that never run: they stay at position 0 while the log moves on.
    let mut read = ReadModels::new(&t.engine.backend);
    read.consistency_wait = Duration::from_millis(300);
    let app = authed(
        convo_gateway::router(t.engine.clone(), Arc::new(read), &test_config()),
        api_key(&t, API_WS, &[Scope::Admin]).await,
    );
    let (conversation, position) = write(&app, t.clock_now()).await;
    for query in QUERIES {
        let uri = query.replace("{c}", &conversation);
        let request = Request::get(format!("{uri}?min_position={position}")).body(Body::empty()).expect("a request");
        let response = app.clone().oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"), "{uri}");
        let reply = call(&app, "GET", &format!("{uri}?min_position={position}"), None).await;
        assert_eq!(reply.body["code"], "notYetConsistent", "{uri}: {}", reply.body);
        assert_eq!(reply.content_type, "application/problem+json");
        // Without a token nothing is waited for.
        assert_ne!(call(&app, "GET", &uri, None).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    // Once they run, the same position is served.
    let running = read_models(&t);
    let app = authed(
        convo_gateway::router(t.engine.clone(), running, &test_config()),
        api_key(&t, API_WS, &[Scope::Read]).await,
    );
    let reply = call(&app, "GET", &format!("/v1/conversations/{conversation}?min_position={position}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["conversation_id"], Value::from(conversation));
}

crate::support::on_both_backends!(
    a_position_beyond_the_head_is_422_at_once_and_a_negative_one_too,
    a_position_the_log_has_but_a_read_model_does_not_reach_in_time_is_503,
);
