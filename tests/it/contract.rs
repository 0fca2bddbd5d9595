//! The store contract, run against PostgreSQL and SQLite alike: what a command writes, what
//! the global log returns, the aggregate cache, and concurrent writers.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Duration as Span;
use convo_domain::conversation::{ConversationAction, ConversationChange, ConversationKind};
use convo_domain::{Actor, ChannelType, Conversation, ConversationCommand, ConversationError, ConversationEvent};
use convo_store::{Backend, CommandError, LogEvent};
use cqrs_es::persist::SerializedEvent;
use cqrs_es::{Aggregate, DomainEvent};
use futures::StreamExt;
use uuid::Uuid;

use crate::support::{WS, engine, meta, on_both_backends, t0, text, whole_log};

on_both_backends!(
    commands_are_stored_in_commit_order_with_versions_and_positions,
    a_rejected_command_writes_nothing,
    a_command_that_changes_nothing_answers_the_current_version_and_writes_nothing,
    a_command_on_a_10000_event_conversation_reads_only_the_events_after_the_cached_version,
    thirty_two_concurrent_senders_to_one_conversation_lose_no_update,
    concurrent_commands_on_many_conversations_commit_together_each_with_its_own_position,
    the_log_tail_delivers_commits_live_in_order,
    tails_that_join_late_or_fall_behind_see_every_event_once_in_order,
    commands_about_messages_older_than_the_aggregate_remembers_ask_the_store,
    only_a_taken_sequence_is_a_conflict_a_clash_on_another_unique_index_is_an_error,
);

async fn commands_are_stored_in_commit_order_with_versions_and_positions<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Whatsapp).await;
    let conversation = t.inbound(inbox, "+4915100001", "hello").await;
    let id = conversation.to_string();
    let sent = t.engine.conversations.execute(&id, t.send("hi, how can I help?"), &meta()).await.expect("send");
    assert_eq!(sent.version, 3, "started, inbound, sent");
    let archive =
        ConversationCommand { workspace_id: WS, actor: Actor::agent("ada"), action: ConversationAction::Archive };
    let archived = t.engine.conversations.execute(&id, archive, &meta()).await.expect("archive");
    assert_eq!(archived.version, 4);
    assert!(archived.position > sent.position, "positions grow with each commit");

    let log = whole_log(&t.engine).await;
    let types: Vec<_> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["InboxCreated", "ConversationStarted", "InboundMessageReceived", "MessageSent", "ConversationArchived"]
    );
    assert!(log.windows(2).all(|w| w[0].position < w[1].position));
    // One command's events (started + inbound) take positions in their sequence order.
    let sequences: Vec<i64> = log.iter().filter(|e| e.aggregate_id == id).map(|e| e.sequence).collect();
    assert_eq!(sequences, [1, 2, 3, 4], "the conversation's events in log order are in sequence order");
    assert_eq!(log.last().map(|e| e.position), archived.position, "the command answered the position of its event");
    for event in &log {
        assert_eq!(event.workspace_id.as_deref(), Some(WS.to_string().as_str()), "workspace derived from metadata");
        assert_eq!(event.event_version, "1.0.0");
        assert!((event.recorded_at - chrono::Utc::now()).num_seconds().abs() < 60, "recorded_at is the store's now");
    }
    // The stored payload is the event itself, with its type, time and actor.
    let sent_event: ConversationEvent = serde_json::from_value(log[3].payload.clone()).expect("a conversation event");
    assert_eq!(sent_event.actor, Actor::agent("ada"));
    assert_eq!(sent_event.occurred_at, t0());
    assert!(matches!(sent_event.change, ConversationChange::MessageSent { seq: 2, .. }));
}

async fn a_rejected_command_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Whatsapp).await;
    let conversation = t.inbound(inbox, "+4915100002", "hello").await;
    let before = whole_log(&t.engine).await.len();
    t.clock.advance(Span::hours(25));
    let err = t.engine.conversations.execute(&conversation.to_string(), t.send("too late"), &meta()).await;
    assert!(matches!(err, Err(CommandError::Rejected(ConversationError::MessagingWindowClosed { .. }))));
    let empty = ConversationCommand {
        workspace_id: WS,
        actor: Actor::agent("ada"),
        action: ConversationAction::SendMessage {
            minted_id: false,
            mentions: vec![],
            message_id: Uuid::now_v7(),
            content: text(""),
        },
    };
    let err = t.engine.conversations.execute(&conversation.to_string(), empty, &meta()).await;
    assert!(matches!(err, Err(CommandError::Rejected(ConversationError::Validation { .. }))));
    assert_eq!(whole_log(&t.engine).await.len(), before);
    // And the aggregate was not changed by the rejected attempts: a template still goes out as message 2.
    let template = ConversationCommand {
        workspace_id: WS,
        actor: Actor::agent("ada"),
        action: ConversationAction::SendMessage {
            minted_id: false,
            mentions: vec![],
            message_id: Uuid::now_v7(),
            content: convo_domain::MessageContent::Template {
                name: "follow_up".into(),
                language: "en".into(),
                parameters: vec![],
            },
        },
    };
    let sent = t.engine.conversations.execute(&conversation.to_string(), template, &meta()).await.expect("template");
    assert!(matches!(sent.events[0].payload.change, ConversationChange::MessageSent { seq: 2, .. }));
}

async fn a_command_that_changes_nothing_answers_the_current_version_and_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let conversation = t.inbound(inbox, "+4915100003", "hello").await;
    let unarchive =
        ConversationCommand { workspace_id: WS, actor: Actor::agent("ada"), action: ConversationAction::Unarchive };
    let before = whole_log(&t.engine).await;
    let done = t.engine.conversations.execute(&conversation.to_string(), unarchive, &meta()).await.expect("no-op");
    assert!(done.events.is_empty());
    assert_eq!(done.version, 2);
    assert_eq!(done.position, before.last().map(|e| e.position));
    assert_eq!(whole_log(&t.engine).await.len(), before.len());
}

/// Stores a conversation of `n` events (started + inbound messages) directly, the way a
/// long-running conversation would have accumulated them.
async fn store_long_conversation<B: Backend>(backend: &B, conversation: Uuid, inbox: Uuid, n: usize) {
    let id = conversation.to_string();
    let metadata = serde_json::to_value(meta()).expect("metadata");
    let event = |sequence: usize| {
        let change = if sequence == 1 {
            ConversationChange::Started {
                contact_id: None,
                conversation_id: conversation,
                workspace_id: WS,
                inbox_id: inbox,
                channel: ChannelType::Sms,
                kind: ConversationKind::Direct,
                thread_key: "+4915100004".into(),
                display_name: None,
            }
        } else {
            ConversationChange::InboundMessageReceived {
                mentions: vec![],
                message_id: Uuid::now_v7(),
                seq: sequence as u64 - 1,
                inbound_count: sequence as u64 - 1,
                channel_message_id: None,
                sent_at: t0(),
                content: text("more"),
                sender: None,
                sender_contact_id: None,
            }
        };
        let e = ConversationEvent { occurred_at: t0(), actor: Actor::contact("+4915100004"), change };
        SerializedEvent::new(
            id.clone(),
            sequence,
            Conversation::TYPE.into(),
            e.event_type(),
            e.event_version(),
            serde_json::to_value(&e).expect("payload"),
            metadata.clone(),
        )
    };
    let events: Vec<_> = (1..=n).map(event).collect();
    for chunk in events.chunks(1000) {
        backend.persist::<Conversation>(chunk, None).await.expect("persist history");
    }
}

async fn a_command_on_a_10000_event_conversation_reads_only_the_events_after_the_cached_version<B: Backend>(
    backend: B,
) {
    const N: usize = 10_000;
    let t = engine(backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let conversation = convo_domain::conversation_id(WS, inbox, "+4915100004");
    let id = conversation.to_string();
    store_long_conversation(&backend, conversation, inbox, N).await;

    let store = &t.engine.conversations;
    let first = store.execute(&id, t.send("first"), &meta()).await.expect("first send");
    assert_eq!(first.version, N + 1);
    assert_eq!(store.events_loaded(), N as u64, "a cold cache reads the history once");

    for i in 0..5 {
        store.execute(&id, t.send(&format!("again {i}")), &meta()).await.expect("send");
    }
    assert_eq!(store.events_loaded(), N as u64, "a warm cache reads no history at all");

    // Another gateway writes to the same conversation: ours catches up with just that event.
    let other = engine(backend.clone());
    other.engine.conversations.execute(&id, other.send("from elsewhere"), &meta()).await.expect("other send");
    let next = store.execute(&id, t.send("after"), &meta()).await.expect("send after");
    assert_eq!(store.events_loaded(), N as u64 + 1, "only the event written elsewhere was read");
    assert_eq!(next.version, N + 8);
    let (_, state) = store.load(&id).await.expect("load");
    assert_eq!(state.message_count, (N - 1 + 8) as u64);
}

async fn concurrent_commands_on_many_conversations_commit_together_each_with_its_own_position<B: Backend>(backend: B) {
    const CONVERSATIONS: usize = 64;
    let t = engine(backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let mut ids = Vec::new();
    for i in 0..CONVERSATIONS {
        ids.push(t.inbound(inbox, &format!("+49152{i:05}"), "hello").await.to_string());
    }
    let start = Arc::new(tokio::sync::Barrier::new(CONVERSATIONS));
    let tasks: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let (engine, id, start) = (t.engine.clone(), id.clone(), start.clone());
            let command = t.send(&format!("reply {i}"));
            tokio::spawn(async move {
                start.wait().await;
                engine.conversations.execute(&id, command, &meta()).await.expect("the send commits")
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("sender task"));
    }
    // Each answer names its own event: the position of its conversation's new last event.
    let log = whole_log(&t.engine).await;
    for done in &answers {
        let event = log
            .iter()
            .find(|e| e.aggregate_id == done.aggregate_id && e.sequence == done.version as i64)
            .expect("the event the answer names is in the log");
        assert_eq!(Some(event.position), done.position, "{}: its own position", done.aggregate_id);
        assert_eq!(event.event_type, "MessageSent");
    }
    let positions: HashSet<i64> = answers.iter().filter_map(|d| d.position).collect();
    assert_eq!(positions.len(), CONVERSATIONS, "no two answers share a position");
    if backend.name() == "postgres" {
        // A position is (transaction id << 16) | ordinal: sends that arrived together shared
        // a transaction rather than committing one each.
        let transactions: HashSet<i64> = positions.iter().map(|p| p >> 16).collect();
        println!("{CONVERSATIONS} concurrent sends committed in {} transactions", transactions.len());
        assert!(transactions.len() < CONVERSATIONS, "concurrent sends were committed together");
    }
}

async fn thirty_two_concurrent_senders_to_one_conversation_lose_no_update<B: Backend>(backend: B) {
    const SENDERS: usize = 32;
    let t = engine(backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let conversation = t.inbound(inbox, "+4915100005", "hello").await;
    let id = conversation.to_string();
    // Half the senders share this process's engine (its per-aggregate lock orders them); the
    // other half each run their own engine, like separate gateways, and really conflict.
    let mut tasks = Vec::new();
    for i in 0..SENDERS {
        let engine = if i % 2 == 0 { t.engine.clone() } else { engine(backend.clone()).engine };
        let id = id.clone();
        let command = t.send(&format!("message {i}"));
        tasks.push(tokio::spawn(async move {
            let done = engine.conversations.execute(&id, command, &meta()).await.expect("no send is lost");
            (done.version, done.attempts)
        }));
    }
    let mut versions = HashSet::new();
    let (mut retries, mut most) = (0, 0);
    for task in tasks {
        let (version, attempts) = task.await.expect("sender task");
        versions.insert(version);
        retries += attempts - 1;
        most = most.max(attempts);
    }
    assert_eq!(versions.len(), SENDERS, "each send got its own version");
    println!(
        "{SENDERS} concurrent senders on {}: {retries} conflicts retried, at most {most} attempts",
        backend.name()
    );

    let log = whole_log(&t.engine).await;
    let events: Vec<_> = log.iter().filter(|e| e.aggregate_id == id).collect();
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=(2 + SENDERS as i64)).collect::<Vec<_>>(), "contiguous, in log order");
    let bodies: HashSet<String> = events
        .iter()
        .filter(|e| e.event_type == "MessageSent")
        .map(|e| e.payload["content"]["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bodies.len(), SENDERS, "every message is there");
    let seqs: BTreeMap<u64, usize> =
        events.iter().filter_map(|e| e.payload["seq"].as_u64()).fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
    assert_eq!(seqs.keys().copied().collect::<Vec<_>>(), (1..=(1 + SENDERS as u64)).collect::<Vec<_>>());
    assert!(seqs.values().all(|n| *n == 1), "message numbers are unique");
}

async fn the_log_tail_delivers_commits_live_in_order<B: Backend>(backend: B) {
    let t = engine(backend);
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let start = whole_log(&t.engine).await.last().map_or(0, |e| e.position);
    let tail = t.engine.log.tail(start, 100);
    let reader = tokio::spawn(async move {
        let mut tail = Box::pin(tail);
        let mut seen = Vec::new();
        while seen.len() < 20 {
            let batch = tokio::time::timeout(Duration::from_secs(10), tail.next())
                .await
                .expect("the tail delivers new events")
                .expect("the tail never ends")
                .expect("reading the log");
            seen.extend(batch);
        }
        seen
    });
    let t = Arc::new(t);
    for i in 0..10 {
        t.inbound(inbox, &format!("+49151{i:05}"), "hello").await;
    }
    let seen = reader.await.expect("reader task");
    assert_eq!(seen.len(), 20, "10 conversations started, 10 messages");
    assert!(seen.windows(2).all(|w| w[0].position < w[1].position));
    let seen: Vec<LogEvent> = seen.iter().map(|e| LogEvent::clone(e)).collect();
    assert_eq!(seen, whole_log(&t.engine).await.into_iter().filter(|e| e.position > start).collect::<Vec<_>>());
}

/// The tails of one log share one reader (its feed). A tail that starts behind it catches up
/// from the log and then follows the feed; one that stops taking events for longer than the
/// feed keeps pages reads the log itself again. Neither misses, repeats or reorders an event.
async fn tails_that_join_late_or_fall_behind_see_every_event_once_in_order<B: Backend>(backend: B) {
    async fn positions<S>(tail: &mut S) -> Vec<i64>
    where
        S: futures::Stream<Item = Result<Vec<Arc<LogEvent>>, convo_store::StoreError>> + Unpin,
    {
        let batch = tokio::time::timeout(Duration::from_secs(20), tail.next()).await.expect("the tail delivers");
        batch.expect("the tail never ends").expect("reading the log").iter().map(|e| e.position).collect()
    }
    let t = Arc::new(engine(backend));
    let inbox = t.create_inbox(ChannelType::Sms).await;
    for i in 0..10 {
        t.inbound(inbox, &format!("+49152{i:05}"), "before anyone tails").await;
    }
    let head = whole_log(&t.engine).await.last().map_or(0, |e| e.position);
    // The first tail starts the feed at the head; writes go on throughout.
    let mut behind = Box::pin(t.engine.log.tail(head, 7));
    let writer = {
        let t = t.clone();
        tokio::spawn(async move {
            for i in 0..150 {
                t.inbound(inbox, &format!("+49153{:05}", i % 40), "while tails come and go").await;
                // Apart, so the feed reads many small pages: more than it keeps for a tail.
                tokio::time::sleep(Duration::from_millis(8)).await;
            }
        })
    };
    let mut behind_seen = Vec::new();
    while behind_seen.len() < 20 {
        behind_seen.extend(positions(&mut behind).await);
    }
    // A tail from the very start joins while writes go on, and keeps up: it catches up with
    // what the feed never carried, then takes the feed's pages.
    let late = {
        let mut late = Box::pin(t.engine.log.tail(0, 50));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                loop {
                    let batch = positions(&mut late).await;
                    seen.lock().expect("seen").extend(batch);
                }
            }
        });
        (task, seen)
    };
    // Meanwhile the first tail takes nothing: it falls far behind the feed.
    writer.await.expect("the writer");
    let all: Vec<i64> = whole_log(&t.engine).await.iter().map(|e| e.position).collect();
    let last = *all.last().expect("events");
    while behind_seen.last() != Some(&last) {
        behind_seen.extend(positions(&mut behind).await);
    }
    let after_head: Vec<i64> = all.iter().copied().filter(|p| *p > head).collect();
    assert_eq!(behind_seen, after_head, "the tail that fell behind: every event after its start once, in order");
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    while late.1.lock().expect("seen").last() != Some(&last) {
        assert!(std::time::Instant::now() < give_up, "the late tail reaches the head");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    late.0.abort();
    assert_eq!(*late.1.lock().expect("seen"), all, "the late tail: every event once, in log order");
}

async fn commands_about_messages_older_than_the_aggregate_remembers_ask_the_store<B: Backend>(backend: B) {
    use convo_domain::DeliveryStatus;
    let t = engine(backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let conversation = t.inbound(inbox, "+4915100006", "hello").await;
    let id = conversation.to_string();
    let old = Uuid::now_v7();
    let send_old = ConversationCommand {
        workspace_id: WS,
        actor: Actor::agent("ada"),
        action: ConversationAction::SendMessage {
            minted_id: false,
            mentions: vec![],
            message_id: old,
            content: text("an old reply"),
        },
    };
    t.engine.conversations.execute(&id, send_old.clone(), &meta()).await.expect("send");
    // 300 more inbound messages, stored directly, push it out of the aggregate's memory.
    let metadata = serde_json::to_value(meta()).expect("metadata");
    let more: Vec<SerializedEvent> = (0..300u64)
        .map(|i| {
            let e = ConversationEvent {
                occurred_at: t0(),
                actor: Actor::contact("+4915100006"),
                change: ConversationChange::InboundMessageReceived {
                    mentions: vec![],
                    message_id: Uuid::now_v7(),
                    seq: 3 + i,
                    inbound_count: 2 + i,
                    channel_message_id: None,
                    sent_at: t0(),
                    content: text("more"),
                    sender: None,
                    sender_contact_id: None,
                },
            };
            let payload = serde_json::to_value(&e).expect("payload");
            SerializedEvent::new(
                id.clone(),
                4 + i as usize,
                "conversation".into(),
                e.event_type(),
                e.event_version(),
                payload,
                metadata.clone(),
            )
        })
        .collect();
    backend.persist::<Conversation>(&more, None).await.expect("persist");
    let (_, state) = t.engine.conversations.load(&id).await.expect("load");
    assert!(state.recent.iter().all(|m| m.message_id != old), "the old reply is out of the aggregate's memory");

    let report = |status| ConversationCommand {
        workspace_id: WS,
        actor: Actor::system("connector"),
        action: ConversationAction::RecordDeliveryStatus { message_id: old, status, failure: None, reported_at: t0() },
    };
    let delivered =
        t.engine.conversations.execute(&id, report(DeliveryStatus::Delivered), &meta()).await.expect("report");
    assert_eq!(delivered.events.len(), 1, "found through the store and recorded");
    let late = t.engine.conversations.execute(&id, report(DeliveryStatus::Sent), &meta()).await.expect("late report");
    assert!(late.events.is_empty(), "its status was folded from the store: a late report changes nothing");
    let reused = t.engine.conversations.execute(&id, send_old, &meta()).await;
    assert!(matches!(reused, Err(CommandError::Rejected(ConversationError::DuplicateMessage(m))) if m == old));
    let unknown = ConversationCommand {
        workspace_id: WS,
        actor: Actor::agent("ada"),
        action: ConversationAction::React { message_id: Uuid::now_v7(), emoji: "👍".into() },
    };
    let unknown = t.engine.conversations.execute(&id, unknown, &meta()).await;
    assert!(matches!(unknown, Err(CommandError::Rejected(ConversationError::MessageNotFound(_)))));
}

/// A taken sequence is another writer winning the race: a conflict the store retries. A clash
/// on any other unique index of the events table (here two events given one position, which
/// only a defect could do) is an error at once: retrying would repeat it, and a client told
/// "conflict, retry" would retry in vain.
async fn only_a_taken_sequence_is_a_conflict_a_clash_on_another_unique_index_is_an_error<B: Backend>(backend: B) {
    use convo_store::{SqlStore, StoreError};
    use cqrs_es::persist::PersistenceError;
    let t = engine(backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let id = t.inbound(inbox, "+4915100007", "hello").await.to_string();
    let before = whole_log(&t.engine).await;
    let inbound = before.iter().find(|e| e.aggregate_id == id && e.sequence == 2).expect("the inbound message");
    let at = |sequence: usize| {
        SerializedEvent::new(
            id.clone(),
            sequence,
            Conversation::TYPE.into(),
            inbound.event_type.clone(),
            inbound.event_version.clone(),
            inbound.payload.clone(),
            inbound.metadata.clone(),
        )
    };

    let taken = [at(2)];
    let appended = backend.append(&taken).await;
    assert!(matches!(appended, Err(PersistenceError::OptimisticLockError)), "append: {appended:?}");
    let persisted = backend.persist::<Conversation>(&taken, None).await;
    assert!(matches!(persisted, Err(PersistenceError::OptimisticLockError)), "persist: {persisted:?}");

    // From now on every new event is given the position the last one holds.
    let head = before.last().map(|e| e.position).expect("events");
    let statement = match backend.name() {
        "postgres" => format!("ALTER TABLE events ALTER COLUMN global_position SET DEFAULT {head}"),
        // One string, so one connection drops and creates the trigger.
        _ => format!(
            "DROP TRIGGER events_assign_global_position;
             CREATE TRIGGER events_assign_global_position AFTER INSERT ON events
             BEGIN UPDATE events SET global_position = {head} WHERE rowid = NEW.rowid; END"
        ),
    };
    backend.sql().execute(&statement, &[]).await.expect("break position assignment");
    let free = [at(3)];
    for (path, result) in [
        ("append", backend.append(&free).await.map(|_| ())),
        ("persist", backend.persist::<Conversation>(&free, None).await),
    ] {
        let Err(PersistenceError::UnknownError(e)) = result else {
            panic!("{path}: a clash of positions is an error, not a conflict: {result:?}")
        };
        assert!(e.to_string().contains("global_position"), "{path}: {e}");
    }
    let sent = t.engine.conversations.execute(&id, t.send("hi"), &meta()).await;
    assert!(
        matches!(sent, Err(CommandError::Store(StoreError::Database(_)))),
        "a command fails at once rather than retrying and answering that it was contended: {sent:?}"
    );
    assert_eq!(whole_log(&t.engine).await, before, "nothing was written");
}

/// Both adapters' migrations describe the same tables and columns: a read model or a query
/// written once (`SqlTable`, `TableStore`) finds on SQLite what it finds on PostgreSQL. The only
/// difference is PostgreSQL's `events.transaction_id`, its part of the gap-free log order
/// (decision 0002; SQLite's single writer needs none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migration_folders_describe_the_same_tables_and_columns() {
    use std::collections::BTreeSet;
    let pg = crate::support::TestPg::new().await;
    let sqlite = crate::support::TestSqlite::new().await;
    let postgres: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(pg.backend.pool())
    .await
    .expect("PostgreSQL's columns")
    .into_iter()
    .collect();
    // table_xinfo: generated columns (events.workspace_id) too.
    let sqlite: BTreeSet<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
          WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(sqlite.backend.pool())
    .await
    .expect("SQLite's columns")
    .into_iter()
    .collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    assert_eq!(only_postgres, [&("events".to_owned(), "transaction_id".to_owned())], "columns only PostgreSQL has");
    assert_eq!(only_sqlite, Vec::<&(String, String)>::new(), "columns only SQLite has");
}
