//! The fan-out: a follower of the log that turns each event into one pending delivery per
//! enabled endpoint whose filter matches it, written in the transaction that moves its
//! checkpoint. A crash, a restart or a takeover resumes from that checkpoint, so every match
//! becomes a delivery exactly once (the deliveries' key is (endpoint, position)).

use std::sync::Arc;

use convo_store::{
    Backend, Checkpoint, Durability, EventLog, Fence, FollowError, Follower, Handled, LogEvent, SqlStore, SqlValue,
    Start, StoreError,
};

use crate::Endpoint;

/// The fan-out's checkpoint and lease name.
pub const NAME: &str = "webhooks";

pub struct Fanout<B: Backend> {
    sql: B::Sql,
    log: EventLog<B>,
    checkpoint: Checkpoint<B::Sql>,
    /// Each conversation's inbox, as its first event says (for endpoints filtered by inbox).
    inboxes: lru::LruCache<String, Option<String>>,
}

impl<B: Backend> Fanout<B> {
    pub fn new(backend: &B, log: EventLog<B>) -> Self {
        Self {
            sql: backend.sql(),
            log,
            checkpoint: Checkpoint::new(backend.sql(), NAME),
            inboxes: lru::LruCache::new(std::num::NonZeroUsize::new(100_000).expect("non-zero")),
        }
    }
}

/// The inbox `event` belongs to: an inbox's own events, or a conversation's (from its first
/// event, read once and kept in `known`), or none.
pub(crate) async fn inbox_of<B: Backend>(
    log: &EventLog<B>,
    event: &LogEvent,
    known: &mut impl Known,
) -> Result<Option<String>, StoreError> {
    if event.aggregate_type == "inbox" {
        return Ok(Some(event.aggregate_id.clone()));
    }
    if let Some(inbox) = event.payload.get("inbox_id").and_then(|v| v.as_str()) {
        return Ok(Some(inbox.to_owned()));
    }
    if let Some(inbox) = known.inbox(&event.aggregate_id) {
        return Ok(inbox);
    }
    let first = log.read_aggregate(&event.aggregate_type, &event.aggregate_id, 0, 1).await?;
    let inbox = first.first().and_then(|e| e.payload.get("inbox_id")).and_then(|v| v.as_str()).map(str::to_owned);
    known.remember(&event.aggregate_id, inbox.clone());
    Ok(inbox)
}

/// Conversations whose inbox is known.
pub(crate) trait Known {
    fn inbox(&mut self, aggregate_id: &str) -> Option<Option<String>>;
    fn remember(&mut self, aggregate_id: &str, inbox: Option<String>);
}

impl Known for lru::LruCache<String, Option<String>> {
    fn inbox(&mut self, aggregate_id: &str) -> Option<Option<String>> {
        self.get(aggregate_id).cloned()
    }
    fn remember(&mut self, aggregate_id: &str, inbox: Option<String>) {
        self.put(aggregate_id.to_owned(), inbox);
    }
}

impl Known for std::collections::HashMap<String, Option<String>> {
    fn inbox(&mut self, aggregate_id: &str) -> Option<Option<String>> {
        self.get(aggregate_id).cloned()
    }
    fn remember(&mut self, aggregate_id: &str, inbox: Option<String>) {
        self.insert(aggregate_id.to_owned(), inbox);
    }
}

/// The ordering key of an event's deliveries: its aggregate.
pub(crate) fn stream(event: &LogEvent) -> String {
    format!("{}:{}", event.aggregate_type, event.aggregate_id)
}

/// Pending deliveries written per statement (six values each: within both backends' limits).
const ROWS_PER_INSERT: usize = 1000;

/// The statements writing a pending delivery of each (endpoint, event) of `deliveries`, a
/// thousand rows to a statement.
fn insert_deliveries<S: SqlStore>(
    sql: &S,
    deliveries: &[(&Endpoint, &LogEvent)],
    now_ms: i64,
) -> Vec<convo_store::Statement> {
    let insert =
        "INSERT INTO webhook_deliveries (endpoint_id, position, stream, status, attempts, next_attempt_ms) VALUES";
    deliveries
        .chunks(ROWS_PER_INSERT)
        .map(|chunk| {
            let mut values = Vec::with_capacity(chunk.len() * 6);
            for (endpoint, event) in chunk {
                values.extend([
                    SqlValue::Text(endpoint.endpoint_id.to_string()),
                    SqlValue::Int(event.position),
                    SqlValue::Text(stream(event)),
                    SqlValue::Text("pending".to_owned()),
                    SqlValue::Int(0),
                    SqlValue::Int(now_ms),
                ]);
            }
            let rows = sql.tuples(chunk.len(), 6);
            (format!("{insert} {rows} ON CONFLICT (endpoint_id, position) DO NOTHING"), values)
        })
        .collect()
}

impl<B: Backend> Follower for Fanout<B> {
    async fn start(&mut self, fence: Option<Fence>) -> Result<Start, FollowError> {
        self.checkpoint.fence(fence);
        Ok(Start::at(self.checkpoint.read().await?))
    }

    async fn handle(&mut self, events: &[Arc<LogEvent>], progress: Start) -> Result<Handled, FollowError> {
        // Read for every batch: an endpoint created before an event was appended is seen by
        // the batch that holds the event. No secret is needed here: a node that cannot open
        // them still fans out, and the deliveries wait for a sender that can.
        let endpoints = crate::endpoints::enabled_endpoints(&self.sql).await?;
        if endpoints.is_empty() {
            return Ok(Handled::Held);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let filtered = endpoints.iter().any(|e| e.inbox_id.is_some());
        let mut deliveries = Vec::new();
        for event in events {
            let inbox = if filtered { inbox_of(&self.log, event, &mut self.inboxes).await? } else { None };
            for endpoint in &endpoints {
                if endpoint.matches(event, inbox.as_deref()) {
                    deliveries.push((endpoint, &**event));
                }
            }
        }
        if deliveries.is_empty() {
            return Ok(Handled::Held);
        }
        let last = events.last().map_or(progress.handled, |e| e.position);
        let created = deliveries.len() as u64;
        let statements = insert_deliveries(&self.sql, &deliveries, now_ms);
        let guard = self.checkpoint.guard(progress.stored, last);
        self.sql.guarded_transaction(guard, statements, Durability::Flushed).await?;
        metrics::counter!("convo_webhook_deliveries_created_total").increment(created);
        Ok(Handled::Stored)
    }

    async fn store(&mut self, from: i64, to: i64) -> Result<(), FollowError> {
        Ok(self.checkpoint.advance(from, to).await?)
    }
}
