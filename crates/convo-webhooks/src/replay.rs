//! Replays: events of the log delivered to an endpoint again, on a receiver's request. Each
//! becomes a pending delivery, due now, whose attempts are marked `replay` and start over; one
//! still pending is made so too, and if its attempt is under way (even sent, not yet
//! recorded) the replay is sent after it (`replays`: that attempt's record then leaves the
//! delivery pending). Replayed deliveries keep each conversation's order with the others.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use convo_store::{Backend, Durability, EventLog, LogEvent, LogFilter, SqlStore, SqlValue, StoreError};

use crate::{Endpoint, Webhooks};

/// Which events to deliver again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// The event at this position.
    One(i64),
    /// Every event after this position.
    SincePosition(i64),
    /// Every event recorded at or after this time.
    Since(DateTime<Utc>),
}

/// Events read per page.
const PAGE: usize = 1000;

/// Makes the events `replay` names pending again for `endpoint`: those of its workspace that
/// its filter (event types, inbox) takes, whether or not it existed then. How many; `None` when
/// `Replay::One` names no event of the workspace.
pub async fn replay<B: Backend>(
    webhooks: &Webhooks<B::Sql>,
    log: &EventLog<B>,
    endpoint: &Endpoint,
    replay: Replay,
) -> Result<Option<u64>, StoreError> {
    let workspace = endpoint.workspace_id.to_string();
    let mut filter = LogFilter { workspace: Some(workspace.clone()), ..LogFilter::default() };
    // Everything committed up to the log's head now, also transactions still in flight below
    // it (a read stops short of those): a replay takes all there is.
    let head = log.head().await?;
    log.settle(head).await?;
    let mut after = match replay {
        Replay::One(position) if position > head => return Ok(None),
        Replay::One(position) => {
            let event = log.read(position - 1, 1).await?.into_iter().find(|e| e.position == position);
            let Some(event) = event.filter(|e| e.workspace_id.as_deref() == Some(workspace.as_str())) else {
                return Ok(None);
            };
            return again(webhooks, log, endpoint, &[event], &mut HashMap::new()).await.map(Some);
        }
        Replay::SincePosition(position) => position,
        Replay::Since(time) => {
            filter.since = Some(time);
            0
        }
    };
    let (mut replayed, mut inboxes) = (0, HashMap::new());
    loop {
        let page = log.read_filtered(after, PAGE, &filter).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        replayed += again(webhooks, log, endpoint, &page, &mut inboxes).await?;
        if page.len() < PAGE {
            break;
        }
    }
    Ok(Some(replayed))
}

/// The events of `events` that `endpoint`'s filter takes, made pending as replays, in one
/// transaction that holds only while the endpoint exists.
async fn again<B: Backend>(
    webhooks: &Webhooks<B::Sql>,
    log: &EventLog<B>,
    endpoint: &Endpoint,
    events: &[LogEvent],
    inboxes: &mut HashMap<String, Option<String>>,
) -> Result<u64, StoreError> {
    let sql = webhooks.sql();
    let now_ms = Utc::now().timestamp_millis();
    let upsert = sql.sql(
        "INSERT INTO webhook_deliveries (endpoint_id, position, stream, status, attempts, next_attempt_ms, trigger)
         VALUES ({1}, {2}, {3}, 'pending', 0, {4}, 'replay')
         ON CONFLICT (endpoint_id, position) DO UPDATE SET status = 'pending', attempts = 0,
             next_attempt_ms = {4}, trigger = 'replay', replays = webhook_deliveries.replays + 1",
    );
    let mut statements = Vec::new();
    for event in events {
        let inbox = match endpoint.inbox_id {
            Some(_) => crate::fanout::inbox_of(log, event, inboxes).await?,
            None => None,
        };
        let wanted = Endpoint { enabled: true, after_position: 0, ..endpoint.clone() };
        if wanted.matches(event, inbox.as_deref()) {
            let values = vec![
                SqlValue::Text(endpoint.endpoint_id.to_string()),
                SqlValue::Int(event.position),
                SqlValue::Text(crate::fanout::stream(event)),
                SqlValue::Int(now_ms),
            ];
            statements.push((upsert.clone(), values));
        }
    }
    let replayed = statements.len() as u64;
    if replayed > 0 {
        let exists = sql.sql("UPDATE webhook_endpoints SET secret = secret WHERE endpoint_id = {1}");
        let guard = (exists, vec![SqlValue::Text(endpoint.endpoint_id.to_string())]);
        sql.guarded_transaction(guard, statements, Durability::Flushed).await?;
    }
    Ok(replayed)
}
