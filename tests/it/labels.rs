//! Labels over HTTP (#18): put on and taken off a conversation, each once, in one spelling;
//! the inbox list filters by one; `GET /v1/labels` counts the conversations carrying each and
//! the open ones among them; a label of the wrong shape is 422 naming it and writes nothing.

use axum::Router;
use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{TestEngine, app, call, engine, on_both_backends, whole_log};

on_both_backends!(
    labels_filter_the_inbox_list_and_are_counted_per_workspace,
    a_label_of_the_wrong_shape_or_one_too_many_is_refused_and_writes_nothing,
);

async fn ok(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Value {
    let reply = call(app, method, uri, body.clone()).await;
    assert!(reply.status.is_success(), "{method} {uri} {body:?}: {} {}", reply.status, reply.body);
    reply.body
}

/// Three direct conversations on a new SMS inbox.
async fn conversations<B: Backend>(t: &TestEngine<B>, app: &Router) -> Vec<String> {
    let inbox = ok(app, "POST", "/v1/inboxes", Some(json!({"name": "SMS", "channel_type": "sms"}))).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let message = json!({"inbox_id": inbox["inbox_id"], "contact_id": format!("+491730009{i}"),
                             "sent_at": t.clock_now(), "content": {"type": "text", "body": "hi"}});
        let received = ok(app, "POST", "/v1/inbound-messages", Some(message)).await;
        ids.push(received["conversation_id"].as_str().expect("a conversation").to_owned());
    }
    ids
}

fn conversation_ids(page: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["conversation_id"].as_str().expect("an id"))
        .collect();
    ids.sort_unstable();
    ids
}

async fn labels_filter_the_inbox_list_and_are_counted_per_workspace<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let c = conversations(&t, &app).await;
    ok(&app, "PUT", &format!("/v1/conversations/{}/labels/Billing", c[0]), None).await;
    ok(&app, "PUT", &format!("/v1/conversations/{}/labels/billing", c[1]), None).await;
    let vip = ok(&app, "PUT", &format!("/v1/conversations/{}/labels/vip", c[1]), None).await;
    // Again, in another spelling: nothing changes.
    let again = ok(&app, "PUT", &format!("/v1/conversations/{}/labels/VIP", c[1]), None).await;
    assert_eq!((&again["version"], &again["position"]), (&vip["version"], &vip["position"]));
    let pending =
        ok(&app, "POST", &format!("/v1/conversations/{}/status", c[1]), Some(json!({"status": "pending"}))).await;
    let at = format!("min_position={}", pending["position"]);

    let mut billing = vec![c[0].as_str(), c[1].as_str()];
    billing.sort_unstable();
    let listed = ok(&app, "GET", &format!("/v1/conversations?label=billing&{at}"), None).await;
    assert_eq!(conversation_ids(&listed), billing);
    let listed = ok(&app, "GET", &format!("/v1/conversations?label=VIP&{at}"), None).await;
    assert_eq!(conversation_ids(&listed), [c[1].as_str()]);
    let listed = ok(&app, "GET", &format!("/v1/conversations?label=none&{at}"), None).await;
    assert_eq!(conversation_ids(&listed), Vec::<&str>::new());
    // In the order of the unfiltered list, whichever sort: the label's rows carry the sort times.
    for sort in ["-last_message_at", "last_activity_at", "-created_at"] {
        let all = ok(&app, "GET", &format!("/v1/conversations?sort={sort}&{at}"), None).await;
        let expected: Vec<&Value> = all["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|c| c["labels"].as_array().is_some_and(|l| l.contains(&json!("billing"))))
            .map(|c| &c["conversation_id"])
            .collect();
        let filtered = ok(&app, "GET", &format!("/v1/conversations?label=billing&sort={sort}&{at}"), None).await;
        let actual: Vec<&Value> =
            filtered["items"].as_array().expect("items").iter().map(|c| &c["conversation_id"]).collect();
        assert_eq!(actual, expected, "{sort}");
        let first = ok(&app, "GET", &format!("/v1/conversations?label=billing&sort={sort}&limit=1&{at}"), None).await;
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let second =
            ok(&app, "GET", &format!("/v1/conversations?label=billing&sort={sort}&limit=1&cursor={cursor}&{at}"), None)
                .await;
        assert_eq!(
            [&first["items"][0]["conversation_id"], &second["items"][0]["conversation_id"]],
            expected[..],
            "{sort}, paged"
        );
    }
    // With the other filters: billing and open.
    let listed = ok(&app, "GET", &format!("/v1/conversations?label=billing&status=open&{at}"), None).await;
    assert_eq!(conversation_ids(&listed), [c[0].as_str()]);
    let one = ok(&app, "GET", &format!("/v1/conversations/{}?{at}", c[1]), None).await;
    assert_eq!(one["labels"], json!(["billing", "vip"]));

    let labels = ok(&app, "GET", &format!("/v1/labels?{at}"), None).await;
    assert_eq!(
        labels["items"],
        json!([{"label": "billing", "conversations": 2, "open": 1}, {"label": "vip", "conversations": 1, "open": 0}])
    );
    let first = ok(&app, "GET", &format!("/v1/labels?limit=1&{at}"), None).await;
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = ok(&app, "GET", &format!("/v1/labels?limit=1&cursor={cursor}&{at}"), None).await;
    assert_eq!(second["items"][0]["label"], "vip");
    // Open means open and not archived, now: archiving the open one counts it out, and back.
    for (action, open) in [("archive", 0), ("unarchive", 1)] {
        let done = ok(&app, "POST", &format!("/v1/conversations/{}/{action}", c[0]), None).await;
        let labels = ok(&app, "GET", &format!("/v1/labels?min_position={}", done["position"]), None).await;
        assert_eq!(labels["items"][0], json!({"label": "billing", "conversations": 2, "open": open}), "{action}");
    }

    // Taken off: once.
    let off = ok(&app, "DELETE", &format!("/v1/conversations/{}/labels/billing", c[0]), None).await;
    let off_again = ok(&app, "DELETE", &format!("/v1/conversations/{}/labels/billing", c[0]), None).await;
    assert_eq!(off_again["version"], off["version"]);
    let at = format!("min_position={}", off["position"]);
    let listed = ok(&app, "GET", &format!("/v1/conversations?label=billing&{at}"), None).await;
    assert_eq!(conversation_ids(&listed), [c[1].as_str()]);
    let labels = ok(&app, "GET", &format!("/v1/labels?{at}"), None).await;
    assert_eq!(labels["items"][0], json!({"label": "billing", "conversations": 1, "open": 0}));
    let types: Vec<String> = whole_log(&t.engine).await.into_iter().map(|e| e.event_type).collect();
    let count = |kind: &str| types.iter().filter(|t| *t == kind).count();
    assert_eq!((count("LabelAdded"), count("LabelRemoved")), (3, 1));
}

async fn a_label_of_the_wrong_shape_or_one_too_many_is_refused_and_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let c = conversations(&t, &app).await;
    let before = whole_log(&t.engine).await.len();
    for bad in ["two%20words".to_owned(), "x".repeat(65), "tab%09".to_owned()] {
        for method in ["PUT", "DELETE"] {
            let refused = call(&app, method, &format!("/v1/conversations/{}/labels/{bad}", c[0]), None).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", refused.body);
            assert_eq!(refused.body["errors"][0]["parameter"], "label", "{}", refused.body);
        }
    }
    let listed = call(&app, "GET", &format!("/v1/conversations?label={}", "y".repeat(65)), None).await;
    assert_eq!(listed.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", listed.body);
    let unknown = call(&app, "PUT", &format!("/v1/conversations/{}/labels/vip", uuid::Uuid::now_v7()), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(whole_log(&t.engine).await.len(), before, "refusals write nothing");
    for i in 0..50 {
        ok(&app, "PUT", &format!("/v1/conversations/{}/labels/l{i}", c[0]), None).await;
    }
    let full = call(&app, "PUT", &format!("/v1/conversations/{}/labels/one-more", c[0]), None).await;
    assert_eq!(full.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", full.body);
    assert!(full.body["detail"].as_str().is_some_and(|d| d.contains("at most 50 labels")), "{}", full.body);
}
