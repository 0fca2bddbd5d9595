//! Response-time analytics over HTTP, on both backends: a workload timed by the manual clock,
//! the exact seconds `GET …/response-times` answers, its pages, and the read model rebuilt from
//! the first event of the log (what `convo projections rebuild` does for a new read model).

use axum::Router;
use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use convo_gateway::Scope;
use convo_read::ReadModels;
use convo_store::{Backend, SqlStore};
use serde_json::{Value, json};

use crate::support::{
    API_WS, TestEngine, WS, api_key, authed, call, engine, on_both_backends, read_models, test_config, whole_log,
};

on_both_backends!(
    response_times_are_exact_paged_and_backfilled_from_the_first_event,
    a_read_model_no_runner_has_started_is_rebuilt_from_the_first_event,
);

/// Runs a command; returns its position.
async fn run(app: &Router, uri: &str, body: Value) -> i64 {
    let reply = call(app, "POST", uri, Some(body)).await;
    assert!(reply.status.is_success(), "POST {uri}: {:?}", reply.body);
    reply.body["position"].as_i64().expect("a position")
}

fn text(body: &str) -> Value {
    json!({"type": "text", "body": body})
}

/// (seq, responder, responder id, inbound_at, seconds) of each response of a page.
fn timings(page: &Value) -> Vec<(i64, String, String, DateTime<Utc>, i64)> {
    let items = page["items"].as_array().expect("items");
    items
        .iter()
        .map(|r| {
            let s = |f: &str| r[f].as_str().expect("a string").to_owned();
            let inbound_at = s("inbound_at").parse().expect("a time");
            (
                r["seq"].as_i64().expect("a seq"),
                s("responder"),
                s("responder_id"),
                inbound_at,
                r["seconds"].as_i64().expect("seconds"),
            )
        })
        .collect()
}

async fn response_times_are_exact_paged_and_backfilled_from_the_first_event<B: Backend>(backend: B) {
    let t: TestEngine<B> = engine(backend);
    let read = read_models(&t);
    let router = convo_gateway::router(t.engine.clone(), read.clone(), &test_config());
    let app = authed(router, api_key(&t, API_WS, &[Scope::Admin]).await);
    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "whatsapp"}))).await;
    let inbox_id = inbox.body["inbox_id"].as_str().expect("an inbox id").to_owned();
    let t0 = t.clock_now();
    let at = |seconds: i64| t0 + Duration::seconds(seconds);
    let inbound = |contact: &str, sent_at: DateTime<Utc>, body: &str| json!({"inbox_id": inbox_id, "contact_id": contact, "sent_at": sent_at, "content": text(body)});
    let agent = |id: &str| json!({"kind": "agent", "id": id});
    let bot = json!({"kind": "bot", "id": "faq-bot"});
    let advance = |seconds: i64| t.clock.advance(Duration::seconds(seconds));

    // A contact asks; a bot answers in 5 s; they write again; a human answers 300 s after the
    // first question (no human had answered it), then follows up (not a response). A later
    // question is answered with a template in 20 s; the last one is still waiting.
    let first = call(&app, "POST", "/v1/inbound-messages", Some(inbound("+4915100001", at(0), "hello?"))).await;
    let c = format!("/v1/conversations/{}", first.body["conversation_id"].as_str().expect("a conversation"));
    advance(5);
    run(&app, &format!("{c}/messages"), json!({"actor": bot, "content": text("An agent will be with you.")})).await;
    advance(40);
    run(&app, "/v1/inbound-messages", inbound("+4915100001", at(45), "still there?")).await;
    advance(255);
    run(&app, &format!("{c}/messages"), json!({"actor": agent("ada"), "content": text("Hi, Ada here.")})).await;
    advance(10);
    run(&app, &format!("{c}/messages"), json!({"actor": agent("ada"), "content": text("Anything else?")})).await;
    advance(100);
    run(&app, "/v1/inbound-messages", inbound("+4915100001", at(410), "one more thing")).await;
    advance(20);
    let template = json!({"type": "template", "name": "follow_up", "language": "en"});
    run(&app, &format!("{c}/messages"), json!({"actor": agent("bo"), "content": template})).await;
    advance(70);
    run(&app, "/v1/inbound-messages", inbound("+4915100001", at(500), "thanks")).await;
    // Another contact's message arrives backfilled, sent an hour before it reached us.
    let late = call(&app, "POST", "/v1/inbound-messages", Some(inbound("+4915100002", at(500 - 3600), "late"))).await;
    let d = format!("/v1/conversations/{}", late.body["conversation_id"].as_str().expect("a conversation"));
    let head = run(&app, &format!("{d}/messages"), json!({"actor": agent("ada"), "content": text("Sorry!")})).await;

    let get = |uri: String| {
        let app = app.clone();
        async move {
            let reply = call(&app, "GET", &uri, None).await;
            assert_eq!(reply.status, StatusCode::OK, "GET {uri}: {:?}", reply.body);
            reply.body
        }
    };
    let page = get(format!("{c}/response-times?min_position={head}")).await;
    let row = |seq, who: &str, id: &str, from, seconds| (seq, who.to_owned(), id.to_owned(), at(from), seconds);
    assert_eq!(
        timings(&page),
        [row(2, "bot", "faq-bot", 0, 5), row(4, "agent", "ada", 0, 300), row(7, "agent", "bo", 410, 20)]
    );
    let summary = &page["summary"];
    assert_eq!(
        (summary["first_response"]["seq"].clone(), summary["first_response"]["seconds"].clone()),
        (json!(2), json!(5))
    );
    assert_eq!(summary["first_response"]["responder"], "bot");
    assert_eq!(
        (summary["first_agent_response"]["seq"].clone(), summary["first_agent_response"]["seconds"].clone()),
        (json!(4), json!(300))
    );
    assert_eq!(summary["agent"], json!({"count": 2, "total_seconds": 320}));
    assert_eq!(summary["bot"], json!({"count": 1, "total_seconds": 5}));
    let time = |f: &str| summary[f].as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok());
    assert_eq!(time("first_inbound_at"), Some(at(0)));
    assert_eq!((time("waiting_since"), time("waiting_for_agent_since")), (Some(at(500)), Some(at(500))));
    assert_eq!(page["next_cursor"], Value::Null, "one page: {page}");

    let late_page = get(format!("{d}/response-times")).await;
    assert_eq!(timings(&late_page), [row(2, "agent", "ada", 500 - 3600, 3600)]);
    assert_eq!(late_page["summary"]["first_agent_response"], late_page["items"][0]);

    // Pages by seq.
    let first_page = get(format!("{c}/response-times?limit=2")).await;
    assert_eq!(timings(&first_page).len(), 2);
    let next = first_page["next_cursor"].as_str().expect("a second page").to_owned();
    let second_page = get(format!("{c}/response-times?limit=2&cursor={next}")).await;
    assert_eq!(timings(&second_page), [row(7, "agent", "bo", 410, 20)]);
    assert_eq!(second_page["next_cursor"], Value::Null);
    assert_eq!(second_page["summary"], page["summary"]);

    // An unknown conversation, a bad parameter.
    let ghost = call(&app, "GET", &format!("/v1/conversations/{}/response-times", uuid::Uuid::now_v7()), None).await;
    assert_eq!(ghost.status, StatusCode::NOT_FOUND);
    let bad = call(&app, "GET", &format!("{c}/response-times?limit=0"), None).await;
    assert_eq!((bad.status, bad.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));

    // The backfill: as if the read model had just been added to a log that already holds all of
    // this, its table is empty; a rebuild folds the log from its first event and the endpoint
    // answers exactly what it answered live.
    let model = &read.response_times;
    model.store.execute("DELETE FROM rm_response_times", &[]).await.expect("empty the table");
    let empty = get(format!("{c}/response-times")).await;
    assert_eq!((empty["items"].clone(), empty["summary"]["first_response"].clone()), (json!([]), Value::Null));
    let folded = read.rebuild("response_times", &t.engine.log, &|_| {}).await.expect("rebuild");
    assert_eq!(folded, whole_log(&t.engine).await.len() as u64, "rebuilt from the first event");
    assert_eq!(get(format!("{c}/response-times")).await, page);
    assert_eq!(get(format!("{d}/response-times")).await, late_page);
    let differences = read.verify("response_times", &t.engine.log, 10).await.expect("verify");
    assert_eq!(differences, Vec::<String>::new(), "live equals a rebuild");

    // The swapped-in table's checkpoint is the log's head: its runner carries on from there.
    assert!(read.checkpoints().await.expect("checkpoints").contains(&("response_times", head)));
}

/// `convo projections rebuild` on a log written before the read model existed: no runner has
/// ever run it (no checkpoint row), and the rebuild builds it from the first event.
async fn a_read_model_no_runner_has_started_is_rebuilt_from_the_first_event<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(convo_domain::ChannelType::Whatsapp).await;
    let conversation = t.inbound(inbox, "+4915100003", "hello").await;
    t.clock.advance(Duration::seconds(42));
    let send = t.send("hi");
    t.engine.conversations.execute(&conversation.to_string(), send, &crate::support::meta()).await.expect("send");

    let read = ReadModels::new(&t.engine.backend);
    let folded = read.rebuild("response_times", &t.engine.log, &|_| {}).await.expect("rebuild");
    assert_eq!(folded, whole_log(&t.engine).await.len() as u64);
    let found = read.response_times.conversation(WS, conversation, 0, 10).await.expect("read");
    let seconds: Vec<u64> = found.responses.iter().map(|r| r.seconds).collect();
    assert_eq!(seconds, [42]);
    assert_eq!(found.summary.and_then(|s| s.first_agent_response).map(|r| r.responder_id), Some("ada".into()));
    assert_eq!(read.verify("response_times", &t.engine.log, 10).await.expect("verify"), Vec::<String>::new());
}
