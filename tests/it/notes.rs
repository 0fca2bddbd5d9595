//! Private notes over HTTP (#18): a note has its place in the timeline for the team only. It is
//! never sent (no `MessageSent`), needs no messaging window, and is nobody's unread; the agents
//! it mentions find it in `GET /v1/agents/{id}/mentions`, newest first, read once their marker
//! reaches it. A note of the wrong shape, or mentioning no agent of the workspace, is 422 naming
//! the field and writes nothing.

use axum::Router;
use axum::http::StatusCode;
use chrono::Duration;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{TestEngine, app, call, engine, on_both_backends, register_agent, whole_log};

on_both_backends!(
    a_note_is_in_the_timeline_for_the_team_only_and_the_agents_it_mentions_find_it,
    a_note_of_the_wrong_shape_or_mentioning_no_agent_of_the_workspace_writes_nothing,
);

async fn ok(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Value {
    let reply = call(app, method, uri, body.clone()).await;
    assert!(reply.status.is_success(), "{method} {uri} {body:?}: {} {}", reply.status, reply.body);
    reply.body
}

fn ada() -> Value {
    json!({"kind": "agent", "id": "ada"})
}

/// A direct conversation on a new WhatsApp inbox, where the contact wrote once.
async fn conversation<B: Backend>(t: &TestEngine<B>, app: &Router) -> String {
    let inbox = ok(app, "POST", "/v1/inboxes", Some(json!({"name": "WA", "channel_type": "whatsapp"}))).await;
    let message = json!({"inbox_id": inbox["inbox_id"], "contact_id": "+4917300091",
                         "sent_at": t.clock_now(), "content": {"type": "text", "body": "my refund?"}});
    let received = ok(app, "POST", "/v1/inbound-messages", Some(message)).await;
    received["conversation_id"].as_str().expect("a conversation").to_owned()
}

async fn a_note_is_in_the_timeline_for_the_team_only_and_the_agents_it_mentions_find_it<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    register_agent(&app, "ada").await;
    register_agent(&app, "bob").await;
    let c = conversation(&t, &app).await;
    // A day and more later the window is closed: a free-text reply is refused, a note is not.
    t.clock.advance(Duration::hours(25));
    let reply = json!({"actor": ada(), "content": {"type": "text", "body": "hello?"}});
    let refused = call(&app, "POST", &format!("/v1/conversations/{c}/messages"), Some(reply)).await;
    assert_eq!(refused.body["code"], "messagingWindowClosed", "{}", refused.body);
    let note = json!({"actor": ada(), "body": "  refund approved, @bob please confirm ", "mentions": ["bob"]});
    let first = call(&app, "POST", &format!("/v1/conversations/{c}/notes"), Some(note)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    let first_id = first.body["message_id"].as_str().expect("the note's id").to_owned();
    let second = ok(
        &app,
        "POST",
        &format!("/v1/conversations/{c}/notes"),
        Some(json!({"actor": ada(), "body": "and @bob, @ada: done?", "mentions": ["bob", "ada"]})),
    )
    .await;
    let at = format!("min_position={}", second["position"]);

    // The timeline: the message, then both notes, set apart by their direction.
    let timeline = ok(&app, "GET", &format!("/v1/conversations/{c}/messages?{at}"), None).await;
    let items = timeline["items"].as_array().expect("items");
    assert_eq!(items.len(), 3, "{timeline}");
    assert_eq!(items[1]["direction"], "note");
    assert_eq!(items[1]["message_id"], first_id.as_str());
    assert_eq!(items[1]["seq"], 2);
    assert_eq!(items[1]["author"], ada());
    assert_eq!(items[1]["content"], json!({"type": "text", "body": "refund approved, @bob please confirm"}));
    assert_eq!(items[1]["mentioned_agents"], json!([{"agent_id": "bob", "name": "bob"}]));
    assert_eq!(items[1]["status"], Value::Null, "a note is never delivered");
    // Nothing to deliver: the log holds two notes and no sent message.
    let types: Vec<String> = whole_log(&t.engine).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types.iter().filter(|t| *t == "NoteAdded").count(), 2);
    assert!(!types.iter().any(|t| t == "MessageSent"), "{types:?}");
    // Nobody's unread: the contact's one message is all bob has to read.
    let summary = ok(&app, "GET", &format!("/v1/users/bob/unread-summary?{at}"), None).await;
    assert_eq!(summary["total"], 1, "{summary}");
    let view = ok(&app, "GET", &format!("/v1/conversations/{c}?{at}"), None).await;
    assert_eq!(view["last_message"]["seq"], 1, "a note is no last message: {view}");

    // Bob's mentions, newest first, unread.
    let mentions = ok(&app, "GET", &format!("/v1/agents/bob/mentions?{at}"), None).await;
    let listed: Vec<(&str, bool)> = mentions["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| (m["body"].as_str().expect("a body"), m["read"].as_bool().expect("read")))
        .collect();
    assert_eq!(listed, [("and @bob, @ada: done?", false), ("refund approved, @bob please confirm", false)]);
    assert_eq!(mentions["items"][1]["conversation_id"], c.as_str());
    assert_eq!(mentions["items"][1]["author"], ada());
    // Bob reads up to the first note: that mention is read, the later one not.
    let read = ok(
        &app,
        "POST",
        &format!("/v1/conversations/{c}/read"),
        Some(json!({"user_id": "bob", "message_id": first_id})),
    )
    .await;
    let at = format!("min_position={}", read["position"]);
    let page = ok(&app, "GET", &format!("/v1/agents/bob/mentions?limit=1&{at}"), None).await;
    assert_eq!((&page["items"][0]["seq"], &page["items"][0]["read"]), (&json!(3), &json!(false)));
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let page = ok(&app, "GET", &format!("/v1/agents/bob/mentions?limit=1&cursor={cursor}&{at}"), None).await;
    assert_eq!((&page["items"][0]["message_id"], &page["items"][0]["read"]), (&json!(first_id), &json!(true)));
    assert_eq!(page["next_cursor"], Value::Null);
    // Ada is mentioned once; an agent who does not exist has no list.
    let ada_mentions = ok(&app, "GET", &format!("/v1/agents/ada/mentions?{at}"), None).await;
    assert_eq!(ada_mentions["items"].as_array().map(Vec::len), Some(1));
    let nobody = call(&app, "GET", "/v1/agents/nobody/mentions", None).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{}", nobody.body);
}

async fn a_note_of_the_wrong_shape_or_mentioning_no_agent_of_the_workspace_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    register_agent(&app, "ada").await;
    let c = conversation(&t, &app).await;
    let note =
        ok(&app, "POST", &format!("/v1/conversations/{c}/notes"), Some(json!({"actor": ada(), "body": "x"}))).await;
    let note_id = note["message_id"].as_str().expect("the note's id").to_owned();
    let before = whole_log(&t.engine).await.len();
    let cases = [
        (json!({"actor": ada(), "body": "hi", "mentions": ["nobody"]}), "/mentions/0"),
        (json!({"actor": ada(), "body": "   "}), "/body"),
        (json!({"actor": ada(), "body": "x".repeat(4097)}), "/body"),
        // The API itself (a write key's own actor) writes no notes: a note has an author.
        (json!({"body": "hi"}), "/actor/kind"),
    ];
    for (body, pointer) in cases {
        let refused = call(&app, "POST", &format!("/v1/conversations/{c}/notes"), Some(body.clone())).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["pointer"], pointer, "{body}: {}", refused.body);
    }
    // A note is not a message: no reaction, edit or deletion reaches it.
    let react = json!({"actor": ada(), "emoji": "👍"});
    let refused = call(&app, "POST", &format!("/v1/conversations/{c}/messages/{note_id}/reactions"), Some(react)).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let refused = call(&app, "DELETE", &format!("/v1/conversations/{c}/messages/{note_id}"), None).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    let unknown = call(
        &app,
        "POST",
        &format!("/v1/conversations/{}/notes", uuid::Uuid::now_v7()),
        Some(json!({"actor": ada(), "body": "x"})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(whole_log(&t.engine).await.len(), before, "refusals write nothing");
}
