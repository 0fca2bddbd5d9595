//! Read models on both backends: read-your-writes after every command, the inbox list's
//! filters, sort and cursor, live rows equal to an independent fold of the whole log (also after
//! a runner is killed and restarted), and a projection that cannot fold an event stops visibly.

use std::collections::HashSet;

use axum::http::StatusCode;
use chrono::Duration as Span;
use convo_domain::conversation::ConversationStatus;
use convo_projection::prepare;
use convo_projection_inbox::{ConversationSummary, InboxProjection};
use convo_projection_timeline::{TimelineMessage, TimelineProjection};
use convo_read::{ConversationQuery, ReadModels};
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{WS, app, call, engine, on_both_backends, read_models, whole_log};

on_both_backends!(
    every_query_with_min_position_reads_the_write_that_returned_it,
    the_inbox_list_filters_sorts_and_pages_with_a_stable_cursor,
    read_your_writes_holds_with_concurrent_writers,
    live_rows_equal_a_fold_of_the_whole_log_even_after_a_runner_restart,
    a_projection_that_cannot_fold_an_event_stops_and_readyz_says_why,
    a_position_not_reached_in_time_is_503_with_retry_after,
    the_timeline_shows_status_reactions_edits_and_tombstones_and_pages_by_seq,
    the_log_endpoints_serve_one_workspace_in_order_and_one_conversation_by_sequence,
    the_window_follows_the_inbox_policy_and_the_clock_and_inboxes_are_listed,
    unread_counts_follow_inbound_messages_and_each_users_read_markers,
    the_unread_version_never_goes_down_for_a_client_polling_during_writes,
    verify_finds_no_difference_after_a_workload_and_a_rebuild_repairs_a_tampered_model_while_serving,
    a_rebuild_works_on_a_database_no_runner_has_followed,
    a_read_model_commit_whose_caller_gives_up_leaves_no_transaction_open,
);

/// A runner aborted or a request timed out in the middle of a read-model commit: sqlx 0.8
/// leaves a connection whose `begin` was cancelled inside a transaction and hands it out again,
/// where later statements would commit late or never, and its open transaction would hold back
/// every reader of the log. Commits run to their end in a task of their own instead.
async fn a_read_model_commit_whose_caller_gives_up_leaves_no_transaction_open<B: Backend>(backend: B) {
    use convo_store::{Checkpoint, SqlStore};
    let t = engine(backend.clone());
    let sql = backend.sql();
    let checkpoint = Checkpoint::new(sql.clone(), "given-up");
    assert_eq!(checkpoint.read().await.expect("create the checkpoint"), 0);
    // Callers that stop waiting at every point of the commit, from after `COMMIT` to before
    // `BEGIN` (the early ones last, so no later commit happens to heal their connection).
    for i in (0..400_u64).rev() {
        let _ = tokio::time::timeout(std::time::Duration::from_micros(i * 5), checkpoint.advance(0, 0)).await;
    }
    // Every commit still ran to its end, and left its connection with nothing open.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    if backend.name() == "postgres" {
        let open = sql
            .scalar(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        assert_eq!(open, Some(0), "no connection was left inside a transaction");
    }
    // What is written next is committed and readable at once, on whichever connection it lands.
    let inbox = t.create_inbox(convo_domain::ChannelType::Sms).await;
    for i in 0..20 {
        t.inbound(inbox, &format!("+4915100{i:03}"), "after").await;
    }
    let log = tokio::time::timeout(std::time::Duration::from_secs(5), whole_log(&t.engine))
        .await
        .expect("the log is readable to its head: no transaction holds it back");
    assert_eq!(log.iter().filter(|e| e.event_type == "InboundMessageReceived").count(), 20);
}

/// `convo migrate`, a log loaded from elsewhere (a restore, the 1M fixture), then
/// `convo projections rebuild`: no runner has created the read models' checkpoints yet.
async fn a_rebuild_works_on_a_database_no_runner_has_followed<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(convo_domain::ChannelType::Sms).await;
    let conversation = t.inbound(inbox, "+4915100100", "hello").await;
    let read = convo_read::ReadModels::new(&t.engine.backend);
    for name in convo_read::ReadModels::<B>::NAMES {
        let folded = read.rebuild(name, &t.engine.log, &|_| {}).await.unwrap_or_else(|e| panic!("rebuild {name}: {e}"));
        assert_eq!(folded, 3, "{name}: the inbox, the conversation's start and its message");
    }
    let row = read.inbox.get(WS, conversation).await.expect("read the rebuilt inbox");
    assert_eq!(row.map(|r| r.inbound_count), Some(1), "the rebuilt read model has the conversation");
}

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

async fn every_query_with_min_position_reads_the_write_that_returned_it<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let inbox = new_inbox(&app, "sms").await;
    let first = inbound(&app, &inbox, "+4917000001", now, "first").await;
    let c = format!("/v1/conversations/{}", first["conversation_id"].as_str().expect("id"));
    let read = |position: &Value| {
        let uri = format!("{c}?min_position={}", position.as_i64().expect("a position"));
        let app = app.clone();
        async move { call(&app, "GET", &uri, None).await }
    };
    let row = read(&first["position"]).await;
    assert_eq!(row.status, StatusCode::OK, "{:?}", row.body);
    assert_eq!(row.body["last_message"]["preview"], "first");
    assert_eq!(row.body["inbound_count"], 1);

    let steps: Vec<(&str, String, Option<Value>, &str, Value)> = vec![
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "ada"})), "/assignee", json!("ada")),
        ("PUT", format!("{c}/team"), Some(json!({"team_id": "billing"})), "/team", json!("billing")),
        ("POST", format!("{c}/archive"), None, "/archived", json!(true)),
        ("POST", format!("{c}/status"), Some(json!({"status": "closed"})), "/status", json!("closed")),
        (
            "POST",
            format!("{c}/messages"),
            Some(json!({"actor": agent(), "content": {"type": "text", "body": "a reply"}})),
            "/last_message/preview",
            json!("a reply"),
        ),
        ("DELETE", format!("{c}/assignee"), None, "/assignee", Value::Null),
    ];
    for (method, uri, body, pointer, expected) in steps {
        let done = call(&app, method, &uri, body).await;
        assert!(done.status.is_success(), "{method} {uri}: {:?}", done.body);
        let row = read(&done.body["position"]).await;
        assert_eq!(row.status, StatusCode::OK);
        assert_eq!(row.body.pointer(pointer), Some(&expected), "{method} {uri}: read right after the write");
        assert_eq!(row.body["version"], done.body["version"]);
    }
    // An inbound message reopens and unarchives, and the list shows it again at once.
    let again = inbound(&app, &inbox, "+4917000001", now, "again").await;
    let uri = format!("/v1/conversations?min_position={}", again["position"]);
    let list = call(&app, "GET", &uri, None).await;
    assert_eq!(list.body["items"][0]["status"], "open");
    assert_eq!(list.body["items"][0]["archived"], false);
    // The header works like the parameter.
    let request = axum::http::Request::get(&c)
        .header("x-convo-min-position", again["position"].to_string())
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(crate::support::raw(&app, request).await.body["last_message"]["preview"], "again");
}

async fn the_inbox_list_filters_sorts_and_pages_with_a_stable_cursor<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let sms = new_inbox(&app, "sms").await;
    let email = new_inbox(&app, "email").await;
    let mut last = Value::Null;
    for i in 0..24 {
        let inbox = if i % 3 == 0 { &email } else { &sms };
        // Messages sent a minute apart, not in creation order.
        let sent_at = now - Span::minutes((i * 7) % 24);
        let done = inbound(&app, inbox, &format!("+49171{i:05}"), sent_at, &format!("message {i}")).await;
        let c = format!("/v1/conversations/{}", done["conversation_id"].as_str().expect("id"));
        if i % 4 == 0 {
            last = call(&app, "PUT", &format!("{c}/assignee"), Some(json!({"agent_id": "ada"}))).await.body;
        }
        if i % 5 == 0 {
            last = call(&app, "POST", &format!("{c}/archive"), None).await.body;
        }
        if i % 4 != 0 && i % 5 != 0 {
            last = done;
        }
    }
    let at = last["position"].as_i64().expect("position");
    let list = |query: String| {
        let app = app.clone();
        async move {
            let reply = call(&app, "GET", &format!("/v1/conversations?min_position={at}&{query}"), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.body);
            reply.body
        }
    };
    let items = |body: &Value| body["items"].as_array().cloned().unwrap_or_default();

    let inbox_view = items(&list("limit=100".into()).await);
    assert_eq!(inbox_view.len(), 24 - 5, "archived conversations leave the default view");
    let times: Vec<&str> = inbox_view.iter().map(|r| r["last_message"]["at"].as_str().unwrap_or_default()).collect();
    let mut sorted = times.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, sorted, "newest message first by default");
    assert_eq!(items(&list("archived=true&limit=100".into()).await).len(), 5);
    assert_eq!(items(&list("archived=any&limit=100".into()).await).len(), 24);
    let assigned = items(&list("archived=any&assignee=ada&limit=100".into()).await);
    assert_eq!(assigned.len(), 6);
    assert!(assigned.iter().all(|r| r["assignee"] == "ada"));
    let emails = items(&list(format!("archived=any&inbox_id={}&limit=100", email.as_str().expect("id"))).await);
    assert_eq!(emails.len(), 8);
    assert_eq!(items(&list("archived=any&channel=email&limit=100".into()).await).len(), 8);
    assert_eq!(items(&list("status=closed".into()).await).len(), 0);
    let oldest_first = items(&list("sort=%2Blast_message_at&limit=100".into()).await);
    let reversed: Vec<&str> =
        oldest_first.iter().rev().map(|r| r["last_message"]["at"].as_str().unwrap_or_default()).collect();
    assert_eq!(reversed, times, "+ sorts ascending");

    // Pages of 5 cover the view exactly once, even while new conversations arrive between pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page = 0;
    loop {
        let query = match &cursor {
            Some(c) => format!("limit=5&cursor={c}"),
            None => "limit=5".into(),
        };
        let body = list(query).await;
        seen.extend(items(&body).iter().map(|r| r["conversation_id"].as_str().unwrap_or_default().to_owned()));
        page += 1;
        inbound(&app, &sms, &format!("+49172{page:05}"), now + Span::minutes(page), "newer").await;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> =
        inbox_view.iter().map(|r| r["conversation_id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(seen, expected, "every conversation once, in order, new arrivals not mixed in");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), seen.len());

    for bad in ["sort=-name", "limit=0", "limit=1000", "cursor=abc", "archived=maybe", "status=lost", "nope=1"] {
        let reply = call(&app, "GET", &format!("/v1/conversations?{bad}"), None).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")),
            "{bad}"
        );
    }
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

async fn live_rows_equal_a_fold_of_the_whole_log_even_after_a_runner_restart<B: Backend>(backend: B) {
    use convo_domain::conversation::ConversationAction as A;
    use convo_domain::{Actor, ChannelType, ConversationCommand};
    let t = engine(backend);
    let mut first = ReadModels::new(&t.engine.backend);
    first.batch = 7; // small batches: many checkpoints to crash between
    let runners = first.spawn(&t.engine.log);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let mut conversations = Vec::new();
    for i in 0..12 {
        conversations.push(t.inbound(inbox, &format!("+49173{i:05}"), "hello").await);
    }
    let command = |action| ConversationCommand { workspace_id: WS, actor: Actor::agent("ada"), action };
    for round in 0..6 {
        if round == 3 {
            runners.iter().for_each(tokio::task::JoinHandle::abort); // the runner dies mid-stream
        }
        for (i, c) in conversations.iter().enumerate() {
            let id = c.to_string();
            let action = match (round + i) % 5 {
                0 => A::AssignAgent { agent_id: format!("agent-{round}") },
                1 => A::Archive,
                2 => A::ChangeStatus { status: ConversationStatus::Pending, snoozed_until: None },
                3 => A::SendMessage {
                    minted_id: false,
                    mentions: vec![],
                    message_id: uuid::Uuid::now_v7(),
                    content: crate::support::text("reply"),
                },
                _ => A::Unarchive,
            };
            t.engine.conversations.execute(&id, command(action), &crate::support::meta()).await.expect("command");
            t.clock.advance(Span::seconds(1));
        }
    }
    // A new runner picks up from the committed checkpoint.
    let second = read_models(&t);
    let head = t.engine.log.head().await.expect("head");
    assert!(second.inbox_status.wait_for(head, std::time::Duration::from_secs(60)).await, "the new runner catches up");
    assert!(second.timeline_status.wait_for(head, std::time::Duration::from_secs(60)).await);
    assert_eq!(stored(&second).await, folded(&t).await, "no event lost or applied twice across the restart");
    let log = whole_log(&t.engine).await;
    let mut timeline: Vec<TimelineMessage> = prepare(&TimelineProjection, &log)
        .expect("prepare")
        .apply(&TimelineProjection, Default::default())
        .expect("fold")
        .into_iter()
        .filter_map(|(_, row)| row)
        .collect();
    timeline.sort_by_key(|m| (m.conversation_id, m.seq));
    let mut live = Vec::new();
    for conversation in stored(&second).await {
        live.extend(second.timeline.page(WS, conversation.conversation_id, None, false, 10_000).await.expect("page"));
    }
    live.sort_by_key(|m| (m.conversation_id, m.seq));
    let sends = (0..6).flat_map(|round| (0..12).map(move |i| (round + i) % 5)).filter(|a| *a == 3).count();
    assert_eq!(live.len(), 12 + sends, "every message");
    assert_eq!(live, timeline, "the timeline too");
}

async fn a_projection_that_cannot_fold_an_event_stops_and_readyz_says_why<B: Backend>(backend: B) {
    use cqrs_es::persist::SerializedEvent;
    let t = engine(backend.clone());
    let app = app(&t).await;
    let inbox = new_inbox(&app, "sms").await;
    let done = inbound(&app, &inbox, "+4917400001", t.clock_now(), "hello").await;
    // An event of a conversation that never started: the inbox projection cannot fold it.
    let orphan = SerializedEvent::new(
        uuid::Uuid::now_v7().to_string(),
        1,
        "conversation".into(),
        "ConversationArchived".into(),
        "1.0.0".into(),
        json!({"type": "ConversationArchived", "occurred_at": t.clock_now(), "actor": agent()}),
        json!({"workspace_id": WS.to_string()}),
    );
    backend.persist::<convo_domain::Conversation>(&[orphan], None).await.expect("store the orphan");
    let head = t.engine.log.head().await.expect("head");

    let mut ready = call(&app, "GET", "/readyz", None).await;
    for _ in 0..100 {
        if ready.status != StatusCode::OK {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        ready = call(&app, "GET", "/readyz", None).await;
    }
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = ready.body["projections"]["inbox"]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains(&format!("position {head}")), "names the event: {error}");
    assert_eq!(ready.body["projections"]["inbox"]["position"], done["position"], "stopped before it");
    // The other read models keep going past it.
    for other in ["timeline", "inboxes", "unread"] {
        let mut ready = call(&app, "GET", "/readyz", None).await;
        for _ in 0..100 {
            if ready.body["projections"][other]["position"] == head {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            ready = call(&app, "GET", "/readyz", None).await;
        }
        assert_eq!(ready.body["projections"][other]["position"], head, "{other} keeps going");
        assert_eq!(ready.body["projections"][other]["error"], Value::Null, "{other} is healthy");
    }
    let reply = call(&app, "GET", &format!("/v1/conversations?min_position={head}"), None).await;
    assert_eq!(
        (reply.status, reply.body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("readModelStopped"))
    );
    // What it had folded is still served.
    assert_eq!(call(&app, "GET", "/v1/conversations", None).await.body["items"].as_array().map(Vec::len), Some(1));
}

async fn a_position_not_reached_in_time_is_503_with_retry_after<B: Backend>(backend: B) {
    let t = engine(backend);
    let mut read = ReadModels::new(&t.engine.backend);
    read.consistency_wait = std::time::Duration::from_millis(300);
    // Not spawned: the read models stay at position 0 while the log moves on. (A position beyond
    // the log's head is not waited for: it is 422 at once, see tests/it/consistency.rs.)
    let read = std::sync::Arc::new(read);
    let app = crate::support::authed(
        convo_gateway::router(t.engine.clone(), read, &crate::support::test_config()),
        crate::support::api_key(&t, crate::support::API_WS, &[convo_gateway::Scope::Admin]).await,
    );
    let inbox = new_inbox(&app, "sms").await;
    let done = inbound(&app, &inbox, "+4917500001", t.clock_now(), "hello").await;
    let beyond = done["position"].as_i64().expect("position");
    let request = axum::http::Request::get(format!("/v1/conversations?min_position={beyond}"))
        .body(axum::body::Body::empty())
        .expect("request");
    let response = tower::ServiceExt::oneshot(app.clone(), request).await.expect("answer");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let reply = call(&app, "GET", &format!("/v1/conversations?min_position={beyond}"), None).await;
    assert_eq!(reply.body["code"], "notYetConsistent");
    assert_eq!(reply.content_type, "application/problem+json");
}

async fn the_timeline_shows_status_reactions_edits_and_tombstones_and_pages_by_seq<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let inbox = new_inbox(&app, "whatsapp").await;
    let first = inbound(&app, &inbox, "+4917600001", t.clock_now(), "hi there").await;
    let c = format!("/v1/conversations/{}", first["conversation_id"].as_str().expect("id"));
    let mut sent = Vec::new();
    for body in ["one", "two", "three"] {
        let reply = call(
            &app,
            "POST",
            &format!("{c}/messages"),
            Some(json!({"actor": agent(), "content": {"type": "text", "body": body}})),
        )
        .await;
        sent.push(reply.body["message_id"].as_str().expect("id").to_owned());
    }
    let m = |i: usize| format!("{c}/messages/{}", sent[i]);
    let status = |s: &str| Some(json!({"status": s}));
    // Reports arrive out of order and twice.
    for (i, report) in [(0, status("read")), (0, status("delivered")), (0, status("sent")), (0, status("read"))] {
        assert_eq!(call(&app, "POST", &format!("{}/status", m(i)), report).await.status, StatusCode::OK);
    }
    let failed = Some(json!({"status": "failed", "failure": {"code": "131047", "reason": "re-engagement required"}}));
    call(&app, "POST", &format!("{}/status", m(1)), failed).await;
    call(&app, "POST", &format!("{}/status", m(1)), status("delivered")).await;
    let contact = json!({"kind": "contact", "id": "+4917600001"});
    call(&app, "POST", &format!("{}/reactions", m(0)), Some(json!({"actor": contact, "emoji": "👍"}))).await;
    call(&app, "POST", &format!("{}/reactions", m(0)), Some(json!({"actor": agent(), "emoji": "🎉"}))).await;
    call(&app, "POST", &format!("{}/reactions", m(0)), Some(json!({"actor": contact, "emoji": "❤️"}))).await;
    call(&app, "POST", &format!("{}/reactions", m(0)), Some(json!({"actor": agent(), "emoji": ""}))).await;
    call(&app, "PATCH", &m(1), Some(json!({"actor": agent(), "content": {"type": "text", "body": "two, corrected"}})))
        .await;
    let last = call(&app, "DELETE", &m(2), None).await;
    assert_eq!(last.status, StatusCode::OK);

    let at = last.body["position"].as_i64().expect("position");
    let page = call(&app, "GET", &format!("{c}/messages?min_position={at}"), None).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let items = page.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.iter().map(|i| i["seq"].as_u64().unwrap_or(0)).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(items[0]["direction"], "inbound");
    assert_eq!(items[0]["content"]["body"], "hi there");
    assert_eq!(items[1]["status"], "read", "never moved back by late reports");
    assert_eq!(items[1]["reactions"].as_object().map(|r| r.len()), Some(1), "one per reactor; removal removes");
    assert_eq!(
        items[1]["reactions"]["contact:+4917600001"]["emoji"], "❤️",
        "a reactor's new reaction replaces the old"
    );
    assert_eq!(items[2]["status"], "failed");
    assert_eq!(items[2]["failure"]["code"], "131047", "a failure keeps its code");
    assert_eq!(items[2]["content"]["body"], "two, corrected");
    assert!(items[2]["edited_at"].is_string());
    assert_eq!(items[3]["content"], Value::Null, "a tombstone keeps no content");
    assert!(items[3]["deleted_at"].is_string());
    assert_eq!(items[3]["message_id"], sent[2].as_str(), "but keeps its place");

    // Pages by seq, both ways.
    let asc = call(&app, "GET", &format!("{c}/messages?limit=3"), None).await;
    let next = asc.body["next_cursor"].as_str().expect("a next page").to_owned();
    let rest = call(&app, "GET", &format!("{c}/messages?limit=3&cursor={next}"), None).await;
    assert_eq!(rest.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(rest.body["items"][0]["seq"], 4);
    assert_eq!(rest.body["next_cursor"], Value::Null);
    let desc = call(&app, "GET", &format!("{c}/messages?order=desc&limit=2"), None).await;
    let seqs: Vec<u64> =
        desc.body["items"].as_array().into_iter().flatten().filter_map(|i| i["seq"].as_u64()).collect();
    assert_eq!(seqs, [4, 3]);
    let next = desc.body["next_cursor"].as_str().expect("older messages").to_owned();
    let older = call(&app, "GET", &format!("{c}/messages?order=desc&limit=2&cursor={next}"), None).await;
    let seqs: Vec<u64> =
        older.body["items"].as_array().into_iter().flatten().filter_map(|i| i["seq"].as_u64()).collect();
    assert_eq!(seqs, [2, 1]);
    let unknown = call(&app, "GET", "/v1/conversations/00000000-0000-0000-0000-000000000001/messages", None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn the_log_endpoints_serve_one_workspace_in_order_and_one_conversation_by_sequence<B: Backend>(backend: B) {
    use axum::body::Body;
    use axum::http::Request;
    let t = engine(backend);
    let app = app(&t).await;
    let other = uuid::Uuid::from_u128(0xbeef);
    let other_key =
        crate::support::api_key(&t, other, &[convo_gateway::Scope::Write, convo_gateway::Scope::Connector]).await;
    let as_other = |method: &str, uri: &str, body: Option<Value>| {
        let mut request =
            Request::builder().method(method).uri(uri).header("authorization", format!("Bearer {other_key}"));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        request.body(body.map_or_else(Body::empty, |b| Body::from(b.to_string()))).expect("request")
    };
    let mine = new_inbox(&app, "sms").await;
    let theirs =
        crate::support::raw(&app, as_other("POST", "/v1/inboxes", Some(json!({"name": "B", "channel_type": "sms"}))))
            .await;
    let mut conversation = Value::Null;
    for i in 0..5 {
        conversation =
            inbound(&app, &mine, "+4917700001", t.clock_now(), &format!("mine {i}")).await["conversation_id"].clone();
        let body = json!({"inbox_id": theirs.body["inbox_id"], "contact_id": "+4917700002", "sent_at": t.clock_now(),
                          "content": {"type": "text", "body": "theirs"}});
        assert_eq!(
            crate::support::raw(&app, as_other("POST", "/v1/inbound-messages", Some(body))).await.status,
            StatusCode::CREATED
        );
    }

    let mut events = Vec::new();
    let (mut after, mut waits) = (0, 0);
    loop {
        let page = call(&app, "GET", &format!("/v1/events?after={after}&limit=3"), None).await;
        assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
        let batch = page.body["items"].as_array().cloned().unwrap_or_default();
        if batch.is_empty() {
            // On PostgreSQL an empty page can also mean "not final yet": another transaction
            // in the cluster is still open below the head. Poll until all seven have come.
            if events.len() >= 7 {
                break;
            }
            waits += 1;
            assert!(waits < 1000, "the log never delivered all events: {events:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        // Following the log: after the last event seen, whether or not another page follows now.
        after = batch.last().and_then(|e| e["position"].as_i64()).expect("a position");
        events.extend(batch);
    }
    assert_eq!(events.len(), 1 + 1 + 5, "my inbox, the conversation started, five messages; none of theirs");
    assert!(events.iter().all(|e| e["workspace_id"] == crate::support::API_WS.to_string()));
    let positions: Vec<i64> = events.iter().filter_map(|e| e["position"].as_i64()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "in log order");

    let c = format!("/v1/conversations/{}/events", conversation.as_str().expect("id"));
    let page = call(&app, "GET", &format!("{c}?after=2&limit=2"), None).await;
    let sequences: Vec<i64> =
        page.body["items"].as_array().into_iter().flatten().filter_map(|e| e["sequence"].as_i64()).collect();
    assert_eq!(sequences, [3, 4]);
    assert_eq!(page.body["next_cursor"], "4", "six events: another page follows");
    let foreign = crate::support::raw(&app, as_other("GET", &c, None)).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND, "another workspace's conversation does not exist for them");
    let past_the_end = call(&app, "GET", &format!("{c}?after=100"), None).await;
    assert_eq!((past_the_end.status, past_the_end.body["items"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    assert_eq!(past_the_end.body["next_cursor"], Value::Null);
    assert_eq!(call(&app, "GET", "/v1/events?limit=5000", None).await.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_window_follows_the_inbox_policy_and_the_clock_and_inboxes_are_listed<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let whatsapp = new_inbox(&app, "whatsapp").await;
    let messenger = new_inbox(&app, "messenger").await;
    let custom = call(
        &app,
        "POST",
        "/v1/inboxes",
        Some(json!({"name": "Short", "channel_type": "sms",
                    "policy": {"agent_window_secs": 3600, "bot_window_secs": 60, "templates": "unsupported", "interactive": false}})),
    )
    .await
    .body["inbox_id"]
        .clone();
    // The contact wrote 23 hours ago (the connector delivered it late).
    let wa = inbound(&app, &whatsapp, "+4917800001", now - Span::hours(23), "hello").await;
    let fb = inbound(&app, &messenger, "+4917800002", now - Span::hours(23), "hello").await;
    let short = inbound(&app, &custom, "+4917800003", now, "hello").await;
    let view = |done: &Value, query: &str| {
        let uri = format!("/v1/conversations/{}{query}", done["conversation_id"].as_str().unwrap_or_default());
        let at = short["position"].as_i64().unwrap_or_default().max(done["position"].as_i64().unwrap_or_default());
        let app = app.clone();
        async move {
            let sep = if uri.contains('?') { '&' } else { '?' };
            let reply = call(&app, "GET", &format!("{uri}{sep}min_position={at}"), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
            reply.body
        }
    };
    let expires = (now + Span::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let wa_view = view(&wa, "").await;
    assert_eq!(wa_view["window"]["agent"], json!({"state": "OPEN", "forActor": "AGENT", "expiresAt": expires}));
    assert_eq!(wa_view["window"]["bot"]["state"], "OPEN");
    assert_eq!(view(&fb, "/window?actor=BOT").await["state"], "OPEN");
    assert_eq!(
        view(&short, "/window?actor=BOT").await["expiresAt"].as_str().map(|s| s.starts_with("2026-01-01T00:01:00")),
        Some(true)
    );

    t.clock.advance(Span::hours(2));
    assert_eq!(
        view(&wa, "/window").await,
        json!({"state": "CLOSED", "forActor": "AGENT", "expiresAt": expires, "failureCode": "messagingWindowClosed"})
    );
    assert_eq!(view(&fb, "/window?actor=BOT").await["state"], "CLOSED", "Messenger bots get 24 hours");
    assert_eq!(view(&fb, "/window?actor=AGENT").await["state"], "OPEN", "human agents get 7 days");
    // The actor in any case, as typed into a URL.
    for (actor, as_named) in [("bot", "BOT"), ("Bot", "BOT"), ("agent", "AGENT"), ("aGeNt", "AGENT")] {
        let window = view(&fb, &format!("/window?actor={actor}")).await;
        assert_eq!(window, view(&fb, &format!("/window?actor={as_named}")).await, "actor={actor}");
        assert_eq!(window["forActor"], as_named);
    }
    assert_eq!(
        view(&short, "/window?actor=AGENT").await["failureCode"],
        "messagingWindowClosed",
        "the inbox's own policy"
    );

    let inboxes = call(&app, "GET", "/v1/inboxes", None).await;
    assert_eq!(inboxes.body["items"].as_array().map(Vec::len), Some(3));
    let deleted = call(&app, "DELETE", &format!("/v1/inboxes/{}", whatsapp.as_str().unwrap_or_default()), None).await;
    let at = deleted.body["position"].as_i64().unwrap_or_default();
    let window = call(
        &app,
        "GET",
        &format!("/v1/conversations/{}/window?min_position={at}", wa["conversation_id"].as_str().unwrap_or_default()),
        None,
    )
    .await;
    assert_eq!(window.body, json!({"state": "CLOSED", "forActor": "AGENT", "failureCode": "inboxRequired"}));
    let listed = call(&app, "GET", &format!("/v1/inboxes?min_position={at}"), None).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(2));
    let all = call(&app, "GET", &format!("/v1/inboxes?include_deleted=true&min_position={at}"), None).await;
    let items = all.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3);
    assert!(items.iter().any(|i| i["inbox_id"] == whatsapp && i["deleted_at"].is_string()));
    assert!(items.iter().any(|i| i["inbox_id"] == custom
        && i["policy_overridden"] == true
        && i["policy"]["agent_window_secs"] == 3600));
    assert_eq!(
        call(
            &app,
            "GET",
            &format!("/v1/conversations/{}/window?actor=HUMAN", short["conversation_id"].as_str().unwrap_or_default()),
            None
        )
        .await
        .status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn unread_counts_follow_inbound_messages_and_each_users_read_markers<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let (one, two) = (new_inbox(&app, "sms").await, new_inbox(&app, "whatsapp").await);
    let mut last = Value::Null;
    let mut message = |done: &Value| done["message_id"].as_str().unwrap_or_default().to_owned();
    let a: Vec<Value> = futures::future::join_all((0..3).map(|i| {
        let app = app.clone();
        let one = one.clone();
        async move { inbound(&app, &one, "+4917900001", now + Span::seconds(i), "a").await }
    }))
    .await;
    let b = inbound(&app, &one, "+4917900002", now, "b").await;
    let b_conv = format!("/v1/conversations/{}", b["conversation_id"].as_str().unwrap_or_default());
    let reply = call(
        &app,
        "POST",
        &format!("{b_conv}/messages"),
        Some(json!({"actor": agent(), "content": {"type": "text", "body": "hi"}})),
    )
    .await;
    let b_reply = message(&reply.body);
    for _ in 0..2 {
        last = inbound(&app, &two, "+4917900003", now, "c").await;
    }
    let summary = |user: &str, at: &Value| {
        let uri =
            format!("/v1/users/{user}/unread-summary?min_position={}", at["position"].as_i64().unwrap_or_default());
        let app = app.clone();
        async move {
            let reply = call(&app, "GET", &uri, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
            reply.body
        }
    };
    let inboxes = |s: &Value| -> Vec<(String, u64, u64)> {
        s["inboxes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["inbox_id"].as_str().unwrap_or_default().to_owned(),
                    i["unread"].as_u64().unwrap_or(0),
                    i["conversations"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let mut expected_inboxes =
        vec![(one.as_str().unwrap_or_default().to_owned(), 4, 2), (two.as_str().unwrap_or_default().to_owned(), 2, 1)];
    expected_inboxes.sort();
    let ada = summary("ada", &last).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(6), Some(3)), "nothing read yet: {ada}");
    let mut got = inboxes(&ada);
    got.sort();
    assert_eq!(got, expected_inboxes);
    assert!(ada["version"].as_i64() >= last["position"].as_i64());

    // ada reads conversation A up to its second message, and B up to the reply (after its one inbound).
    let a_conv = format!("/v1/conversations/{}", a[0]["conversation_id"].as_str().unwrap_or_default());
    let second = a.iter().find(|d| d["version"] == 3).map(&mut message).unwrap_or_default();
    call(&app, "POST", &format!("{a_conv}/read"), Some(json!({"user_id": "ada", "message_id": second}))).await;
    let read_b =
        call(&app, "POST", &format!("{b_conv}/read"), Some(json!({"user_id": "ada", "message_id": b_reply}))).await;
    let ada = summary("ada", &read_b.body).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(3), Some(2)), "{ada}");
    let bob = summary("bob", &read_b.body).await;
    assert_eq!((bob["total"].as_u64(), bob["conversations"].as_u64()), (Some(6), Some(3)), "markers are per user");

    // A new inbound message in B makes it unread again for ada.
    let again = inbound(&app, &one, "+4917900002", now, "b again").await;
    let ada = summary("ada", &again).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(4), Some(3)), "{ada}");
    let stranger = summary("nobody-in-particular", &again).await;
    assert_eq!(stranger["total"].as_u64(), Some(7));

    // The inbox list can show only the conversations a user has not read: B (again), C, and A
    // unless ada has now read all of it.
    let read_a =
        call(&app, "POST", &format!("{a_conv}/read"), Some(json!({"user_id": "ada", "message_id": message(&a[2]) })))
            .await;
    let unread_list = call(
        &app,
        "GET",
        &format!("/v1/conversations?unread_only=true&user_id=ada&min_position={}", read_a.body["position"]),
        None,
    )
    .await;
    let ids: std::collections::HashSet<String> = unread_list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["conversation_id"].as_str().map(str::to_owned))
        .collect();
    // A's three messages were sent concurrently: A is fully read only if a[2] came last.
    let expected_unread = if a[2]["version"] == 4 { 2 } else { 3 };
    assert_eq!(ids.len(), expected_unread, "{:?}", unread_list.body);
    assert!(ids.contains(b["conversation_id"].as_str().unwrap_or_default()));
    assert_eq!(
        call(&app, "GET", "/v1/conversations?unread_only=true", None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn the_unread_version_never_goes_down_for_a_client_polling_during_writes<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let inbox = new_inbox(&app, "sms").await;
    let writer = {
        let app = app.clone();
        let now = t.clock_now();
        tokio::spawn(async move {
            let mut last = Value::Null;
            for i in 0..40 {
                let done = inbound(&app, &inbox, &format!("+49179100{:02}", i % 7), now, "hello").await;
                if i % 3 == 0 {
                    let c = format!("/v1/conversations/{}/read", done["conversation_id"].as_str().unwrap_or_default());
                    last = call(&app, "POST", &c, Some(json!({"user_id": "ada", "message_id": done["message_id"]})))
                        .await
                        .body;
                } else {
                    last = done;
                }
            }
            last
        })
    };
    let mut versions = Vec::new();
    let mut totals = Vec::new();
    while !writer.is_finished() {
        let reply = call(&app, "GET", "/v1/users/ada/unread-summary", None).await;
        versions.push(reply.body["version"].as_i64().unwrap_or(-1));
        totals.push(reply.body["total"].as_u64().unwrap_or(0));
    }
    let last = writer.await.expect("writer");
    assert!(versions.len() > 3, "the poller saw the writes happen ({} polls)", versions.len());
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "the version never goes down: {versions:?}");
    let settled =
        call(&app, "GET", &format!("/v1/users/ada/unread-summary?min_position={}", last["position"]), None).await;
    // 40 inbound messages over 7 conversations; ada read up to every third one as it arrived.
    let (mut count, mut read) = ([0u64; 7], [0u64; 7]);
    for i in 0..40 {
        count[i % 7] += 1;
        if i % 3 == 0 {
            read[i % 7] = count[i % 7];
        }
    }
    let expected: u64 = count.iter().zip(read).map(|(c, r)| c - r).sum();
    assert!(settled.body["version"].as_i64() >= last["position"].as_i64());
    assert_eq!(settled.body["total"].as_u64(), Some(expected));
    assert!(totals.iter().all(|t| *t <= 40));
}

async fn verify_finds_no_difference_after_a_workload_and_a_rebuild_repairs_a_tampered_model_while_serving<
    B: Backend,
>(
    backend: B,
) {
    use convo_store::SqlStore;
    let t = engine(backend.clone());
    let read = read_models(&t);
    let app = crate::support::authed(
        convo_gateway::router(t.engine.clone(), read.clone(), &crate::support::test_config()),
        crate::support::api_key(&t, crate::support::API_WS, &[convo_gateway::Scope::Admin]).await,
    );
    let now = t.clock_now();
    let inbox = new_inbox(&app, "sms").await;
    let mut last = Value::Null;
    for i in 0..30 {
        let done = inbound(&app, &inbox, &format!("+4918000{:03}", i % 9), now + Span::seconds(i), "hello").await;
        let c = format!("/v1/conversations/{}", done["conversation_id"].as_str().unwrap_or_default());
        last = match i % 4 {
            0 => {
                call(&app, "PUT", &format!("{c}/assignee"), Some(json!({"agent_id": format!("agent-{i}")}))).await.body
            }
            1 => {
                call(
                    &app,
                    "POST",
                    &format!("{c}/read"),
                    Some(json!({"user_id": "ada", "message_id": done["message_id"]})),
                )
                .await
                .body
            }
            2 => {
                call(
                    &app,
                    "POST",
                    &format!("{c}/messages"),
                    Some(json!({"actor": agent(), "content": {"type": "text", "body": "ok"}})),
                )
                .await
                .body
            }
            _ => done,
        };
    }
    let head = t.engine.log.head().await.expect("head");
    for status in read.statuses() {
        assert!(status.wait_for(head, std::time::Duration::from_secs(20)).await, "{} catches up", status.name);
    }
    for name in ReadModels::<B>::NAMES {
        assert_eq!(
            read.verify(name, &t.engine.log, 10).await.expect("verify"),
            Vec::<String>::new(),
            "{name}: live equals a rebuild"
        );
    }

    // Rebuilt in pages of three events, each folded while the pages before it still commit,
    // every table holds what the runners wrote one batch at a time.
    let sql = backend.sql();
    let tables = || async {
        let mut rows = Vec::new();
        for table in ["rm_inbox", "rm_timeline", "rm_inboxes", "rm_unread", "rm_groups", "rm_response_times"] {
            let sorted = format!("SELECT CAST(row AS TEXT) FROM {table} ORDER BY 1");
            rows.push((table, sql.text_rows(&sorted, &[]).await.expect("read a table")));
        }
        rows
    };
    let live = tables().await;
    let empty: Vec<_> = live.iter().filter(|(_, rows)| rows.is_empty()).map(|(table, _)| *table).collect();
    assert_eq!(empty, ["rm_groups"], "the workload wrote to every read model but the groups'");
    let mut in_small_pages = ReadModels::new(&backend);
    in_small_pages.rebuild_batch = 3;
    in_small_pages.rebuild_all(&t.engine.log, &|_| {}).await.expect("rebuild every model in pages of three");
    assert_eq!(tables().await, live);

    // Rows written while `row` was jsonb keep jsonb's formatting after the migration to text
    // (spaces, its own key order): verification compares them as JSON, not as text.
    if backend.name() == "postgres" {
        let reformatted = sql.execute("UPDATE rm_inbox SET row = CAST(CAST(row AS jsonb) AS text)", &[]).await;
        assert!(reformatted.expect("reformat the rows as jsonb prints them") > 0);
        let spaced = sql.scalar("SELECT count(*) FROM rm_inbox WHERE row LIKE '%\": %'", &[]).await;
        assert!(spaced.expect("count") > Some(0), "the rows now read differently");
        assert_eq!(read.verify("inbox", &t.engine.log, 10).await.expect("verify"), Vec::<String>::new());
    }

    // Someone edits a row behind the engine's back: verify sees it.
    let mut victim = read.inbox.list(&ConversationQuery::all(crate::support::API_WS, 1)).await.expect("list").remove(0);
    victim.assignee = Some("mallory".into());
    let tamper = || async {
        let tampered = sql
            .execute(
                &sql.sql("UPDATE rm_inbox SET row = {1} WHERE conversation_id = {2}"),
                &[
                    convo_store::SqlValue::json(&victim).expect("json"),
                    convo_store::SqlValue::Text(victim.conversation_id.to_string()),
                ],
            )
            .await
            .expect("tamper");
        assert_eq!(tampered, 1);
    };
    tamper().await;
    let found = read.verify("inbox", &t.engine.log, 10).await.expect("verify");
    assert_eq!(found.len(), 2, "the tampered row and the row it should be: {found:?}");

    // Rebuild while a client keeps reading; every read succeeds.
    let poller = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            loop {
                let reply = call(&app, "GET", "/v1/conversations?archived=any&limit=50", None).await;
                if reply.status != StatusCode::OK && reply.status != StatusCode::UNPROCESSABLE_ENTITY {
                    return Err(format!("{}: {:?}", reply.status, reply.body));
                }
                reads += 1;
                tokio::task::yield_now().await;
                if reads > 10_000 {
                    return Ok(reads);
                }
            }
        })
    };
    let folded = read.rebuild("inbox", &t.engine.log, &|_| {}).await.expect("rebuild");
    assert!(folded >= 30, "folded the whole log ({folded} events)");
    poller.abort();
    if let Ok(Ok(Err(e))) =
        tokio::time::timeout(std::time::Duration::from_millis(10), poller).await.map(|r| r.map_err(|_| ()))
    {
        panic!("a read failed during the rebuild: {e}");
    }
    assert_eq!(read.verify("inbox", &t.engine.log, 10).await.expect("verify"), Vec::<String>::new(), "repaired");
    // The live runner carries on with the swapped-in table: a new message shows.
    let shows = |contact: &'static str, text: &'static str| {
        let (app, inbox) = (app.clone(), inbox.clone());
        async move {
            let after = inbound(&app, &inbox, contact, now, text).await;
            let uri = format!(
                "/v1/conversations/{}?min_position={}",
                after["conversation_id"].as_str().unwrap_or_default(),
                after["position"]
            );
            let reply = call(&app, "GET", &uri, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            assert_eq!(reply.body["last_message"]["preview"], text, "the runners carry on");
        }
    };
    shows("+4918000999", "after the rebuild").await;

    // Every model at once, in one pass over the log, repairs a tampered row too.
    tamper().await;
    let read_all = read.rebuild_all(&t.engine.log, &|_| {}).await.expect("rebuild all");
    assert_eq!(read_all, whole_log(&t.engine).await.len() as u64, "each event read once, from the first");
    for name in ReadModels::<B>::NAMES {
        let differences = read.verify(name, &t.engine.log, 10).await.expect("verify");
        assert_eq!(differences, Vec::<String>::new(), "{name}: equals a rebuild after rebuilding all");
    }
    shows("+4918000998", "after rebuilding all").await;
    let _ = last;
}

async fn read_your_writes_holds_with_concurrent_writers<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let inbox = new_inbox(&app, "sms").await;
    let now = t.clock_now();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (app, inbox) = (app.clone(), inbox.clone());
            tokio::spawn(async move {
                let first = inbound(&app, &inbox, &format!("+4918100{w:03}"), now, "hello").await;
                let c = format!("/v1/conversations/{}", first["conversation_id"].as_str().unwrap_or_default());
                for i in 0..10 {
                    let agent = format!("agent-{w}-{i}");
                    let done = call(&app, "PUT", &format!("{c}/assignee"), Some(json!({"agent_id": agent}))).await;
                    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
                    let seen = call(&app, "GET", &format!("{c}?min_position={}", done.body["position"]), None).await;
                    assert_eq!(seen.body["assignee"], agent.as_str(), "writer {w} reads its own write {i}");
                    let messages =
                        call(&app, "GET", &format!("{c}/messages?min_position={}", done.body["position"]), None).await;
                    assert_eq!(messages.status, StatusCode::OK);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("a writer that always read its own writes");
    }
}
