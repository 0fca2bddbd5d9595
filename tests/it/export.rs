//! `convo export`: a workload written through the engine, exported to JSON Lines and Parquet
//! (everything, one workspace, a position range, a time range, some event types), read back,
//! and compared with the log itself: the same positions, the same payload checksums.

use std::path::Path;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use convo_domain::conversation::{ConversationAction, ConversationKind};
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, ChannelType, ConversationCommand};
use convo_export::{ExportError, ExportOptions, Format, export};
use convo_store::{Backend, LogEvent, LogFilter};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::{TestEngine, engine, on_both_backends, text, whole_log};

const OTHER_WS: Uuid = Uuid::from_u128(0x07e5);

/// SHA-256 of the payload's canonical JSON (keys sorted, no spaces).
fn checksum(payload: &Value) -> Vec<u8> {
    Sha256::digest(serde_json::to_string(payload).expect("JSON").as_bytes()).to_vec()
}

/// What the log says an export must hold: (position, payload checksum) of each event, in order.
fn expected<'a>(events: impl IntoIterator<Item = &'a LogEvent>) -> Vec<(i64, Vec<u8>)> {
    events.into_iter().map(|e| (e.position, checksum(&e.payload))).collect()
}

/// Two workspaces; in each an inbox and conversations with inbound and outbound messages.
async fn workload<B: Backend>(t: &TestEngine<B>) {
    for (workspace, conversations) in [(crate::support::WS, 3), (OTHER_WS, 2)] {
        let meta = convo_store::metadata(workspace, []);
        let inbox_id = Uuid::now_v7();
        let create = InboxCommand {
            workspace_id: workspace,
            actor: Actor::agent("admin"),
            action: InboxAction::Create { inbox_id, name: "Support".into(), channel: ChannelType::Sms, policy: None },
        };
        t.engine.inboxes.execute(&inbox_id.to_string(), create, &meta).await.expect("create an inbox");
        for i in 0..conversations {
            let contact = format!("+4917600{i:03}");
            let id = convo_domain::conversation_id(workspace, inbox_id, &contact).to_string();
            let inbound = |body: &str| ConversationCommand {
                workspace_id: workspace,
                actor: Actor::contact(&contact),
                action: ConversationAction::ReceiveInboundMessage {
                    contact_id: None,
                    mentions: vec![],
                    inbox_id,
                    thread_key: contact.clone(),
                    kind: ConversationKind::Direct,
                    display_name: None,
                    message_id: Uuid::now_v7(),
                    channel_message_id: None,
                    sent_at: t.clock_now(),
                    content: text(body),
                    sender: None,
                    sender_contact_id: None,
                },
            };
            let send = ConversationCommand {
                workspace_id: workspace,
                actor: Actor::agent("ada"),
                action: ConversationAction::SendMessage {
                    minted_id: false,
                    mentions: vec![],
                    message_id: Uuid::now_v7(),
                    content: text("hello"),
                },
            };
            for command in [inbound("hi"), send, inbound("thanks")] {
                t.engine.conversations.execute(&id, command, &meta).await.expect("a command");
            }
        }
    }
}

/// The (position, payload checksum) of each line of a JSON Lines export, after checking each
/// line is the `LogEvent` the log holds at that position.
fn read_jsonl(path: &Path, log: &[LogEvent]) -> Vec<(i64, Vec<u8>)> {
    let content = std::fs::read_to_string(path).expect("the JSON Lines file");
    let lines: Vec<LogEvent> =
        content.lines().map(|line| serde_json::from_str(line).expect("each line is a LogEvent")).collect();
    for line in &lines {
        let logged = log.iter().find(|e| e.position == line.position).expect("an exported event is in the log");
        assert_eq!(line, logged, "the JSON line is the event as the log serves it");
    }
    expected(&lines)
}

/// One row of a Parquet export, with the columns the checks need.
#[derive(Debug)]
struct ParquetRow {
    position: i64,
    payload: Value,
    recorded_at_us: i64,
    conversation_id: Option<String>,
    message_id: Option<String>,
    direction: Option<String>,
    actor_kind: Option<String>,
}

fn read_parquet(path: &Path) -> Vec<ParquetRow> {
    let file = std::fs::File::open(path).expect("the Parquet file");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).expect("a Parquet file").build().expect("a reader");
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.expect("a record batch");
        let int = |name| batch.column_by_name(name).expect(name).as_primitive::<Int64Type>().clone();
        let text = |name| batch.column_by_name(name).expect(name).as_string::<i32>().clone();
        let (position, payload) = (int("position"), text("payload"));
        let recorded_at = batch.column_by_name("recorded_at").expect("recorded_at");
        let recorded_at = recorded_at.as_primitive::<TimestampMicrosecondType>();
        let (conversation, message, direction, actor) =
            (text("conversation_id"), text("message_id"), text("direction"), text("actor_kind"));
        let cell = |a: &arrow_array::StringArray, i| a.is_valid(i).then(|| a.value(i).to_owned());
        for i in 0..batch.num_rows() {
            rows.push(ParquetRow {
                position: position.value(i),
                payload: serde_json::from_str(payload.value(i)).expect("the payload column is JSON"),
                recorded_at_us: recorded_at.value(i),
                conversation_id: cell(&conversation, i),
                message_id: cell(&message, i),
                direction: cell(&direction, i),
                actor_kind: cell(&actor, i),
            });
        }
    }
    rows
}

async fn export_to<B: Backend>(
    t: &TestEngine<B>,
    path: &Path,
    after: i64,
    filter: LogFilter,
) -> Result<convo_export::Exported, ExportError> {
    // Small pages, so an export spans several reads.
    let options = ExportOptions { after, filter, page_events: 4, ..ExportOptions::new(path)? };
    export(&t.engine.log, &options, |_, _| {}).await
}

async fn exports_read_back_the_log<B: Backend>(backend: B) {
    let t = engine(backend);
    workload(&t).await;
    let log = whole_log(&t.engine).await;
    assert_eq!(log.len(), 2 + 5 * 4, "an inbox per workspace, four events per conversation");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ws = OTHER_WS.to_string();
    let (lo, hi) = (log[3].position, log[12].position);
    let (since, until) = (log[5].recorded_at, log[15].recorded_at);
    let types = vec!["MessageSent".to_owned(), "InboxCreated".to_owned()];
    let cases: Vec<(&str, i64, LogFilter, Vec<&LogEvent>)> = vec![
        ("all", 0, LogFilter::default(), log.iter().collect()),
        (
            "workspace",
            0,
            LogFilter { workspace: Some(ws.clone()), ..LogFilter::default() },
            log.iter().filter(|e| e.workspace_id.as_ref() == Some(&ws)).collect(),
        ),
        (
            "positions",
            lo,
            LogFilter { until_position: Some(hi), ..LogFilter::default() },
            log.iter().filter(|e| e.position > lo && e.position <= hi).collect(),
        ),
        (
            "times",
            0,
            LogFilter { since: Some(since), until: Some(until), ..LogFilter::default() },
            log.iter().filter(|e| e.recorded_at >= since && e.recorded_at < until).collect(),
        ),
        (
            "types",
            0,
            LogFilter { event_types: types.clone(), ..LogFilter::default() },
            log.iter().filter(|e| types.contains(&e.event_type)).collect(),
        ),
    ];
    for (name, after, filter, want) in cases {
        assert!(!want.is_empty(), "{name}: the case selects some events");
        let want = expected(want);

        let jsonl = dir.path().join(format!("{name}.jsonl"));
        let done = export_to(&t, &jsonl, after, filter.clone()).await.expect("a JSON Lines export");
        assert_eq!(done.events, want.len() as u64, "{name}: events counted");
        assert_eq!(done.bytes, std::fs::metadata(&jsonl).expect("the file").len(), "{name}: size");
        assert_eq!(read_jsonl(&jsonl, &log), want, "{name}: JSON Lines positions and checksums");

        let parquet = dir.path().join(format!("{name}.parquet"));
        let done = export_to(&t, &parquet, after, filter).await.expect("a Parquet export");
        assert_eq!(done.events, want.len() as u64, "{name}: events counted");
        let rows = read_parquet(&parquet);
        let got: Vec<_> = rows.iter().map(|r| (r.position, checksum(&r.payload))).collect();
        assert_eq!(got, want, "{name}: Parquet positions and checksums");
        for row in &rows {
            let logged = log.iter().find(|e| e.position == row.position).expect("in the log");
            assert_eq!(row.recorded_at_us, logged.recorded_at.timestamp_micros(), "recorded_at");
            assert_eq!(row.actor_kind.as_ref(), logged.payload["actor"]["kind"].as_str().map(str::to_owned).as_ref());
            if logged.event_type == "MessageSent" {
                assert_eq!(row.direction.as_deref(), Some("outbound"));
                assert_eq!(row.conversation_id.as_ref(), Some(&logged.aggregate_id));
                assert_eq!(row.message_id.as_deref(), logged.payload["message_id"].as_str());
            }
            if logged.event_type == "InboxCreated" {
                assert_eq!((row.direction.as_ref(), row.conversation_id.as_ref()), (None, None), "inbox events");
            }
        }
    }
}

async fn bad_input_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    workload(&t).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("log.parquet");

    assert!(matches!("xml".parse::<Format>(), Err(ExportError::UnknownFormat(f)) if f == "xml"));
    assert!(matches!(ExportOptions::new(dir.path().join("log.csv")), Err(ExportError::FormatNotKnown(_))));
    let inverted = [
        (5, LogFilter { until_position: Some(5), ..LogFilter::default() }),
        (7, LogFilter { until_position: Some(3), ..LogFilter::default() }),
        (0, LogFilter { since: Some(crate::support::t0()), until: Some(crate::support::t0()), ..LogFilter::default() }),
    ];
    for (after, filter) in inverted {
        let error = export_to(&t, &out, after, filter).await.expect_err("an empty range is refused");
        assert!(matches!(error, ExportError::InvertedRange(_)), "{error}");
        assert!(error.to_string().starts_with("empty range: "), "{error}");
    }
    let stdout = ExportOptions { format: Format::Parquet, ..ExportOptions::new("-").expect("stdout") };
    let error = export(&t.engine.log, &stdout, |_, _| {}).await.expect_err("no Parquet on stdout");
    assert!(matches!(error, ExportError::ParquetToStdout), "{error}");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).expect("the directory").collect();
    assert!(entries.is_empty(), "no file written, not even a temporary one: {entries:?}");
}

on_both_backends!(exports_read_back_the_log, bad_input_writes_nothing);
