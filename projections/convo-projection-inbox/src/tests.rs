//! The inbox projection, given a conversation's history in the global log, when more events
//! arrive, then its summary row is exactly what an inbox list should show.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use convo_domain::conversation::{Assignee, ConversationChange, ConversationKind, ConversationStatus};
use convo_domain::message::{Direction, InteractiveOption};
use convo_domain::{Actor, ChannelType, ConversationEvent, DeliveryStatus, LogEvent, MessageContent};
use convo_projection::{Changes, ProjectionError, prepare};
use serde_json::json;
use uuid::Uuid;

use super::{
    ConversationLabelView, ConversationLabelsProjection, ConversationSummary, InboxProjection, LabelRow, LastMessage,
    PREVIEW_CHARS, SortTimes, preview,
};

const WORKSPACE: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
const INBOX: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0002);
const CONVERSATION: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_00c1);
const OTHER_CONVERSATION: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_00c2);
const M1: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0a01);
const M2: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0a02);
const M3: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0a03);
const M4: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0a04);

const CONTACT: &str = "+4915112345678";

/// `seconds` after 2025-01-01T10:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_725_600, 0).expect("a valid time") + Duration::seconds(seconds)
}

/// The global log as the store appends it: positions increase (by 10: not dense), each
/// conversation's sequence counts its own events.
#[derive(Default)]
struct Log {
    events: Vec<LogEvent>,
    sequences: HashMap<Uuid, i64>,
}

impl Log {
    fn append(&mut self, conversation: Uuid, at: DateTime<Utc>, change: ConversationChange) -> &mut Self {
        let actor = match change {
            ConversationChange::Started { .. } | ConversationChange::InboundMessageReceived { .. } => {
                Actor::contact(CONTACT)
            }
            _ => Actor::agent("ada"),
        };
        let event = ConversationEvent { occurred_at: at, actor, change };
        let sequence = self.sequences.entry(conversation).or_default();
        *sequence += 1;
        self.events.push(LogEvent {
            position: 10 * (self.events.len() as i64 + 1),
            workspace_id: Some(WORKSPACE.to_string()),
            aggregate_type: "conversation".to_owned(),
            aggregate_id: conversation.to_string(),
            sequence: *sequence,
            event_type: event.change.event_type().to_owned(),
            event_version: convo_domain::versions::current_version(event.change.event_type()).to_owned(),
            payload: serde_json::to_value(&event).expect("an event serializes"),
            metadata: json!({}),
            recorded_at: at + Duration::milliseconds(5),
            decoded: Default::default(),
        });
        self
    }

    /// Appends to the conversation under test.
    fn then(&mut self, at: DateTime<Utc>, change: ConversationChange) -> &mut Self {
        self.append(CONVERSATION, at, change)
    }
}

/// A log whose conversation under test started at `t(0)` (sequence 1, position 10).
fn given_started() -> Log {
    let mut log = Log::default();
    log.then(t(0), started(CONVERSATION));
    log
}

fn started(conversation_id: Uuid) -> ConversationChange {
    ConversationChange::Started {
        conversation_id,
        workspace_id: WORKSPACE,
        inbox_id: INBOX,
        channel: ChannelType::Whatsapp,
        kind: ConversationKind::Direct,
        thread_key: CONTACT.to_owned(),
        display_name: Some("Ada Lovelace".to_owned()),
        contact_id: Some(CONTACT_ID),
    }
}

/// The contact the conversation's sender resolved to.
const CONTACT_ID: Uuid = Uuid::from_u128(0xc0);

fn text(body: &str) -> MessageContent {
    MessageContent::Text { body: body.to_owned() }
}

fn inbound(message_id: Uuid, seq: u64, sent_at: DateTime<Utc>, body: &str) -> ConversationChange {
    // The inbox row does not use inbound_count; any consistent value will do.
    ConversationChange::InboundMessageReceived {
        mentions: vec![],
        message_id,
        seq,
        inbound_count: seq,
        channel_message_id: Some(format!("wamid.{seq}")),
        sent_at,
        content: text(body),
        sender: None,
        sender_contact_id: None,
    }
}

fn sent(message_id: Uuid, seq: u64, body: &str) -> ConversationChange {
    ConversationChange::MessageSent { mentions: vec![], message_id, seq, inbound_count: seq - 1, content: text(body) }
}

fn edited(message_id: Uuid, body: &str) -> ConversationChange {
    ConversationChange::MessageEdited { message_id, content: text(body) }
}

fn status(
    from: ConversationStatus,
    to: ConversationStatus,
    snoozed_until: Option<DateTime<Utc>>,
) -> ConversationChange {
    ConversationChange::StatusChanged { from, to, snoozed_until }
}

/// The row of the conversation under test right after it started, written out in full.
fn started_row() -> ConversationSummary {
    ConversationSummary {
        group: None,
        attributes: Default::default(),
        conversation_id: CONVERSATION,
        workspace_id: WORKSPACE,
        inbox_id: INBOX,
        channel: ChannelType::Whatsapp,
        kind: ConversationKind::Direct,
        thread_key: CONTACT.to_owned(),
        display_name: Some("Ada Lovelace".to_owned()),
        contact_id: Some(CONTACT_ID),
        status: ConversationStatus::Open,
        snoozed_until: None,
        archived: false,
        assignee: None,
        team: None,
        labels: vec![],
        last_message: None,
        last_inbound_at: None,
        last_activity_at: t(0),
        created_at: t(0),
        message_count: 0,
        inbound_count: 0,
        version: 1,
        position: 10,
    }
}

fn last(message_id: Uuid, seq: u64, direction: Direction, preview: &str, at: DateTime<Utc>) -> Option<LastMessage> {
    Some(LastMessage { message_id, seq, direction, preview: preview.to_owned(), at, deleted: false })
}

/// Folds `events` over `loaded` as the runner does.
fn fold(
    events: &[LogEvent],
    loaded: HashMap<Uuid, ConversationSummary>,
) -> Result<Changes<InboxProjection>, ProjectionError> {
    prepare(&InboxProjection, events)?.apply(&InboxProjection, loaded)
}

/// The rows after folding `events` over `loaded`: the loaded ones with the changes applied.
fn rows_after(
    events: &[LogEvent],
    mut loaded: HashMap<Uuid, ConversationSummary>,
) -> Result<HashMap<Uuid, ConversationSummary>, ProjectionError> {
    for (key, row) in fold(events, loaded.clone())? {
        match row {
            Some(row) => loaded.insert(key, row),
            None => loaded.remove(&key),
        };
    }
    Ok(loaded)
}

/// The summary of the conversation under test after folding the whole log in one batch.
fn summary(log: &Log) -> ConversationSummary {
    let mut rows = rows_after(&log.events, HashMap::new()).expect("the log folds");
    rows.remove(&CONVERSATION).expect("the conversation has a row")
}

// Starting

#[test]
fn conversation_started_creates_an_open_row_with_no_messages() {
    let log = given_started();

    let changes = fold(&log.events, HashMap::new()).expect("fold");

    assert_eq!(
        changes,
        vec![(
            CONVERSATION,
            Some(ConversationSummary {
                group: None,
                attributes: Default::default(),
                conversation_id: CONVERSATION,
                workspace_id: WORKSPACE,
                inbox_id: INBOX,
                channel: ChannelType::Whatsapp,
                kind: ConversationKind::Direct,
                thread_key: CONTACT.to_owned(),
                display_name: Some("Ada Lovelace".to_owned()),
                contact_id: Some(CONTACT_ID),
                status: ConversationStatus::Open,
                snoozed_until: None,
                archived: false,
                assignee: None,
                team: None,
                labels: vec![],
                last_message: None,
                last_inbound_at: None,
                last_activity_at: t(0),
                created_at: t(0),
                message_count: 0,
                inbound_count: 0,
                version: 1,
                position: 10,
            })
        )]
    );
    assert_eq!(started_row().last_message_at(), t(0), "without messages the list sorts by creation time");
}

#[test]
fn each_conversation_gets_its_own_row_reported_in_the_order_first_changed() {
    let mut log = Log::default();
    log.append(OTHER_CONVERSATION, t(0), started(OTHER_CONVERSATION)).then(t(5), started(CONVERSATION)).append(
        OTHER_CONVERSATION,
        t(9),
        ConversationChange::Archived {},
    );

    let changes = fold(&log.events, HashMap::new()).expect("fold");

    let other = ConversationSummary {
        conversation_id: OTHER_CONVERSATION,
        archived: true,
        last_activity_at: t(9),
        version: 2,
        position: 30,
        ..started_row()
    };
    let this =
        ConversationSummary { last_activity_at: t(5), created_at: t(5), version: 1, position: 20, ..started_row() };
    assert_eq!(changes, vec![(OTHER_CONVERSATION, Some(other)), (CONVERSATION, Some(this))]);
}

#[test]
fn a_batch_loads_each_conversation_once_and_none_it_starts() {
    let mut log = given_started();
    log.then(t(10), inbound(M1, 1, t(10), "hi"))
        .append(OTHER_CONVERSATION, t(11), started(OTHER_CONVERSATION))
        .append(OTHER_CONVERSATION, t(12), inbound(M2, 1, t(12), "hello"))
        .then(t(13), sent(M3, 2, "hello"));

    // The first conversation started in an earlier batch; the other starts in this one, so the
    // store holds nothing for it.
    let batch = prepare(&InboxProjection, &log.events[1..]).expect("prepare");
    assert_eq!(batch.keys, vec![CONVERSATION]);

    // Folded with only the rows it loaded, it is what one batch of everything folds.
    let loaded = fold(&log.events[..1], HashMap::new()).expect("fold the start");
    let loaded = loaded.into_iter().filter_map(|(k, r)| Some((k, r?))).collect();
    let split = batch.apply(&InboxProjection, loaded).expect("fold");
    let whole = fold(&log.events, HashMap::new()).expect("fold");
    assert_eq!(split, whole);
}

// Messages

#[test]
fn an_inbound_message_becomes_the_last_message_at_the_contacts_time() {
    let mut log = given_started();
    log.then(t(60), inbound(M1, 1, t(50), "Hello,   is the shop\n open today?"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M1, 1, Direction::Inbound, "Hello, is the shop open today?", t(50)),
            last_inbound_at: Some(t(50)),
            last_activity_at: t(60),
            message_count: 1,
            inbound_count: 1,
            version: 2,
            position: 20,
            ..started_row()
        }
    );
    assert_eq!(summary(&log).last_message_at(), t(50));
}

#[test]
fn an_inbound_message_sent_after_it_was_received_moves_activity_to_the_contacts_time() {
    // The contact's clock runs ahead of the engine's.
    let mut log = given_started();
    log.then(t(60), inbound(M1, 1, t(90), "from the future"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M1, 1, Direction::Inbound, "from the future", t(90)),
            last_inbound_at: Some(t(90)),
            last_activity_at: t(90),
            message_count: 1,
            inbound_count: 1,
            version: 2,
            position: 20,
            ..started_row()
        }
    );
}

#[test]
fn an_outbound_message_becomes_the_last_message_at_the_engines_time() {
    let mut log = given_started();
    log.then(t(60), inbound(M1, 1, t(50), "Is the shop open?")).then(t(120), sent(M2, 2, "Yes, until 6pm."));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M2, 2, Direction::Outbound, "Yes, until 6pm.", t(120)),
            last_inbound_at: Some(t(50)),
            last_activity_at: t(120),
            message_count: 2,
            inbound_count: 1,
            version: 3,
            position: 30,
            ..started_row()
        }
    );
}

#[test]
fn a_backfilled_older_inbound_message_counts_but_does_not_replace_the_last_message() {
    let mut log = given_started();
    log.then(t(110), inbound(M1, 1, t(100), "newest")).then(t(200), inbound(M2, 2, t(20), "from last week"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M1, 1, Direction::Inbound, "newest", t(100)),
            last_inbound_at: Some(t(100)),
            last_activity_at: t(200),
            message_count: 2,
            inbound_count: 2,
            version: 3,
            position: 30,
            ..started_row()
        }
    );
}

#[test]
fn a_backfilled_inbound_message_older_than_the_last_reply_leaves_the_reply_last() {
    let mut log = given_started();
    log.then(t(300), sent(M1, 1, "We have news for you"))
        .then(t(400), inbound(M2, 2, t(250), "sent before your reply"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M1, 1, Direction::Outbound, "We have news for you", t(300)),
            last_inbound_at: Some(t(250)),
            last_activity_at: t(400),
            message_count: 2,
            inbound_count: 1,
            version: 3,
            position: 30,
            ..started_row()
        }
    );
}

#[test]
fn a_message_as_old_as_the_last_one_becomes_the_last_in_log_order() {
    // The contact's clock runs ahead: the reply is sent at the inbound message's own time.
    let mut log = given_started();
    log.then(t(20), inbound(M1, 1, t(30), "ping")).then(t(30), sent(M2, 2, "pong"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M2, 2, Direction::Outbound, "pong", t(30)),
            last_inbound_at: Some(t(30)),
            last_activity_at: t(30),
            message_count: 2,
            inbound_count: 1,
            version: 3,
            position: 30,
            ..started_row()
        }
    );
}

#[test]
fn a_media_message_is_previewed_by_its_caption() {
    let mut log = given_started();
    log.then(
        t(10),
        ConversationChange::InboundMessageReceived {
            mentions: vec![],
            message_id: M1,
            seq: 1,
            inbound_count: 1,
            channel_message_id: None,
            sent_at: t(10),
            content: MessageContent::Media {
                url: "https://media.example/1.jpg".to_owned(),
                mime_type: "image/jpeg".to_owned(),
                caption: Some("the broken part".to_owned()),
            },
            sender: None,
            sender_contact_id: None,
        },
    );

    assert_eq!(summary(&log).last_message, last(M1, 1, Direction::Inbound, "the broken part", t(10)));
}

#[test]
fn editing_the_last_message_updates_its_preview() {
    let mut log = given_started();
    log.then(t(10), inbound(M1, 1, t(10), "question"))
        .then(t(20), sent(M2, 2, "teh answer"))
        .then(t(30), edited(M2, "the answer"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M2, 2, Direction::Outbound, "the answer", t(20)),
            last_inbound_at: Some(t(10)),
            last_activity_at: t(30),
            message_count: 2,
            inbound_count: 1,
            version: 4,
            position: 40,
            ..started_row()
        }
    );
}

#[test]
fn editing_an_older_message_leaves_the_last_preview() {
    let mut log = given_started();
    log.then(t(10), sent(M1, 1, "frist")).then(t(20), sent(M2, 2, "second")).then(t(30), edited(M1, "first"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M2, 2, Direction::Outbound, "second", t(20)),
            last_activity_at: t(30),
            message_count: 2,
            version: 4,
            position: 40,
            ..started_row()
        }
    );
}

#[test]
fn deleting_the_last_message_blanks_its_preview_and_marks_it_deleted() {
    let mut log = given_started();
    log.then(t(10), inbound(M1, 1, t(10), "hi"))
        .then(t(20), sent(M2, 2, "oops, wrong chat"))
        .then(t(30), ConversationChange::MessageDeleted { message_id: M2 });

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: Some(LastMessage {
                message_id: M2,
                seq: 2,
                direction: Direction::Outbound,
                preview: String::new(),
                at: t(20),
                deleted: true,
            }),
            last_inbound_at: Some(t(10)),
            last_activity_at: t(30),
            message_count: 2,
            inbound_count: 1,
            version: 4,
            position: 40,
            ..started_row()
        }
    );
}

#[test]
fn deleting_an_older_message_leaves_the_last_message() {
    let mut log = given_started();
    log.then(t(10), sent(M1, 1, "first"))
        .then(t(20), sent(M2, 2, "second"))
        .then(t(30), ConversationChange::MessageDeleted { message_id: M1 });

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M2, 2, Direction::Outbound, "second", t(20)),
            last_activity_at: t(30),
            message_count: 2,
            version: 4,
            position: 40,
            ..started_row()
        }
    );
}

#[test]
fn a_newer_message_after_a_deleted_one_is_the_last_again() {
    let mut log = given_started();
    log.then(t(10), sent(M1, 1, "first"))
        .then(t(20), ConversationChange::MessageDeleted { message_id: M1 })
        .then(t(30), sent(M2, 2, "second"));

    assert_eq!(summary(&log).last_message, last(M2, 2, Direction::Outbound, "second", t(30)));
}

#[test]
fn delivery_reports_reactions_and_read_markers_move_the_version_and_only_reactions_are_activity() {
    let mut log = given_started();
    log.then(t(10), sent(M1, 1, "hello"))
        .then(
            t(20),
            ConversationChange::DeliveryStatusRecorded {
                message_id: M1,
                status: DeliveryStatus::Read,
                failure: None,
                reported_at: t(19),
            },
        )
        .then(t(30), ConversationChange::ReactionSet { message_id: M1, emoji: "👍".to_owned() })
        .then(t(40), ConversationChange::ReactionRemoved { message_id: M1 })
        .then(
            t(50),
            ConversationChange::ReadMarkerMoved { user_id: "ada".to_owned(), message_id: M1, seq: 1, inbound_read: 1 },
        );

    assert_eq!(
        summary(&log),
        ConversationSummary {
            last_message: last(M1, 1, Direction::Outbound, "hello", t(10)),
            last_activity_at: t(40),
            message_count: 1,
            version: 6,
            position: 60,
            ..started_row()
        }
    );
}

// Assignment, archive and status

#[test]
fn assigning_an_agent_and_a_team_sets_them_and_unassigning_clears_them() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::AgentAssigned { assignee: Assignee::agent("ada"), previous: None })
        .then(t(20), ConversationChange::TeamAssigned { team_id: "billing".to_owned(), previous: None });

    assert_eq!(
        summary(&log),
        ConversationSummary {
            assignee: Some("ada".to_owned()),
            team: Some("billing".to_owned()),
            last_activity_at: t(20),
            version: 3,
            position: 30,
            ..started_row()
        }
    );

    log.then(
        t(30),
        ConversationChange::AgentAssigned {
            assignee: Assignee::agent("grace"),
            previous: Some(Assignee::agent("ada")),
        },
    )
    .then(t(40), ConversationChange::TeamUnassigned { team_id: "billing".to_owned() });

    assert_eq!(
        summary(&log),
        ConversationSummary {
            assignee: Some("grace".to_owned()),
            team: None,
            last_activity_at: t(40),
            version: 5,
            position: 50,
            ..started_row()
        }
    );

    log.then(t(50), ConversationChange::AgentUnassigned { agent_id: "grace".to_owned() });

    assert_eq!(
        summary(&log),
        ConversationSummary { last_activity_at: t(50), version: 6, position: 60, ..started_row() }
    );
}

#[test]
fn archiving_and_unarchiving_toggle_archived() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::Archived {});

    assert_eq!(
        summary(&log),
        ConversationSummary { archived: true, last_activity_at: t(10), version: 2, position: 20, ..started_row() }
    );

    log.then(t(20), ConversationChange::Unarchived {});

    assert_eq!(
        summary(&log),
        ConversationSummary { archived: false, last_activity_at: t(20), version: 3, position: 30, ..started_row() }
    );
}

#[test]
fn a_status_change_sets_the_status_and_when_a_snooze_ends() {
    use ConversationStatus::*;
    let mut log = given_started();
    log.then(t(10), status(Open, Snoozed, Some(t(3600))));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            status: Snoozed,
            snoozed_until: Some(t(3600)),
            last_activity_at: t(10),
            version: 2,
            position: 20,
            ..started_row()
        }
    );

    log.then(t(20), status(Snoozed, Pending, None)).then(t(30), status(Pending, Closed, None));

    assert_eq!(
        summary(&log),
        ConversationSummary { status: Closed, last_activity_at: t(30), version: 4, position: 40, ..started_row() }
    );
}

#[test]
fn activity_never_moves_back_to_an_older_time() {
    let mut log = given_started();
    log.then(t(100), ConversationChange::Archived {}).then(t(50), ConversationChange::Unarchived {});

    assert_eq!(
        summary(&log),
        ConversationSummary { last_activity_at: t(100), version: 3, position: 30, ..started_row() }
    );
}

// Labels

fn label_added(label: &str) -> ConversationChange {
    ConversationChange::LabelAdded { label: label.to_owned() }
}

fn label_removed(label: &str) -> ConversationChange {
    ConversationChange::LabelRemoved { label: label.to_owned() }
}

#[test]
fn labels_are_kept_sorted_and_each_change_is_activity_like_a_team_assignment() {
    let mut log = given_started();
    log.then(t(10), label_added("vip")).then(t(20), label_added("billing")).then(t(30), label_added("urgent"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            labels: vec!["billing".to_owned(), "urgent".to_owned(), "vip".to_owned()],
            last_activity_at: t(30),
            version: 4,
            position: 40,
            ..started_row()
        }
    );

    log.then(t(40), label_removed("urgent")).then(t(50), label_added("a-first"));

    assert_eq!(
        summary(&log),
        ConversationSummary {
            labels: vec!["a-first".to_owned(), "billing".to_owned(), "vip".to_owned()],
            last_activity_at: t(50),
            version: 6,
            position: 60,
            ..started_row()
        }
    );

    log.then(t(60), label_removed("a-first")).then(t(70), label_removed("billing")).then(t(80), label_removed("vip"));

    assert_eq!(
        summary(&log),
        ConversationSummary { last_activity_at: t(80), version: 9, position: 90, ..started_row() }
    );
}

#[test]
fn labels_sort_byte_wise_and_a_repeated_change_changes_nothing_twice() {
    let mut log = given_started();
    // The aggregate writes neither (a label already on, one not on): a fold still stays sorted
    // and holds each label once.
    log.then(t(10), label_added("b"))
        .then(t(20), label_added("B-2"))
        .then(t(30), label_added("b"))
        .then(t(40), label_removed("zzz"));

    assert_eq!(summary(&log).labels, ["B-2", "b"]);
}

#[test]
fn a_row_stored_without_labels_reads_as_having_none() {
    let mut stored = serde_json::to_value(started_row()).expect("a row serializes");
    stored.as_object_mut().expect("an object").remove("labels");

    let row: ConversationSummary = serde_json::from_value(stored).expect("a row without labels decodes");

    assert_eq!(row, started_row());
}

/// The labels model's rows after folding `events` in batches of `batch`, rows carried over
/// between batches as the runner stores and reloads them.
fn label_rows_in(events: &[LogEvent], batch: usize) -> HashMap<(Uuid, String), LabelRow> {
    let mut stored = HashMap::new();
    for events in events.chunks(batch) {
        let prepared = prepare(&ConversationLabelsProjection, events).expect("decodes");
        let loaded = prepared.keys.iter().filter_map(|k| Some((k.clone(), stored.get(k).cloned()?))).collect();
        for (key, row) in prepared.apply(&ConversationLabelsProjection, loaded).expect("folds") {
            match row {
                Some(row) => stored.insert(key, row),
                None => stored.remove(&key),
            };
        }
    }
    stored
}

/// The label rows after folding the whole log, the same in one batch and one event at a time.
fn label_rows(log: &Log) -> HashMap<(Uuid, String), ConversationLabelView> {
    let whole = label_rows_in(&log.events, log.events.len().max(1));
    assert_eq!(whole, label_rows_in(&log.events, 1), "batch boundaries change nothing");
    whole
        .into_iter()
        .filter_map(|(key, row)| match row {
            LabelRow::Label(view) => Some((key, view)),
            LabelRow::Conversation(_) => None,
        })
        .collect()
}

/// A conversation's sort times as the inbox model folds them: what its label rows must carry.
fn inbox_times(log: &Log, conversation: Uuid) -> SortTimes {
    let row = rows_after(&log.events, HashMap::new()).expect("the log folds").remove(&conversation).expect("a row");
    SortTimes {
        created_at: row.created_at,
        last_message_at: row.last_message.map(|m| m.at),
        last_activity_at: row.last_activity_at,
    }
}

fn label_view(
    log: &Log,
    conversation_id: Uuid,
    label: &str,
    at: i64,
    position: i64,
) -> ((Uuid, String), ConversationLabelView) {
    let inbox =
        rows_after(&log.events, HashMap::new()).expect("the log folds").remove(&conversation_id).expect("a row");
    let row = ConversationLabelView {
        conversation_id,
        workspace_id: WORKSPACE,
        label: label.to_owned(),
        added_at: t(at),
        position,
        times: inbox_times(log, conversation_id),
        // Open as the inbox model sees it.
        open: inbox.status == ConversationStatus::Open && !inbox.archived,
    };
    ((conversation_id, label.to_owned()), row)
}

#[test]
fn a_label_row_says_whether_its_conversation_is_open_as_the_inbox_sees_it() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::LabelAdded { label: "vip".into() });
    assert!(label_rows(&log)[&(CONVERSATION, "vip".to_owned())].open);
    for (at, change) in [
        (11, ConversationChange::Archived {}),
        (12, ConversationChange::Unarchived {}),
        (
            13,
            ConversationChange::StatusChanged {
                from: ConversationStatus::Open,
                to: ConversationStatus::Pending,
                snoozed_until: None,
            },
        ),
        (
            14,
            ConversationChange::StatusChanged {
                from: ConversationStatus::Pending,
                to: ConversationStatus::Open,
                snoozed_until: None,
            },
        ),
    ] {
        log.then(t(at), change);
        let (key, expected) = label_view(&log, CONVERSATION, "vip", 10, 20);
        assert_eq!(label_rows(&log).get(&key), Some(&expected), "after the event at {at}");
    }
}

#[test]
fn an_added_label_has_a_row_with_the_conversations_workspace_and_sort_times() {
    let mut log = given_started();
    log.then(t(10), label_added("vip"));

    assert_eq!(label_rows(&log), HashMap::from([label_view(&log, CONVERSATION, "vip", 10, 20)]));
}

#[test]
fn a_removed_label_loses_its_row_and_one_put_on_again_gets_a_new_one() {
    let mut log = given_started();
    log.append(OTHER_CONVERSATION, t(1), started(OTHER_CONVERSATION))
        .then(t(10), label_added("vip"))
        .then(t(20), label_added("billing"))
        .append(OTHER_CONVERSATION, t(25), label_added("vip"))
        .then(t(30), label_removed("vip"));

    assert_eq!(
        label_rows(&log),
        HashMap::from([
            label_view(&log, CONVERSATION, "billing", 20, 40),
            label_view(&log, OTHER_CONVERSATION, "vip", 25, 50)
        ])
    );

    log.then(t(40), label_added("vip")).then(t(50), label_removed("billing"));

    assert_eq!(
        label_rows(&log),
        HashMap::from([
            label_view(&log, CONVERSATION, "vip", 40, 70),
            label_view(&log, OTHER_CONVERSATION, "vip", 25, 50)
        ]),
        "put on again, from then"
    );
}

#[test]
fn label_rows_follow_the_sort_times_of_a_busy_history_and_read_markers_move_none() {
    let mut log = busy_log();
    log.then(t(100), label_added("vip"))
        .then(t(110), label_added("billing"))
        .then(t(120), label_removed("vip"))
        .then(t(130), inbound(Uuid::from_u128(0x0a05), 5, t(129), "later"));
    // A receipt and a read marker after it move no sort time: the rows stay as they are.
    log.then(
        t(140),
        ConversationChange::ReadMarkerMoved { user_id: "ada".to_owned(), message_id: M1, seq: 1, inbound_read: 1 },
    );

    let rows = label_rows(&log);
    assert_eq!(rows, HashMap::from([label_view(&log, CONVERSATION, "billing", 110, 160)]));
    let times = rows[&(CONVERSATION, "billing".to_owned())].times;
    assert_eq!(
        (times.last_message_at, times.last_activity_at),
        (Some(t(129)), t(130)),
        "the latest message moved them"
    );
}

#[test]
fn a_label_on_a_conversation_that_never_started_stops_the_labels_fold() {
    let mut log = Log::default();
    log.then(t(10), label_added("vip"));

    let error = prepare(&ConversationLabelsProjection, &log.events)
        .expect("decodes")
        .apply(&ConversationLabelsProjection, HashMap::new())
        .expect_err("no conversation");

    assert_eq!(error.projection, "conversation_labels");
    assert!(error.reason.contains("before it started"), "{}", error.reason);
}

#[test]
fn an_undecodable_label_event_is_an_error_not_a_skip() {
    let mut log = given_started();
    log.then(t(10), label_added("vip"));
    log.events[1].payload = json!({"type": "LabelAdded", "occurred_at": "not a time"});
    let error = prepare(&ConversationLabelsProjection, &log.events).err().expect("an undecodable event");
    assert_eq!((error.projection, error.position), ("conversation_labels", 20));

    let mut log = given_started();
    log.then(t(10), label_added("vip"));
    log.events[1].aggregate_id = "not-a-uuid".to_owned();
    let error = prepare(&ConversationLabelsProjection, &log.events).err().expect("an unparsable id");
    assert!(error.reason.starts_with("conversation id not-a-uuid: "), "{}", error.reason);
}

// Failures and other aggregates

#[test]
fn events_of_a_conversation_that_never_started_fail_naming_the_position() {
    let mut log = given_started();
    log.append(OTHER_CONVERSATION, t(10), inbound(M1, 1, t(10), "who am I?")).then(t(20), sent(M2, 1, "hi"));

    let error = fold(&log.events, HashMap::new()).expect_err("a conversation without a start");

    assert_eq!(
        error,
        ProjectionError {
            projection: "inbox",
            position: 20,
            reason: format!("conversation {OTHER_CONVERSATION} has events before it started"),
        }
    );
    assert_eq!(
        error.to_string(),
        format!(
            "inbox cannot apply the event at position 20: conversation {OTHER_CONVERSATION} has events before it started"
        )
    );
}

#[test]
fn a_conversation_started_in_an_earlier_batch_but_not_loaded_fails() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::Archived {});

    let error = fold(&log.events[1..], HashMap::new()).expect_err("the started row was not loaded");

    assert_eq!(error.position, 20);
    assert_eq!(error.reason, format!("conversation {CONVERSATION} has events before it started"));
}

#[test]
fn an_event_with_an_unparsable_conversation_id_fails_naming_the_position() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::Archived {});
    log.events[1].aggregate_id = "not-a-uuid".to_owned();

    let batch = prepare(&InboxProjection, &log.events).expect("prepare");
    assert!(batch.keys.is_empty(), "neither a conversation started here nor an unparsable id is loaded");
    let error = batch.apply(&InboxProjection, HashMap::new()).expect_err("an unparsable id");

    assert_eq!((error.projection, error.position), ("inbox", 20));
    assert!(error.reason.starts_with("conversation id not-a-uuid: "), "{}", error.reason);
}

#[test]
fn an_undecodable_conversation_event_fails_naming_the_position() {
    let mut log = given_started();
    log.then(t(10), ConversationChange::Archived {});
    log.events[1].payload =
        json!({"type": "ConversationTeleported", "occurred_at": t(10), "actor": {"kind": "system", "id": "x"}});

    let error = prepare(&InboxProjection, &log.events).err().expect("an unknown event type");

    assert_eq!((error.projection, error.position), ("inbox", 20));
    assert!(error.reason.contains("ConversationTeleported"), "{}", error.reason);
}

#[test]
fn events_of_other_aggregates_are_ignored() {
    let mut log = given_started();
    let mut inbox_event = log.events[0].clone();
    inbox_event.position = 20;
    inbox_event.aggregate_type = "inbox".to_owned();
    inbox_event.aggregate_id = INBOX.to_string();
    inbox_event.payload = json!({"type": "InboxCreated", "anything": "goes"});
    log.events.push(inbox_event);

    let batch = prepare(&InboxProjection, &log.events[1..]).expect("prepare");
    assert!(batch.keys.is_empty());
    assert_eq!(batch.apply(&InboxProjection, HashMap::new()), Ok(vec![]));

    assert_eq!(summary(&log), started_row());
}

// Batches

/// A history of two conversations exercising every kind of change.
fn busy_log() -> Log {
    use ConversationStatus::*;
    let mut log = given_started();
    log.then(t(10), inbound(M1, 1, t(8), "hello"))
        .append(OTHER_CONVERSATION, t(12), started(OTHER_CONVERSATION))
        .then(t(20), ConversationChange::AgentAssigned { assignee: Assignee::agent("ada"), previous: None })
        .then(t(30), sent(M2, 2, "hi, how can I help?"))
        .append(OTHER_CONVERSATION, t(31), inbound(M3, 1, t(31), "anyone?"))
        .then(t(40), edited(M2, "Hi! How can I help?"))
        .then(t(50), inbound(M4, 3, t(5), "backfilled"))
        .then(t(60), ConversationChange::TeamAssigned { team_id: "support".to_owned(), previous: None })
        .append(OTHER_CONVERSATION, t(61), ConversationChange::Archived {})
        .then(t(70), status(Open, Snoozed, Some(t(7200))))
        .then(t(80), ConversationChange::MessageDeleted { message_id: M2 })
        .append(OTHER_CONVERSATION, t(81), status(Open, Closed, None))
        .then(
            t(90),
            ConversationChange::ReadMarkerMoved { user_id: "ada".to_owned(), message_id: M1, seq: 1, inbound_read: 1 },
        );
    log
}

#[test]
fn folding_a_busy_history_gives_the_expected_rows() {
    let rows = rows_after(&busy_log().events, HashMap::new()).expect("fold");

    let this = ConversationSummary {
        status: ConversationStatus::Snoozed,
        snoozed_until: Some(t(7200)),
        assignee: Some("ada".to_owned()),
        team: Some("support".to_owned()),
        last_message: Some(LastMessage {
            message_id: M2,
            seq: 2,
            direction: Direction::Outbound,
            preview: String::new(),
            at: t(30),
            deleted: true,
        }),
        last_inbound_at: Some(t(8)),
        last_activity_at: t(80), // the read marker at t(90) is not activity
        message_count: 3,
        inbound_count: 2,
        version: 10,
        position: 140,
        ..started_row()
    };
    let other = ConversationSummary {
        conversation_id: OTHER_CONVERSATION,
        status: ConversationStatus::Closed,
        archived: true,
        last_message: last(M3, 1, Direction::Inbound, "anyone?", t(31)),
        last_inbound_at: Some(t(31)),
        last_activity_at: t(81),
        created_at: t(12),
        message_count: 1,
        inbound_count: 1,
        version: 4,
        position: 130,
        ..started_row()
    };
    assert_eq!(rows, HashMap::from([(CONVERSATION, this), (OTHER_CONVERSATION, other)]));
}

#[test]
fn folding_in_two_batches_gives_the_same_rows_as_one_batch() {
    let log = busy_log();
    let whole = rows_after(&log.events, HashMap::new()).expect("one batch");

    for split in 0..=log.events.len() {
        let (first, second) = log.events.split_at(split);
        let after_first = rows_after(first, HashMap::new()).expect("first batch");
        let after_second = rows_after(second, after_first).expect("second batch");
        assert_eq!(after_second, whole, "split after {split} events");
    }
}

#[test]
fn a_second_batch_reports_only_the_conversations_it_changed() {
    let log = busy_log();
    let (first, second) = log.events.split_at(13);
    let loaded = rows_after(first, HashMap::new()).expect("first batch");

    let changes = fold(second, loaded).expect("second batch");

    let keys: Vec<Uuid> = changes.iter().map(|(key, _)| *key).collect();
    assert_eq!(keys, vec![CONVERSATION]);
}

// preview

#[test]
fn preview_collapses_whitespace() {
    assert_eq!(preview(&text("  Hello\n\n  world \t again  ")), "Hello world again");
    assert_eq!(preview(&text(" \n\t ")), "");
}

#[test]
fn preview_keeps_a_text_of_exactly_the_limit() {
    let body = "a".repeat(PREVIEW_CHARS);

    assert_eq!(preview(&text(&body)), body);
}

#[test]
fn preview_truncates_a_longer_text_with_an_ellipsis() {
    let body = "a".repeat(PREVIEW_CHARS + 1);

    assert_eq!(preview(&text(&body)), format!("{}…", "a".repeat(PREVIEW_CHARS)));
}

#[test]
fn preview_counts_characters_not_bytes() {
    let body = "é".repeat(PREVIEW_CHARS);
    assert_eq!(preview(&text(&body)), body);

    let body = "😀".repeat(PREVIEW_CHARS + 5);
    let shown = preview(&text(&body));
    assert_eq!(shown, format!("{}…", "😀".repeat(PREVIEW_CHARS)));
    assert_eq!(shown.chars().count(), PREVIEW_CHARS + 1);
}

#[test]
fn preview_counts_characters_after_collapsing_whitespace() {
    let words = "ab     ".repeat(PREVIEW_CHARS / 3);
    let collapsed = "ab ".repeat(PREVIEW_CHARS / 3);

    assert_eq!(preview(&text(&words)), collapsed.trim_end());
}

fn media(mime_type: &str, caption: Option<&str>) -> MessageContent {
    MessageContent::Media {
        url: "https://media.example/file".to_owned(),
        mime_type: mime_type.to_owned(),
        caption: caption.map(str::to_owned),
    }
}

#[test]
fn preview_of_media_is_its_caption_else_its_kind_from_the_mime_type() {
    assert_eq!(preview(&media("image/png", Some("  our   new logo "))), "our new logo");
    assert_eq!(preview(&media("image/png", None)), "[image]");
    assert_eq!(preview(&media("image/png", Some(" \n "))), "[image]");
    assert_eq!(preview(&media("video/mp4", None)), "[video]");
    assert_eq!(preview(&media("application/pdf", None)), "[application]");
    assert_eq!(preview(&media("audio", None)), "[audio]");
}

#[test]
fn preview_of_a_long_caption_is_truncated() {
    let caption = "c".repeat(PREVIEW_CHARS * 2);

    assert_eq!(preview(&media("image/png", Some(&caption))), format!("{}…", "c".repeat(PREVIEW_CHARS)));
}

#[test]
fn preview_of_a_template_names_it() {
    let content = MessageContent::Template {
        name: "order_shipped".to_owned(),
        language: "en".to_owned(),
        parameters: vec!["#1234".to_owned()],
    };

    assert_eq!(preview(&content), "[template: order_shipped]");
}

#[test]
fn preview_of_an_interactive_message_is_its_body() {
    let option = |id: &str, title: &str| InteractiveOption { id: id.to_owned(), title: title.to_owned() };
    let content = MessageContent::Interactive {
        body: "Was this   helpful?".to_owned(),
        buttons: vec![option("yes", "Yes"), option("no", "No")],
        list: vec![],
    };

    assert_eq!(preview(&content), "Was this helpful?");
}
