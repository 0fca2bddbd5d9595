//! The global log on PostgreSQL against concurrent writers and late commits: a tailing reader
//! sees every event exactly once, in an order that keeps each aggregate's sequence.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use convo_domain::ChannelType;
use convo_store::Backend;
use futures::StreamExt;
use sqlx::Connection;

use crate::support::{TestPg, WS, engine};

const WRITERS: usize = 8;
const COMMANDS_PER_WRITER: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_once_even_when_a_transaction_commits_late() {
    let pg = TestPg::new().await;
    let t = engine(pg.backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;

    // The reader tails from the start for the whole test.
    let tail = t.engine.log.tail(0, 50);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut tail = Box::pin(tail);
        while let Some(batch) = tail.next().await {
            for event in batch.expect("reading the log") {
                if seen_tx.send(event).is_err() {
                    return;
                }
            }
        }
    });

    // A transaction takes a position, then holds it open while later ones commit.
    let mut held = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    let mut held_tx = held.begin().await.expect("begin");
    let held_position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('probe', 'held', 1, 'ProbeRecorded', '1.0.0', '{}', jsonb_build_object('workspace_id', $1::text))
         RETURNING global_position",
    )
    .bind(WS.to_string())
    .fetch_one(&mut *held_tx)
    .await
    .expect("insert the held event");
    // And one takes a position and never commits: a gap that is never filled.
    let mut aborted = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    let mut aborted_tx = aborted.begin().await.expect("begin");
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('probe', 'aborted', 1, 'ProbeRecorded', '1.0.0', '{}', '{}')",
    )
    .execute(&mut *aborted_tx)
    .await
    .expect("insert the aborted event");
    aborted_tx.rollback().await.expect("rollback");

    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let engine = t.engine.clone();
        let clock = t.clock.clone();
        writers.push(tokio::spawn(async move {
            let t = crate::support::TestEngine { engine, clock };
            for i in 0..COMMANDS_PER_WRITER {
                // 16 conversations, each written by several writers.
                t.inbound(inbox, &format!("+4930{:04}", (w * COMMANDS_PER_WRITER + i) % 16), "hi").await;
            }
        }));
    }

    // Wait until many later transactions have committed, so a reader that checkpointed on the
    // highest visible position would already have passed the held one for good.
    let mut probe = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    loop {
        let later: i64 = sqlx::query_scalar("SELECT count(*) FROM events WHERE global_position > $1")
            .bind(held_position)
            .fetch_one(&mut probe)
            .await
            .expect("count");
        if later >= 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    held_tx.commit().await.expect("commit the held event late");
    for w in writers {
        w.await.expect("writer");
    }

    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&mut probe).await.expect("count");
    let mut seen = Vec::new();
    while (seen.len() as i64) < total {
        let event = tokio::time::timeout(Duration::from_secs(30), seen_rx.recv())
            .await
            .expect("the reader keeps up")
            .expect("the reader is alive");
        seen.push(event);
    }
    // Nothing more arrives.
    assert!(tokio::time::timeout(Duration::from_millis(500), seen_rx.recv()).await.is_err(), "no event twice");
    reader.abort();

    assert_eq!(seen.len() as i64, total, "every committed event, once");
    let positions: HashSet<i64> = seen.iter().map(|e| e.position).collect();
    assert_eq!(positions.len(), seen.len(), "no event twice");
    assert!(seen.windows(2).all(|w| w[0].position < w[1].position), "in log order");
    let held_index = seen.iter().position(|e| e.aggregate_id == "held").expect("the late commit was seen");
    assert_eq!(seen[held_index].position, held_position);
    assert!(seen.len() - held_index > 100, "it was placed before the events that committed while it was open");
    assert!(!seen.iter().any(|e| e.aggregate_id == "aborted"), "a rolled-back event never appears");
    let mut last_sequence: HashMap<&str, i64> = HashMap::new();
    for event in &seen {
        let last = last_sequence.entry(event.aggregate_id.as_str()).or_insert(0);
        assert_eq!(event.sequence, *last + 1, "{}: each aggregate's events in sequence order", event.aggregate_id);
        *last = event.sequence;
    }
}

/// The scenario above is real: while a transaction holds a low position open, higher ones are
/// already visible, so checkpointing on the highest visible position would skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_become_visible_out_of_order_and_the_reader_waits_for_the_gap() {
    let pg = TestPg::new().await;
    let t = engine(pg.backend.clone());
    let mut held = sqlx::PgConnection::connect(&pg.url).await.expect("connect");
    let mut held_tx = held.begin().await.expect("begin");
    let held_position: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('probe', 'held', 1, 'ProbeRecorded', '1.0.0', '{}', '{}') RETURNING global_position",
    )
    .fetch_one(&mut *held_tx)
    .await
    .expect("insert");
    let inbox = t.create_inbox(ChannelType::Sms).await;
    t.inbound(inbox, "+49300001", "hello").await;

    let visible_max: i64 =
        sqlx::query_scalar("SELECT max(global_position) FROM events").fetch_one(pg.backend.pool()).await.expect("max");
    assert!(visible_max > held_position, "a later commit is visible above the open transaction's position");
    assert!(t.engine.log.read(0, 100).await.expect("read").is_empty(), "the reader returns nothing past the gap");

    held_tx.commit().await.expect("commit");
    // (Read to the head: other tests' transactions elsewhere in the cluster may hold it back.)
    let log = crate::support::whole_log(&t.engine).await;
    assert_eq!(log.first().map(|e| e.position), Some(held_position), "the late commit comes first");
    assert_eq!(log.len(), 4, "held, inbox created, conversation started, message");
}

/// A tail in one process wakes when another process commits, without waiting for its poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_another_process_wakes_a_tail_at_once() {
    let pg = TestPg::new().await;
    let reader = engine(pg.backend.clone());
    let writer = engine(pg.backend.clone());
    let _relays: Vec<_> =
        [&reader, &writer].iter().flat_map(|t| t.engine.backend.relay_commits(t.engine.log.notifier())).collect();
    tokio::time::sleep(Duration::from_millis(300)).await; // the listeners are connected
    let start = reader.engine.log.head().await.expect("head");
    let tail = reader.engine.log.clone().with_poll_interval(Duration::from_secs(60)).tail(start, 10);
    let mut tail = Box::pin(tail);
    // Let the tail reach its wait before the other process commits.
    assert!(tokio::time::timeout(Duration::from_millis(300), tail.next()).await.is_err());
    let started = std::time::Instant::now();
    writer.create_inbox(ChannelType::Sms).await;
    let batch = tokio::time::timeout(Duration::from_secs(10), tail.next())
        .await
        .expect("woken long before the 60 s poll")
        .expect("a batch")
        .expect("read");
    assert_eq!(batch[0].event_type, "InboxCreated");
    assert!(started.elapsed() < Duration::from_secs(5), "woken in {:?}", started.elapsed());
}

/// The server dropping the engine's connections (a PostgreSQL restart, a failover, an idle
/// timeout) costs no request once they sat idle: a connection idle for over a second is tested
/// before use and replaced when it is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_reads_succeed_after_the_server_dropped_every_idle_connection() {
    let pg = TestPg::new().await;
    let t = engine(pg.backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    t.inbound(inbox, "+4930000001", "before").await;
    let database = pg.url.rsplit('/').next().expect("a database name").to_owned();
    let mut admin = sqlx::PgConnection::connect(&crate::support::admin_url()).await.expect("connect");
    let dropped: i64 = sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1",
    )
    .bind(&database)
    .fetch_one(&mut admin)
    .await
    .expect("terminate the engine's connections");
    assert!(dropped >= 1, "the pool's connections were dropped");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // `inbound` fails the test on any error: the append goes through the committer.
    let conversation = t.inbound(inbox, "+4930000002", "after").await;
    let events = t.engine.log.read_aggregate("conversation", &conversation.to_string(), 0, 10).await;
    assert_eq!(events.expect("a read after").len(), 2, "started and the message");
}
