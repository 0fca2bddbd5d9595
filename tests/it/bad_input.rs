//! Generated bad input on both backends: NUL, other control characters, a lone surrogate,
//! 4-byte characters and an over-long string in every string of every operation of the OpenAPI
//! document (each string of a valid body, each path and query parameter). Every answer is a 4xx
//! problem+json that wrote nothing, or a 2xx that stored the string as given; never a 5xx. A NUL
//! is refused everywhere, naming where it is.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{Reply, app, call, create_team, engine, on_both_backends, raw, register_agent, whole_log};

on_both_backends!(no_string_of_any_operation_reaches_a_5xx_and_a_nul_is_refused_everywhere);

/// The strings tried, as JSON text (a lone surrogate cannot be a Rust `String`).
const BAD: [(&str, &str); 6] = [
    ("nul", r#""a\u0000b""#),
    ("only nul", r#""\u0000""#),
    ("control characters", r#""a\u0001\u001f\u007fb""#),
    ("lone surrogate", r#""a\ud800b""#),
    ("4-byte characters", r#""😀𝄞🇩🇪""#),
    ("over-long", "LONG"),
];

/// One operation with a valid request: where strings can go.
struct Operation {
    method: &'static str,
    template: &'static str,
    uri: String,
    body: Option<Value>,
    /// A string of the body that names what the operation creates, so that one success makes
    /// the same request a conflict: made new for each try of another string, so each reaches
    /// the rules behind it.
    fresh: Option<&'static str>,
}

fn op(method: &'static str, template: &'static str, uri: String, body: Option<Value>) -> Operation {
    Operation { method, template, uri, body, fresh: None }
}

/// Every string leaf of `value`, as JSON pointers.
fn string_pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::String(_) => out.push(at),
        Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| string_pointers(v, format!("{at}/{i}"), out)),
        Value::Object(map) => map.iter().for_each(|(k, v)| string_pointers(v, format!("{at}/{k}"), out)),
        _ => {}
    }
}

/// `body` as JSON text with the string at `pointer` replaced by `bad` (JSON text).
fn with_bad(body: &Value, pointer: &str, bad: &str) -> String {
    const MARK: &str = "\u{1}MARK\u{1}";
    let mut body = body.clone();
    *body.pointer_mut(pointer).expect("the pointer") = Value::String(MARK.into());
    let marked = serde_json::to_string(&MARK).expect("json");
    body.to_string().replacen(&marked, bad, 1)
}

fn long() -> String {
    serde_json::to_string(&"x".repeat(100_000)).expect("json")
}

async fn send(app: &axum::Router, method: &str, uri: &str, body: Option<String>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    raw(app, request.body(body.map_or_else(Body::empty, Body::from)).expect("a request")).await
}

async fn no_string_of_any_operation_reaches_a_5xx_and_a_nul_is_refused_everywhere<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let agent = json!({"kind": "agent", "id": "ada"});

    // Real resources, so that bad strings reach the rules behind them, not a 404.
    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "WA", "channel_type": "whatsapp"}))).await;
    let inbox_id = inbox.body["inbox_id"].as_str().expect("an inbox").to_owned();
    register_agent(&app, "ada").await;
    let team_id = create_team(&app, "Billing").await;
    let plan =
        json!({"model": "conversation", "key": "plan", "name": "Plan", "type": "list", "options": ["free", "gold"]});
    assert_eq!(call(&app, "POST", "/v1/attribute-definitions", Some(plan)).await.status, StatusCode::CREATED);
    let inbound = json!({"inbox_id": inbox_id, "contact_id": "+49151", "display_name": "Ada",
                         "channel_message_id": "wamid.1", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let first = call(&app, "POST", "/v1/inbound-messages", Some(inbound.clone())).await;
    let c = format!("/v1/conversations/{}", first.body["conversation_id"].as_str().expect("a conversation"));
    let contact = first.body["contact_id"].as_str().expect("the sender's contact").to_owned();
    let sent = call(
        &app,
        "POST",
        &format!("{c}/messages"),
        Some(json!({"actor": agent, "content": {"type": "text", "body": "hello"}})),
    )
    .await;
    let m = format!("{c}/messages/{}", sent.body["message_id"].as_str().expect("a message"));
    let group = call(
        &app,
        "POST",
        "/v1/groups",
        Some(json!({"inbox_id": inbox_id, "group_id": "g1@g.us",
        "subject": "Crew", "self_member": "+1000", "members": [{"member_id": "+1001", "display_name": "Ann"}],
        "settings": {"join_approval": true}})),
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    let g = format!("/v1/conversations/{}", group.body["conversation_id"].as_str().expect("a group"));
    let asked = call(&app, "POST", &format!("{g}/join-requests"), Some(json!({"member_id": "+1002"}))).await;
    let r = format!("{g}/join-requests/{}", asked.body["request_id"].as_str().expect("a request"));

    let media = json!({"type": "media", "url": "https://x.test/a.png", "mime_type": "image/png", "caption": "cap"});
    let template = json!({"type": "template", "name": "hello", "language": "en", "parameters": ["p1"]});
    let operations = vec![
        op("POST", "/v1/inboxes", "/v1/inboxes".into(), Some(json!({"name": "SMS", "channel_type": "sms"}))),
        op(
            "PUT",
            "/v1/inboxes/{inbox_id}/team",
            format!("/v1/inboxes/{inbox_id}/team"),
            Some(json!({"team_id": team_id})),
        ),
        op("DELETE", "/v1/inboxes/{inbox_id}", format!("/v1/inboxes/{inbox_id}"), Some(json!({"actor": agent}))),
        op(
            "POST",
            "/v1/inbound-messages",
            "/v1/inbound-messages".into(),
            Some(json!({"inbox_id": inbox_id,
            "contact_id": "+49152", "sender": "+49152", "display_name": "Bo", "channel_message_id": "wamid.2",
            "sent_at": now, "content": {"type": "text", "body": "hi"}})),
        ),
        op(
            "POST",
            "/v1/inbound-messages",
            "/v1/inbound-messages".into(),
            Some(json!({"inbox_id": inbox_id,
            "contact_id": "+49152", "sent_at": now, "content": media})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/messages",
            format!("{c}/messages"),
            Some(json!({"actor": agent, "content": {"type": "text", "body": "hello"}})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/messages",
            format!("{c}/messages"),
            Some(json!({"actor": agent, "content": template})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/messages/{message_id}/status",
            format!("{m}/status"),
            Some(json!({"status": "failed", "failure": {"code": "131047", "reason": "window"}})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/messages/{message_id}/reactions",
            format!("{m}/reactions"),
            Some(json!({"actor": {"kind": "contact", "id": "+49151"}, "emoji": "👍"})),
        ),
        op(
            "PATCH",
            "/v1/conversations/{conversation_id}/messages/{message_id}",
            m.clone(),
            Some(json!({"actor": agent, "content": {"type": "text", "body": "edited"}})),
        ),
        op(
            "DELETE",
            "/v1/conversations/{conversation_id}/messages/{message_id}",
            m.clone(),
            Some(json!({"actor": agent})),
        ),
        op(
            "PUT",
            "/v1/conversations/{conversation_id}/assignee",
            format!("{c}/assignee"),
            Some(json!({"agent_id": "ada"})),
        ),
        op(
            "DELETE",
            "/v1/conversations/{conversation_id}/assignee",
            format!("{c}/assignee"),
            Some(json!({"actor": agent})),
        ),
        op("PUT", "/v1/conversations/{conversation_id}/team", format!("{c}/team"), Some(json!({"team_id": team_id}))),
        op("DELETE", "/v1/conversations/{conversation_id}/team", format!("{c}/team"), Some(json!({"actor": agent}))),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/notes",
            format!("{c}/notes"),
            Some(json!({"actor": agent, "body": "call back", "mentions": ["ada"]})),
        ),
        op(
            "PUT",
            "/v1/conversations/{conversation_id}/labels/{label}",
            format!("{c}/labels/vip"),
            Some(json!({"actor": agent})),
        ),
        op(
            "DELETE",
            "/v1/conversations/{conversation_id}/labels/{label}",
            format!("{c}/labels/vip"),
            Some(json!({"actor": agent})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/archive",
            format!("{c}/archive"),
            Some(json!({"actor": agent})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/unarchive",
            format!("{c}/unarchive"),
            Some(json!({"actor": agent})),
        ),
        op("POST", "/v1/conversations/{conversation_id}/read", format!("{c}/read"), Some(json!({"user_id": "bob"}))),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/status",
            format!("{c}/status"),
            Some(json!({"status": "pending"})),
        ),
        op(
            "POST",
            "/v1/groups",
            "/v1/groups".into(),
            Some(json!({"inbox_id": inbox_id, "group_id": "g2@g.us",
            "subject": "Crew", "description": "d", "picture_url": "https://x.test/p.png", "self_member": "+1000",
            "members": [{"member_id": "+1001", "display_name": "Ann"}]})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/members",
            format!("{g}/members"),
            Some(json!({"members": [{"member_id": "+1003", "display_name": "Cy"}]})),
        ),
        op(
            "PATCH",
            "/v1/conversations/{conversation_id}/members/{member_id}",
            format!("{g}/members/+1001"),
            Some(json!({"display_name": "Annie"})),
        ),
        op(
            "DELETE",
            "/v1/conversations/{conversation_id}/members/{member_id}",
            format!("{g}/members/+1003"),
            Some(json!({"actor": agent})),
        ),
        op(
            "PATCH",
            "/v1/conversations/{conversation_id}/group",
            format!("{g}/group"),
            Some(json!({"subject": "New", "description": "d2", "picture_url": "https://x.test/q.png"})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/join-requests",
            format!("{g}/join-requests"),
            Some(json!({"member_id": "+1004", "display_name": "Di"})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/join-requests/{request_id}/approve",
            format!("{r}/approve"),
            Some(json!({"actor": agent})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/join-requests/{request_id}/reject",
            format!("{r}/reject"),
            Some(json!({"actor": agent})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/invite-link/rotate",
            format!("{g}/invite-link/rotate"),
            Some(json!({"invite_code": "code-1"})),
        ),
        op(
            "POST",
            "/v1/conversations/{conversation_id}/activity",
            format!("{g}/activity"),
            Some(json!({"at": now, "actor": {"kind": "contact", "id": "+1001"}})),
        ),
        op("POST", "/v1/conversations/{conversation_id}/leave", format!("{g}/leave"), Some(json!({"actor": agent}))),
        op("POST", "/v1/keys", "/v1/keys".into(), Some(json!({"name": "ci", "scopes": ["read"]}))),
        op(
            "POST",
            "/v1/webhooks",
            "/v1/webhooks".into(),
            Some(json!({"url": "https://x.test/hook", "description": "d", "event_types": ["MessageSent"],
            "inbox_id": inbox_id})),
        ),
        op(
            "PATCH",
            "/v1/webhooks/{webhook_id}",
            format!("/v1/webhooks/{}", uuid::Uuid::now_v7()),
            Some(json!({"url": "https://x.test/hook", "description": "d", "enabled": true,
                        "event_types": ["MessageSent"], "inbox_id": inbox_id})),
        ),
        op(
            "POST",
            "/v1/webhooks/{webhook_id}/replay",
            format!("/v1/webhooks/{}/replay", uuid::Uuid::now_v7()),
            Some(json!({"since": now})),
        ),
        Operation {
            fresh: Some("/agent_id"),
            ..op(
                "POST",
                "/v1/agents",
                "/v1/agents".into(),
                Some(json!({"agent_id": "cyd", "name": "Cyd", "email": "cyd@x.test", "role": "agent"})),
            )
        },
        op(
            "PATCH",
            "/v1/agents/{agent_id}",
            "/v1/agents/ada".into(),
            Some(json!({"name": "Ada", "email": "ada@x.test", "role": "administrator", "availability": "online",
                        "active": true})),
        ),
        op("POST", "/v1/teams", "/v1/teams".into(), Some(json!({"name": "Sales"}))),
        op(
            "POST",
            "/v1/attribute-definitions",
            "/v1/attribute-definitions".into(),
            Some(
                json!({"model": "conversation", "key": "tier", "name": "Tier", "type": "list", "options": ["a", "b"]}),
            ),
        ),
        op(
            "PATCH",
            "/v1/attribute-definitions/{model}/{key}",
            "/v1/attribute-definitions/conversation/plan".into(),
            Some(json!({"name": "Plan", "options": ["free", "gold"]})),
        ),
        op(
            "PATCH",
            "/v1/conversations/{conversation_id}/attributes",
            format!("{c}/attributes"),
            Some(json!({"actor": agent, "attributes": {"plan": "gold"}})),
        ),
        op("PATCH", "/v1/teams/{team_id}", format!("/v1/teams/{team_id}"), Some(json!({"name": "Billing EMEA"}))),
        op(
            "POST",
            "/v1/contacts",
            "/v1/contacts".into(),
            Some(json!({"name": "Ada", "avatar_url": "https://x.test/a.png", "tags": ["vip"],
                        "identities": [{"kind": "email", "value": "ada@x.test"}], "attributes": {"plan": "gold"}})),
        ),
        op(
            "POST",
            "/v1/contacts/{contact_id}/merge",
            format!("/v1/contacts/{}/merge", uuid::Uuid::now_v7()),
            Some(json!({"contact_id": uuid::Uuid::now_v7()})),
        ),
        op(
            "POST",
            "/v1/contacts/{contact_id}/identities",
            format!("/v1/contacts/{contact}/identities"),
            Some(json!({"kind": "email", "value": "ada@x.test"})),
        ),
        op(
            "DELETE",
            "/v1/contacts/{contact_id}/identities",
            format!("/v1/contacts/{contact}/identities"),
            Some(json!({"kind": "email", "value": "ada@x.test"})),
        ),
        op(
            "PATCH",
            "/v1/contacts/{contact_id}",
            format!("/v1/contacts/{}", uuid::Uuid::now_v7()),
            Some(
                json!({"name": "Ada", "avatar_url": "https://x.test/a.png", "tags": ["vip"], "attributes": {"plan": "gold"}}),
            ),
        ),
    ];

    // Every operation of the document with a body has one here; every one has its parameters tried below.
    let document: Value = convo_gateway::openapi();
    let with_body: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .expect("operations")
                .iter()
                .filter(|(_, o)| o.get("requestBody").is_some())
                .map(move |(method, _)| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let covered: BTreeSet<(String, String)> =
        operations.iter().map(|o| (o.method.to_owned(), o.template.to_owned())).collect();
    assert_eq!(
        with_body.difference(&covered).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations without a sample"
    );

    let mut tried = 0;
    let long = long();
    for operation in &operations {
        let sample = operation.body.as_ref().expect("a body");
        let mut pointers = Vec::new();
        string_pointers(sample, String::new(), &mut pointers);
        for pointer in pointers {
            for (name, bad) in BAD {
                let bad = if bad == "LONG" { long.as_str() } else { bad };
                let mut body = sample.clone();
                if let Some(fresh) = operation.fresh.filter(|fresh| *fresh != pointer) {
                    let value = body.pointer_mut(fresh).expect("the fresh field");
                    *value = json!(format!("{}-{tried}", value.as_str().expect("a string")));
                }
                let body = &body;
                let before = whole_log(&t.engine).await.len();
                let reply = send(&app, operation.method, &operation.uri, Some(with_bad(body, &pointer, bad))).await;
                let written = whole_log(&t.engine).await;
                let what = format!(
                    "{} {} with {name} at {pointer}: {} {}",
                    operation.method, operation.uri, reply.status, reply.body
                );
                tried += 1;
                assert!(!reply.status.is_server_error(), "{what}");
                if name.contains("nul") {
                    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
                    assert_eq!(reply.body["errors"][0]["pointer"], pointer.as_str(), "{what}");
                }
                if reply.status.is_client_error() {
                    assert_eq!(reply.content_type, "application/problem+json", "{what}");
                    assert_eq!(written.len(), before, "a refusal wrote nothing: {what}");
                } else if written.len() > before {
                    // Stored as given: the string is in what the command wrote.
                    let value: Value = serde_json::from_str(bad).expect("a JSON string");
                    let stored = written[before..].iter().any(|e| contains(&e.payload, &value));
                    assert!(stored, "stored as given: {what}");
                }
            }
        }
    }

    // Every path and query parameter of every operation, with a NUL.
    let mut parameters = 0;
    for (path, ops) in document["paths"].as_object().expect("paths") {
        for (method, operation) in ops.as_object().expect("operations") {
            let concrete = path
                .replace("{conversation_id}", &c["/v1/conversations/".len()..])
                .replace("{message_id}", m.rsplit('/').next().expect("an id"))
                .replace("{inbox_id}", &inbox_id)
                .replace("{request_id}", r.rsplit('/').next().expect("an id"))
                .replace("{member_id}", "+1001")
                .replace("{user_id}", "bob")
                .replace("{key_id}", "k")
                .replace("{agent_id}", "ada")
                .replace("{team_id}", &team_id)
                .replace("{label}", "vip")
                .replace("{model}", "conversation")
                .replace("{key}", "plan");
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().expect("a name");
                let uri = match parameter["in"].as_str() {
                    Some("path") => path
                        .replace(&format!("{{{name}}}"), "x%00y")
                        .replace("{conversation_id}", "x")
                        .replace("{team_id}", &team_id)
                        .replace("{agent_id}", "ada")
                        .replace("{label}", "vip")
                        .replace("{model}", "conversation")
                        .replace("{key}", "plan"),
                    Some("query") => format!("{concrete}?{name}=x%00y"),
                    _ => continue,
                };
                let before = whole_log(&t.engine).await.len();
                let reply = send(&app, &method.to_uppercase(), &uri, None).await;
                let what = format!("{method} {uri}: {} {}", reply.status, reply.body);
                parameters += 1;
                assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}");
                assert_eq!(reply.content_type, "application/problem+json", "{what}");
                assert_eq!(whole_log(&t.engine).await.len(), before, "{what}");
            }
        }
    }
    println!("bad input: {tried} body strings over {} operations, {parameters} parameters: no 5xx", operations.len());
    assert!(tried > 300 && parameters > 40, "{tried} {parameters}");
}

/// Whether `value` holds `needle` anywhere.
fn contains(value: &Value, needle: &Value) -> bool {
    value == needle
        || match value {
            Value::Array(items) => items.iter().any(|v| contains(v, needle)),
            Value::Object(map) => map.values().any(|v| contains(v, needle)),
            _ => false,
        }
}
