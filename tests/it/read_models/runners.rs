//! The runners, rebuild and verify on both backends: live rows equal an independent fold of the
//! whole log (also after a runner is killed and restarted), a projection that cannot fold an
//! event stops visibly, verify finds no difference and a rebuild repairs a tampered model while
//! it serves, a rebuild on a database no runner followed, and a commit whose caller gives up.

use axum::http::StatusCode;
use chrono::Duration as Span;
use convo_domain::conversation::ConversationStatus;
use convo_projection::prepare;
use convo_projection_timeline::{TimelineMessage, TimelineProjection};
use convo_read::{ConversationQuery, ReadModels};
use convo_store::Backend;
use serde_json::{Value, json};

use super::{agent, folded, inbound, new_inbox, stored};
use crate::support::{WS, app, call, engine, on_both_backends, read_models, whole_log};

on_both_backends!(
    live_rows_equal_a_fold_of_the_whole_log_even_after_a_runner_restart,
    a_projection_that_cannot_fold_an_event_stops_and_readyz_says_why,
    verify_finds_no_difference_after_a_workload_and_a_rebuild_repairs_a_tampered_model_while_serving,
    a_rebuild_works_on_a_database_no_runner_has_followed,
    a_read_model_commit_whose_caller_gives_up_leaves_no_transaction_open,
);

async fn live_rows_equal_a_fold_of_the_whole_log_even_after_a_runner_restart<B: Backend>(backend: B) {
    use convo_domain::conversation::ConversationAction as A;
    use convo_domain::{Actor, ChannelType, ConversationCommand};
    let t = engine(backend);
    let mut first = ReadModels::new(&t.engine.backend);
    first.batch = 7; // small batches: many checkpoints to crash between
    let runners = first.spawn(&t.engine.log);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    for round in 0..6 {
        t.register_agent(&format!("agent-{round}")).await;
    }
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

    // Every read model folding conversations' status stops there: wait for the inbox's.
    let mut ready = call(&app, "GET", "/readyz", None).await;
    for _ in 0..100 {
        if ready.body["projections"]["inbox"]["error"].is_string() {
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
    for i in (0..30).step_by(4) {
        crate::support::register_agent(&app, &format!("agent-{i}")).await;
    }
    let mut last = Value::Null;
    for i in 0..30 {
        let done = inbound(&app, &inbox, &format!("+4918000{:03}", i % 9), now + Span::seconds(i), "hello").await;
        let c = format!("/v1/conversations/{}", done["conversation_id"].as_str().unwrap_or_default());
        last = match i % 4 {
            0 => {
                let assigned =
                    call(&app, "PUT", &format!("{c}/assignee"), Some(json!({"agent_id": format!("agent-{i}")}))).await;
                assert_eq!(assigned.status, StatusCode::OK, "{}", assigned.body);
                assigned.body
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
