//! Events evolve: a log that an older build started, with `AgentAssigned` at 1.0.0, and the
//! current build carried on at 2.0.0 reads, on both backends, exactly as the same log written
//! wholly at 2.0.0: the aggregate and its decisions, the read models (rebuilt and verified),
//! time travel and the export.

use std::path::Path;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use axum::http::StatusCode;
use convo_domain::conversation::{ConversationChange, ConversationKind};
use convo_domain::inbox::InboxChange;
use convo_domain::{Actor, ChannelType, Conversation, ConversationEvent, InboxEvent};
use convo_export::{ExportOptions, export};
use convo_read::ReadModels;
use convo_store::{Backend, LogEvent};
use cqrs_es::persist::SerializedEvent;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    API_WS, TestEngine, TestPg, TestSqlite, api_key, authed, call, engine, read_models, register_agent, t0,
    test_config, text,
};

const INBOX: Uuid = Uuid::from_u128(0x1b0c);
const CONTACT: &str = "+4917700001";
const MESSAGE: Uuid = Uuid::from_u128(0x3e55);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_log_of_two_versions_reads_as_if_all_were_written_at_the_current_one() {
    let pg = TestPg::new().await;
    let pool = pg.backend.pool().clone();
    let rewrite = async |sql: String| sqlx::query(&sql).execute(&pool).await.expect("rewrite").rows_affected();
    a_log_of_two_versions_reads_as_if_all_were_written_at_the_current_one(pg.backend.clone(), rewrite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_log_of_two_versions_reads_as_if_all_were_written_at_the_current_one() {
    let db = TestSqlite::new().await;
    let pool = db.backend.pool().clone();
    let rewrite = async |sql: String| sqlx::query(&sql).execute(&pool).await.expect("rewrite").rows_affected();
    a_log_of_two_versions_reads_as_if_all_were_written_at_the_current_one(db.backend.clone(), rewrite).await;
}

/// An `AgentAssigned` payload as the build writing `version` stored it.
fn agent_assigned(version: &str, agent: &str, previous: Option<&str>) -> Value {
    let mut payload = json!({"type": "AgentAssigned", "occurred_at": t0() - chrono::Duration::hours(1),
                             "actor": {"kind": "agent", "id": "lead"}});
    let name = |id: &str| match version {
        "1.0.0" => json!(id),
        _ => json!({"kind": "agent", "id": id}),
    };
    payload[if version == "1.0.0" { "agent_id" } else { "assignee" }] = name(agent);
    if let Some(previous) = previous {
        payload["previous"] = name(previous);
    }
    payload
}

/// What an older build wrote, command by command, through the same `append` the engine
/// uses: an inbox, a conversation, and two assignments at 1.0.0.
async fn older_build<B: Backend>(backend: &B) {
    let at = t0() - chrono::Duration::hours(2);
    let metadata = |command: &str| json!({"workspace_id": API_WS.to_string(), "command": command});
    let inbox = InboxEvent {
        occurred_at: at,
        actor: Actor::agent("admin"),
        change: InboxChange::Created {
            inbox_id: INBOX,
            workspace_id: API_WS,
            name: "Support".into(),
            channel: ChannelType::Sms,
            policy: None,
        },
    };
    let row = |id: Uuid, sequence: usize, (event_type, version, payload): (&str, &str, Value), command: &str| {
        SerializedEvent::new(
            id.to_string(),
            sequence,
            "conversation".into(),
            event_type.into(),
            version.into(),
            payload,
            metadata(command),
        )
    };
    let created = SerializedEvent {
        aggregate_type: "inbox".into(),
        ..row(INBOX, 1, ("InboxCreated", "1.0.0", json!(inbox)), "create_inbox")
    };
    backend.append(&[created]).await.expect("the inbox");

    let c = convo_domain::conversation_id(API_WS, INBOX, CONTACT);
    let event = |change: ConversationChange| {
        let event = ConversationEvent { occurred_at: at, actor: Actor::contact(CONTACT), change };
        (event.change.event_type(), "1.0.0", json!(event))
    };
    let started = event(ConversationChange::Started {
        contact_id: None,
        conversation_id: c,
        workspace_id: API_WS,
        inbox_id: INBOX,
        channel: ChannelType::Sms,
        kind: ConversationKind::Direct,
        thread_key: CONTACT.into(),
        display_name: Some("Ann".into()),
    });
    let received = event(ConversationChange::InboundMessageReceived {
        message_id: MESSAGE,
        seq: 1,
        inbound_count: 1,
        channel_message_id: None,
        sent_at: at,
        content: text("hello"),
        sender: None,
        sender_contact_id: None,
        mentions: vec![],
    });
    let inbound = [row(c, 1, started, "receive_inbound_message"), row(c, 2, received, "receive_inbound_message")];
    backend.append(&inbound).await.expect("the conversation");
    for (sequence, agent, previous) in OLDER_ASSIGNMENTS {
        let assigned = ("AgentAssigned", "1.0.0", agent_assigned("1.0.0", agent, previous));
        backend.append(&[row(c, sequence, assigned, "assign_agent")]).await.expect("an assignment");
    }
}

/// The older build's assignments: (sequence, agent, previous agent).
const OLDER_ASSIGNMENTS: [(usize, &str, Option<&str>); 2] = [(3, "ada", None), (4, "bob", Some("ada"))];

/// The agents this build registers, after the older build's events and before it assigns.
const REGISTERED: [&str; 2] = ["ada", "cy"];

/// What the engine answers about the log.
#[derive(Debug, PartialEq)]
struct Answers {
    /// The conversation as a new engine loads it (version and state).
    state: (usize, Conversation),
    /// The log as the engine reads it: each event upcast.
    log: Vec<Value>,
    /// The conversation, its timeline, the lists and the unread summary, rebuilt.
    views: Vec<Value>,
    /// The conversation as of each position of the log.
    history: Vec<(StatusCode, Value)>,
    /// Each line of a JSON Lines export.
    jsonl: Vec<Value>,
    /// The batches of a Parquet export.
    parquet: Vec<RecordBatch>,
}

/// An older build's log, carried on by this build, answers what it would if this build had
/// written all of it: its 1.0.0 events are then rewritten in place (`rewrite` runs SQL and
/// answers the rows it changed) as this build writes them, at 2.0.0, and everything is asked
/// again.
async fn a_log_of_two_versions_reads_as_if_all_were_written_at_the_current_one<B: Backend>(
    backend: B,
    rewrite: impl AsyncFn(String) -> u64,
) {
    older_build(&backend).await;
    let t = engine(backend.clone());
    let read = read_models(&t);
    let app = authed(
        convo_gateway::router(t.engine.clone(), read.clone(), &test_config()),
        api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await,
    );
    // This build registers the agents it assigns (bob, assigned by the older build, is not).
    for agent in REGISTERED {
        register_agent(&app, agent).await;
    }
    let id = convo_domain::conversation_id(API_WS, INBOX, CONTACT);
    let c = format!("/v1/conversations/{id}");
    let agent = json!({"kind": "agent", "id": "ada"});
    let send =
        json!({"actor": agent, "message_id": Uuid::from_u128(0x5e4d), "content": {"type": "text", "body": "hi"}});
    let workload = [
        // bob is assigned (the older build said so): nothing to do.
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "bob"}))),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "cy"}))),
        ("POST", format!("{c}/messages"), Some(send)),
        ("DELETE", format!("{c}/assignee"), None),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "ada"}))),
    ];
    let mut versions = Vec::new();
    for (method, uri, body) in workload {
        let reply = call(&app, method, &uri, body).await;
        assert!(reply.status.is_success(), "{method} {uri}: {:?}", reply.body);
        versions.push(reply.body["version"].clone());
    }
    assert_eq!(versions, [4, 5, 6, 7, 8], "the repeat wrote nothing: the 1.0.0 assignments were applied");
    let stored = crate::support::whole_log(&t.engine).await;
    let assigned = |log: &[LogEvent]| -> Vec<(String, Value)> {
        let assignments = log.iter().filter(|e| e.event_type == "AgentAssigned");
        assignments.map(|e| (e.event_version.clone(), e.payload["previous"].clone())).collect()
    };
    let cy_after_bob = ("2.0.0".to_owned(), json!({"kind": "agent", "id": "bob"}));
    let ada_after_none = ("2.0.0".to_owned(), Value::Null);
    assert_eq!(
        assigned(&stored),
        [("1.0.0".to_owned(), Value::Null), ("1.0.0".to_owned(), json!("ada")), cy_after_bob, ada_after_none.clone()],
        "the log holds what each build wrote; this one decided on the upcast state"
    );
    let mixed = answers(&t, &read, &app, id).await;

    for (sequence, agent, previous) in OLDER_ASSIGNMENTS {
        let payload = agent_assigned("2.0.0", agent, previous);
        let rewritten = rewrite(format!(
            "UPDATE events SET event_version = '2.0.0', payload = '{payload}' \
             WHERE aggregate_type = 'conversation' AND aggregate_id = '{id}' AND sequence = {sequence}"
        ))
        .await;
        assert_eq!(rewritten, 1, "the event at sequence {sequence}");
    }
    let rewritten = crate::support::whole_log(&t.engine).await;
    let versions: Vec<String> = assigned(&rewritten).into_iter().map(|(v, _)| v).collect();
    assert_eq!(versions, ["2.0.0"; 4], "as if this build had written all of it");
    let current = answers(&t, &read, &app, id).await;

    assert_eq!(mixed.state, current.state, "the aggregate");
    assert_eq!(mixed.log, current.log, "the log");
    assert_eq!(mixed.views, current.views, "the read models, rebuilt");
    assert_eq!(mixed.history, current.history, "time travel");
    assert_eq!(mixed.jsonl, current.jsonl, "the JSON Lines export");
    assert_eq!(mixed.parquet, current.parquet, "the Parquet export");
}

/// What the engine answers about `t`'s log, with checks of what it must answer.
async fn answers<B: Backend>(t: &TestEngine<B>, read: &ReadModels<B>, app: &axum::Router, id: Uuid) -> Answers {
    let c = format!("/v1/conversations/{id}");
    let fresh = engine(t.engine.backend.clone());
    let state = fresh.engine.conversations.load(&id.to_string()).await.expect("load the conversation");
    assert_eq!((state.0, state.1.assignee.as_deref()), (8, Some("ada")));
    let stored = crate::support::whole_log(&t.engine).await;
    let log: Vec<Value> = stored.iter().map(|e| json!(e.upcast().expect("every version is read"))).collect();

    // Rebuilt and verified, every read model reads both versions.
    read.rebuild_all(&t.engine.log, &|_| {}).await.expect("rebuild every read model");
    for name in ReadModels::<B>::NAMES {
        assert_eq!(read.verify(name, &t.engine.log, 10).await.expect("verify"), Vec::<String>::new(), "{name}");
    }
    let head = t.engine.log.head().await.expect("the head");
    let mut views = Vec::new();
    for uri in [
        format!("{c}?min_position={head}"),
        format!("{c}/messages?min_position={head}&limit=200"),
        format!("/v1/conversations?min_position={head}&limit=200"),
        format!("/v1/conversations?assignee=ada&min_position={head}"),
        format!("/v1/users/ada/unread-summary?min_position={head}"),
    ] {
        let reply = call(app, "GET", &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
        views.push(reply.body);
    }
    assert_eq!(views[0]["assignee"], "ada");
    assert_eq!(views[3]["items"].as_array().map(Vec::len), Some(1), "listed by its assignee");

    let mut history = Vec::new();
    for event in &stored {
        let then = call(app, "GET", &format!("{c}?at_position={}", event.position), None).await;
        history.push((then.status, then.body));
    }
    let assignees: Vec<&Value> = history.iter().skip(1).map(|(_, then)| &then["assignee"]).collect();
    let (ada, bob, cy) = (json!("ada"), json!("bob"), json!("cy"));
    let none = Value::Null;
    assert_eq!(
        assignees,
        // The two agents registered after bob's assignment leave the conversation as it was.
        [&none, &none, &ada, &bob, &bob, &bob, &cy, &cy, &none, &ada],
        "after each event of the log"
    );
    let registered: Vec<&str> =
        stored[5..7].iter().map(|e| e.payload["agent_id"].as_str().unwrap_or_default()).collect();
    assert_eq!(
        (stored[5].event_type.as_str(), stored[6].event_type.as_str(), registered),
        ("AgentCreated", "AgentCreated", REGISTERED.to_vec())
    );
    let as_of = convo_read::AsOf::Position(stored[4].position);
    let then = convo_read::conversation_at(&t.engine.log, Some(API_WS), id, as_of).await.expect("time travel");
    assert_eq!(then.expect("it existed").summary.assignee.as_deref(), Some("bob"));

    let dir = tempfile::tempdir().expect("a temporary directory");
    let (jsonl, parquet) = (dir.path().join("log.jsonl"), dir.path().join("log.parquet"));
    for path in [&jsonl, &parquet] {
        let options = ExportOptions { page_events: 3, ..ExportOptions::new(path).expect("options") };
        export(&t.engine.log, &options, |_, _| {}).await.expect("an export");
    }
    let jsonl = std::fs::read_to_string(jsonl).expect("the JSON Lines file");
    let jsonl: Vec<Value> = jsonl.lines().map(|line| serde_json::from_str(line).expect("JSON")).collect();
    assert_eq!(jsonl, log, "exported as the engine reads it");
    let parquet = read_parquet(&parquet);
    let mut assignments = Vec::new();
    for batch in &parquet {
        use arrow_array::Array;
        let (types, versions, agents) =
            (column(batch, "event_type"), column(batch, "event_version"), column(batch, "agent_id"));
        for i in (0..batch.num_rows()).filter(|i| matches!(types.value(*i), "AgentAssigned" | "AgentUnassigned")) {
            assignments.push((versions.value(i).to_owned(), agents.is_valid(i).then(|| agents.value(i).to_owned())));
        }
    }
    let row = |version: &str, agent: &str| (version.to_owned(), Some(agent.to_owned()));
    let want = [row("2.0.0", "ada"), row("2.0.0", "bob"), row("2.0.0", "cy"), row("1.0.0", "cy"), row("2.0.0", "ada")];
    assert_eq!(assignments, want, "AgentAssigned at 2.0.0 (AgentUnassigned is 1.0.0), and its agent");

    Answers { state, log, views, history, jsonl, parquet }
}

fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("the Parquet file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file").build().expect("a reader");
    reader.map(|batch| batch.expect("a record batch")).collect()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow_array::StringArray {
    batch.column_by_name(name).unwrap_or_else(|| panic!("a {name} column")).as_string::<i32>()
}
