//! Read models on both backends, by topic: queries, unread counts, and the runners that keep them
//! (with rebuild and verify). The helpers below are shared by the three.

use axum::http::StatusCode;
use convo_projection::prepare;
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use convo_read::{ConversationQuery, ReadModels};
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{WS, call, whole_log};

mod queries;
mod runners;
mod unread;

fn agent() -> Value {
    json!({"kind": "agent", "id": "ada"})
}

async fn new_inbox(app: &axum::Router, channel: &str) -> Value {
    let reply = call(app, "POST", "/v1/inboxes", Some(json!({"name": "Inbox", "channel_type": channel}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["inbox_id"].clone()
}

async fn inbound(
    app: &axum::Router,
    inbox: &Value,
    contact: &str,
    sent_at: chrono::DateTime<chrono::Utc>,
    body: &str,
) -> Value {
    let reply = call(
        app,
        "POST",
        "/v1/inbound-messages",
        Some(json!({"inbox_id": inbox, "contact_id": contact, "display_name": contact, "sent_at": sent_at,
                    "content": {"type": "text", "body": body}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body
}

/// Folds the whole log in memory, independently of any storage.
async fn folded<B: Backend>(t: &crate::support::TestEngine<B>) -> Vec<ConversationSummary> {
    let log = whole_log(&t.engine).await;
    let batch = prepare(&InboxProjection, &log).expect("prepare");
    let mut rows: Vec<ConversationSummary> = batch
        .apply(&InboxProjection, Default::default())
        .expect("fold")
        .into_iter()
        .filter_map(|(_, row)| row)
        .collect();
    rows.sort_by_key(|r| r.conversation_id);
    rows
}

async fn stored<B: Backend>(read: &ReadModels<B>) -> Vec<ConversationSummary> {
    let mut rows = read.inbox.list(&ConversationQuery::all(WS, 10_000)).await.expect("list");
    rows.sort_by_key(|r| r.conversation_id);
    rows
}
