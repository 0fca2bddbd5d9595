//! The inboxes fold, given hand-built logs: creation, deletion and the default team, each log
//! folded in one batch and one event at a time (rows carried over as the runner stores and
//! reloads them), which must agree.

use std::collections::HashMap;

use chrono::Duration;
use convo_domain::Actor;
use convo_projection::prepare;
use serde_json::json;

use super::*;

const WS: Uuid = Uuid::from_u128(0x0197_0000_0000_7000_8000_0000_0000_0001);
const INBOX: Uuid = Uuid::from_u128(0x1001);
const BILLING: Uuid = Uuid::from_u128(0x7001);
const SUPPORT: Uuid = Uuid::from_u128(0x7002);

/// `seconds` after 2026-01-01T00:00:00Z.
fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid time") + Duration::seconds(seconds)
}

/// A log of [`INBOX`]'s events; positions 10, 20, …
#[derive(Default)]
struct Log {
    events: Vec<LogEvent>,
}

impl Log {
    fn push(&mut self, at: i64, change: InboxChange) -> &mut Self {
        let event = InboxEvent { occurred_at: t(at), actor: Actor::agent("admin"), change };
        let payload = serde_json::to_value(&event).expect("an event serializes");
        let event_type = payload["type"].as_str().expect("a type").to_owned();
        let sequence = self.events.len() as i64 + 1;
        self.events.push(LogEvent {
            position: 10 * sequence,
            workspace_id: Some(WS.to_string()),
            aggregate_type: "inbox".into(),
            aggregate_id: INBOX.to_string(),
            sequence,
            event_version: convo_domain::versions::current_version(&event_type).into(),
            event_type,
            payload,
            metadata: json!({}),
            recorded_at: t(at),
            decoded: Default::default(),
        });
        self
    }

    fn created(&mut self, at: i64) -> &mut Self {
        let change = InboxChange::Created {
            inbox_id: INBOX,
            workspace_id: WS,
            name: "Support".into(),
            channel: ChannelType::Sms,
            policy: None,
        };
        self.push(at, change)
    }
}

fn fold_in(events: &[LogEvent], batch: usize) -> HashMap<Uuid, InboxView> {
    let mut stored = HashMap::new();
    for events in events.chunks(batch) {
        let prepared = prepare(&InboxesProjection, events).expect("decodes");
        let loaded = prepared.keys.iter().filter_map(|k| Some((*k, stored.get(k).cloned()?))).collect();
        for (key, row) in prepared.apply(&InboxesProjection, loaded).expect("folds") {
            match row {
                Some(row) => stored.insert(key, row),
                None => stored.remove(&key),
            };
        }
    }
    stored
}

/// [`INBOX`]'s row after the whole log, the same in one batch and one event at a time.
fn inbox(log: &Log) -> InboxView {
    let whole = fold_in(&log.events, log.events.len().max(1));
    assert_eq!(whole, fold_in(&log.events, 1), "batch boundaries change nothing");
    whole.get(&INBOX).cloned().expect("the inbox's row")
}

#[test]
fn a_created_inbox_has_its_channels_policy_and_no_team() {
    let mut log = Log::default();
    log.created(5);
    assert_eq!(
        inbox(&log),
        InboxView {
            inbox_id: INBOX,
            workspace_id: WS,
            name: "Support".into(),
            channel: ChannelType::Sms,
            policy: ChannelType::Sms.default_policy(),
            policy_overridden: false,
            team_id: None,
            created_at: t(5),
            deleted_at: None,
            version: 1,
            position: 10,
        }
    );
}

#[test]
fn a_deleted_inbox_keeps_its_first_deletion_time() {
    let mut log = Log::default();
    log.created(0).push(3, InboxChange::Deleted {}).push(4, InboxChange::Deleted {});
    let row = inbox(&log);
    assert_eq!((row.deleted_at, row.version, row.position), (Some(t(3)), 3, 30));
}

#[test]
fn the_default_team_is_set_replaced_and_cleared() {
    let mut log = Log::default();
    log.created(0).push(1, InboxChange::TeamSet { team_id: BILLING });
    let row = inbox(&log);
    assert_eq!((row.team_id, row.version, row.position), (Some(BILLING), 2, 20));
    log.push(2, InboxChange::TeamSet { team_id: SUPPORT });
    assert_eq!(inbox(&log).team_id, Some(SUPPORT), "a new team replaces the old");
    log.push(3, InboxChange::TeamCleared { team_id: SUPPORT });
    let row = inbox(&log);
    assert_eq!((row.team_id, row.version, row.position, row.created_at), (None, 4, 40, t(0)));
}

#[test]
fn a_row_stored_before_teams_reads_as_without_one() {
    let mut log = Log::default();
    log.created(0);
    let mut stored = serde_json::to_value(inbox(&log)).expect("a row serializes");
    stored.as_object_mut().expect("an object").remove("team_id");
    let row: InboxView = serde_json::from_value(stored).expect("an older row decodes");
    assert_eq!(row.team_id, None);
}

#[test]
fn a_team_change_before_the_inbox_was_created_stops_the_fold() {
    let mut log = Log::default();
    log.push(0, InboxChange::TeamSet { team_id: BILLING });
    let prepared = prepare(&InboxesProjection, &log.events).expect("decodes");
    let error = prepared.apply(&InboxesProjection, HashMap::new()).expect_err("cannot fold");
    assert_eq!((error.projection, error.position), ("inboxes", 10));
}
