//! Time travel over HTTP, on both backends: `GET /v1/conversations/{id}?at_position=P` (and
//! `?at=T`) answers exactly what the live view answered at P, members and roles included.

use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{app, call, engine, on_both_backends, register_agent, whole_log};

on_both_backends!(time_travel_reproduces_every_state_the_live_view_showed);

async fn time_travel_reproduces_every_state_the_live_view_showed<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    // The agent the workload assigns.
    register_agent(&app, "ada").await;
    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "whatsapp"}))).await;
    let inbox_id = inbox.body["inbox_id"].as_str().expect("an inbox").to_owned();
    let group = json!({"inbox_id": inbox_id, "group_id": "g-history", "subject": "Crew", "self_member": "+1000",
                       "members": [{"member_id": "+1001", "display_name": "Ann"}]});
    let created = call(&app, "POST", "/v1/groups", Some(group)).await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let c = format!("/v1/conversations/{}", created.body["conversation_id"].as_str().expect("an id"));
    let direct =
        json!({"inbox_id": inbox_id, "contact_id": "+2000", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let direct = call(&app, "POST", "/v1/inbound-messages", Some(direct)).await;
    let d = format!("/v1/conversations/{}", direct.body["conversation_id"].as_str().expect("an id"));
    let agent = json!({"kind": "agent", "id": "ada"});
    let inbound = |body: &str| {
        json!({"inbox_id": inbox_id, "group_id": "g-history", "sender": "+1001", "sent_at": now,
               "content": {"type": "text", "body": body}})
    };

    let workload: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", "/v1/inbound-messages".into(), Some(inbound("first"))),
        (
            "POST",
            format!("{c}/members"),
            Some(json!({"members": [{"member_id": "+1002"}, {"member_id": "+1003", "role": "admin"}]})),
        ),
        (
            "POST",
            format!("{c}/messages"),
            Some(json!({"actor": agent, "content": {"type": "text", "body": "hello"}, "mentions": ["+1002"]})),
        ),
        ("PATCH", format!("{c}/members/+1002"), Some(json!({"role": "admin", "display_name": "Bo"}))),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "ada"}))),
        ("PATCH", format!("{c}/group"), Some(json!({"subject": "Crew 2", "settings": {"announce": true}}))),
        ("DELETE", format!("{c}/members/+1001"), Some(json!({"actor": {"kind": "contact", "id": "+1001"}}))),
        ("POST", format!("{c}/archive"), None),
        ("POST", "/v1/inbound-messages".into(), Some(inbound("back"))),
        ("POST", format!("{d}/status"), Some(json!({"status": "closed"}))),
        ("POST", format!("{c}/leave"), None),
    ];
    // After each command, what the live views showed.
    let mut captured = Vec::new();
    for (method, uri, body) in workload {
        let reply = call(&app, method, &uri, body).await;
        assert!(reply.status.is_success(), "{method} {uri}: {:?}", reply.body);
        let position = reply.body["position"].as_i64().expect("a position");
        for conversation in [&c, &d] {
            let view = call(&app, "GET", &format!("{conversation}?min_position={position}"), None).await.body;
            let members =
                call(&app, "GET", &format!("{conversation}/members?min_position={position}&limit=200"), None).await;
            captured.push((conversation.clone(), position, view, members.body["items"].clone()));
        }
    }

    let log = whole_log(&t.engine).await;
    for (conversation, position, live, live_members) in captured {
        let then = call(&app, "GET", &format!("{conversation}?at_position={position}"), None).await;
        assert_eq!(then.status, StatusCode::OK, "{:?}", then.body);
        let mut then = then.body;
        let as_of = then.as_object_mut().and_then(|o| o.remove("as_of")).expect("as_of");
        assert!(as_of["position"].as_i64().is_some_and(|p| p <= position));
        match then.as_object_mut().and_then(|o| o.remove("members")) {
            Some(members) => assert_eq!(members, live_members, "{conversation} members at {position}"),
            None => assert_eq!(live["kind"], "direct"),
        }
        assert_eq!(then, live, "{conversation} at {position}");

        // The same moment by time: the log's record time of the last event folded.
        let recorded = log.iter().find(|e| e.position == as_of["position"].as_i64().unwrap_or(-1)).expect("the event");
        let at = recorded.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).replace('+', "%2B");
        let mut by_time = call(&app, "GET", &format!("{conversation}?at={at}"), None).await.body;
        by_time.as_object_mut().map(|o| (o.remove("as_of"), o.remove("members")));
        assert_eq!(by_time, live, "{conversation} at {at}");
    }

    // Before the group existed there was no such conversation; both parameters at once, or a
    // position beyond the head, are refused.
    assert_eq!(call(&app, "GET", &format!("{c}?at_position=1"), None).await.status, StatusCode::NOT_FOUND);
    let both = call(&app, "GET", &format!("{c}?at_position=1&at=2026-01-01T00:00:00Z"), None).await;
    assert_eq!((both.status, both.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("at")));
    let beyond = call(&app, "GET", &format!("{c}?at_position=9223372036854775000"), None).await;
    assert_eq!((beyond.status, beyond.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("at_position")));
}
