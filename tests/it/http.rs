//! The gateway over HTTP (in-process, `oneshot`), on both backends: every command endpoint of
//! DOMAIN.md answers with the conversation, its version and position; every rejection is
//! problem+json with a stable code, a 4xx for bad input, and writes nothing.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::Duration as Span;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{app, call, create_team, engine, on_both_backends, raw, register_agent, whole_log};

on_both_backends!(
    every_command_endpoint_answers_with_the_conversation_its_version_and_position,
    rejections_are_problem_json_with_stable_codes_and_write_nothing,
);

fn agent() -> Value {
    json!({"kind": "agent", "id": "ada"})
}

async fn every_command_endpoint_answers_with_the_conversation_its_version_and_position<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    // The agent and the team the steps assign.
    register_agent(&app, "ada").await;
    let billing = create_team(&app, "Billing").await;

    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "whatsapp"}))).await;
    assert_eq!(inbox.status, StatusCode::CREATED, "{:?}", inbox.body);
    let inbox_id = inbox.body["inbox_id"].as_str().expect("inbox id").to_owned();

    let inbound = json!({"inbox_id": inbox_id, "contact_id": "+4915100100", "display_name": "Ada",
                         "channel_message_id": "wamid.1", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let first = call(&app, "POST", "/v1/inbound-messages", Some(inbound)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let conversation = first.body["conversation_id"].as_str().expect("conversation id").to_owned();
    let inbound_message = first.body["message_id"].as_str().expect("message id").to_owned();
    assert_eq!(first.body["version"], 2);

    let c = format!("/v1/conversations/{conversation}");
    let sent = call(
        &app,
        "POST",
        &format!("{c}/messages"),
        Some(json!({"actor": agent(), "content": {"type": "text", "body": "hello"}})),
    )
    .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    let m = format!("{c}/messages/{}", sent.body["message_id"].as_str().expect("message id"));

    let steps: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", format!("{m}/status"), Some(json!({"status": "delivered"}))),
        (
            "POST",
            format!("{m}/reactions"),
            Some(json!({"actor": {"kind": "contact", "id": "+4915100100"}, "emoji": "👍"})),
        ),
        ("PATCH", m.clone(), Some(json!({"actor": agent(), "content": {"type": "text", "body": "hello!"}}))),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "ada"}))),
        ("DELETE", format!("{c}/assignee"), None),
        ("PUT", format!("{c}/team"), Some(json!({"team_id": billing}))),
        ("DELETE", format!("{c}/team"), None),
        ("POST", format!("{c}/archive"), None),
        ("POST", format!("{c}/unarchive"), None),
        ("POST", format!("{c}/read"), Some(json!({"user_id": "ada", "message_id": inbound_message}))),
        ("POST", format!("{c}/status"), Some(json!({"status": "snoozed", "snoozed_until": now + Span::hours(2)}))),
        ("DELETE", m.clone(), None),
    ];
    let mut last_position = sent.body["position"].as_i64().expect("a position");
    let mut version = 3;
    for (method, uri, body) in steps {
        let reply = call(&app, method, &uri, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{method} {uri}: {:?}", reply.body);
        version += 1;
        assert_eq!(reply.body["conversation_id"], conversation.as_str(), "{method} {uri}");
        assert_eq!(reply.body["version"], version, "{method} {uri}: one event each");
        let position = reply.body["position"].as_i64().expect("a position");
        assert!(position > last_position, "{method} {uri}: the position grows");
        last_position = position;
    }
    // Repeating an idempotent command writes nothing and answers the same version.
    let again = call(&app, "DELETE", &m, None).await;
    assert_eq!((again.status, again.body["version"].as_i64()), (StatusCode::OK, Some(version)));

    let types: Vec<String> = whole_log(&t.engine).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        [
            "AgentCreated",
            "TeamCreated",
            "InboxCreated",
            // The sender, a new contact, committed with its first message.
            "IdentityClaimed",
            "ContactCreated",
            "ConversationStarted",
            "InboundMessageReceived",
            "MessageSent",
            "DeliveryStatusRecorded",
            "ReactionSet",
            "MessageEdited",
            "AgentAssigned",
            "AgentUnassigned",
            "TeamAssigned",
            "TeamUnassigned",
            "ConversationArchived",
            "ConversationUnarchived",
            "ReadMarkerMoved",
            "StatusChanged",
            "MessageDeleted",
        ]
    );

    let deleted = call(&app, "DELETE", &format!("/v1/inboxes/{inbox_id}"), None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{:?}", deleted.body);
    assert_eq!(deleted.body["version"], 2);
    assert_eq!(call(&app, "GET", "/healthz", None).await.status, StatusCode::OK);
    assert_eq!(call(&app, "GET", "/readyz", None).await.status, StatusCode::OK);
}

async fn rejections_are_problem_json_with_stable_codes_and_write_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let whatsapp = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "WA", "channel_type": "whatsapp"}))).await;
    let sms = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "SMS", "channel_type": "sms"}))).await;
    let (wa, sms) = (whatsapp.body["inbox_id"].clone(), sms.body["inbox_id"].clone());
    let open = |inbox: &Value, contact: &str| json!({"inbox_id": inbox, "contact_id": contact, "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let wa_conv =
        call(&app, "POST", "/v1/inbound-messages", Some(open(&wa, "+1"))).await.body["conversation_id"].clone();
    let sms_conv =
        call(&app, "POST", "/v1/inbound-messages", Some(open(&sms, "+2"))).await.body["conversation_id"].clone();
    let wa_c = format!("/v1/conversations/{}", wa_conv.as_str().expect("id"));
    let sms_c = format!("/v1/conversations/{}", sms_conv.as_str().expect("id"));
    let before = whole_log(&t.engine).await.len();
    t.clock.advance(Span::hours(25));

    let text = json!({"actor": agent(), "content": {"type": "text", "body": "hello"}});
    let cases: Vec<(&str, String, Option<Value>, StatusCode, &str)> = vec![
        (
            "POST",
            format!("{wa_c}/messages"),
            Some(text.clone()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "messagingWindowClosed",
        ),
        (
            "POST",
            format!("{sms_c}/messages"),
            Some(json!({"actor": agent(), "content": {"type": "template", "name": "t", "language": "en"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupportedChannel",
        ),
        (
            "POST",
            format!("{sms_c}/messages"),
            Some(json!({"actor": {"kind": "contact", "id": "x"}, "content": {"type": "text", "body": "x"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            "/v1/conversations/00000000-0000-0000-0000-000000000001/messages".into(),
            Some(text.clone()),
            StatusCode::NOT_FOUND,
            "notFound",
        ),
        (
            "POST",
            format!("{sms_c}/messages/00000000-0000-0000-0000-000000000001/status"),
            Some(json!({"status": "read"})),
            StatusCode::NOT_FOUND,
            "notFound",
        ),
        (
            "POST",
            format!("{sms_c}/messages"),
            Some(json!({"actor": agent()})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            format!("{sms_c}/messages"),
            Some(json!({"actor": agent(), "content": {"type": "text", "body": ""}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            format!("{sms_c}/status"),
            Some(json!({"status": "snoozed"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "PUT",
            format!("{sms_c}/assignee"),
            Some(json!({"agent_id": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            "/v1/inbound-messages".into(),
            Some(json!({"inbox_id": wa, "contact_id": "+3", "group_id": "g", "sent_at": now,
                        "content": {"type": "text", "body": "hi"}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            "/v1/inbound-messages".into(),
            Some(json!({"inbox_id": "00000000-0000-0000-0000-000000000009", "contact_id": "+3", "sent_at": now,
                        "content": {"type": "text", "body": "hi"}})),
            StatusCode::NOT_FOUND,
            "notFound",
        ),
        (
            "POST",
            "/v1/groups".into(),
            Some(json!({"inbox_id": "00000000-0000-0000-0000-000000000009", "group_id": "g", "subject": "G",
                        "self_member": "+4"})),
            StatusCode::NOT_FOUND,
            "notFound",
        ),
        (
            "POST",
            "/v1/inboxes".into(),
            Some(json!({"name": "X", "channel_type": "pigeon"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        (
            "POST",
            format!("{sms_c}/archive"),
            Some(json!({"actor": agent(), "extra": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        ),
        ("POST", "/v1/conversations/not-a-uuid/archive".into(), None, StatusCode::UNPROCESSABLE_ENTITY, "validation"),
        ("DELETE", "/v1/inboxes/00000000-0000-0000-0000-000000000009".into(), None, StatusCode::NOT_FOUND, "notFound"),
        ("GET", "/v1/nowhere".into(), None, StatusCode::NOT_FOUND, "notFound"),
    ];
    for (method, uri, body, status, code) in cases {
        let reply = call(&app, method, &uri, body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{method} {uri}: {:?}",
            reply.body
        );
        assert_eq!(reply.content_type, "application/problem+json", "{method} {uri}");
        assert_eq!(reply.body["status"], status.as_u16(), "{method} {uri}");
    }
    let window = call(&app, "POST", &format!("{wa_c}/messages"), Some(text.clone())).await;
    assert_eq!(window.body["forActor"], "AGENT");
    assert_eq!(window.body["expiresAt"].as_str().map(|s| s.starts_with("2026-01-02T00:00:00")), Some(true));

    // Malformed bodies: not JSON, no content type.
    let malformed = Request::post(format!("{sms_c}/messages"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"actor\": "))
        .expect("request");
    let reply = raw(&app, malformed).await;
    assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformedRequest")));
    let untyped = Request::post(format!("{sms_c}/messages")).body(Body::from(text.to_string())).expect("request");
    let reply = raw(&app, untyped).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupportedMediaType"))
    );
    let garbage = Request::post(format!("{sms_c}/archive"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("\u{0}\u{1}"))
        .expect("request");
    assert_eq!(raw(&app, garbage).await.status, StatusCode::BAD_REQUEST);

    // A deleted inbox can no longer carry messages.
    let deleted = call(&app, "DELETE", &format!("/v1/inboxes/{}", sms.as_str().expect("id")), None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    let reply = call(&app, "POST", &format!("{sms_c}/messages"), Some(text)).await;
    assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inboxRequired")));
    // Nor receive them: the inbox is this workspace's, and gone.
    let reply = call(&app, "POST", "/v1/inbound-messages", Some(open(&sms, "+5"))).await;
    assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("inboxRequired")));

    assert_eq!(whole_log(&t.engine).await.len(), before + 1, "nothing but the inbox deletion was written");
}
