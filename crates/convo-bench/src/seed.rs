//! Logs written straight into the `events` table, fast, in the shape of
//! tests/fixtures/seed_1m_events.sql: per conversation a `ConversationStarted`, then inbound
//! messages (valid for every read model), with the workspace in the metadata like the engine
//! writes it.

use anyhow::Context;
use sqlx::PgPool;

/// Conversations `md5(prefix || c)` for c in `range`, each of `events` events, in `inbox` of
/// `workspace`; message times one minute apart per conversation, so sorts have something to do.
pub struct Conversations<'a> {
    pub prefix: &'a str,
    pub workspace: &'a str,
    pub inbox: &'a str,
    pub count: u32,
    pub events: u32,
}

/// Conversations per INSERT statement (its own transaction).
const PER_STATEMENT: u32 = 5_000;

impl Conversations<'_> {
    /// Appends the log; how many events.
    pub async fn append(&self, pool: &PgPool) -> anyhow::Result<u64> {
        let mut appended = 0;
        let mut from = 0;
        while from < self.count {
            let to = (from + PER_STATEMENT).min(self.count) - 1;
            let done = sqlx::query(
                "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
                 SELECT 'conversation', md5($1 || c)::uuid::text, k,
                        CASE WHEN k = 1 THEN 'ConversationStarted' ELSE 'InboundMessageReceived' END, '1.0.0',
                        CASE WHEN k = 1 THEN jsonb_build_object(
                                 'type', 'ConversationStarted', 'occurred_at', t,
                                 'actor', jsonb_build_object('kind', 'contact', 'id', '+99' || c),
                                 'conversation_id', md5($1 || c)::uuid, 'workspace_id', $2::text, 'inbox_id', $3::text,
                                 'channel', 'sms', 'kind', 'direct', 'thread_key', '+99' || c)
                             ELSE jsonb_build_object(
                                 'type', 'InboundMessageReceived', 'occurred_at', t,
                                 'actor', jsonb_build_object('kind', 'contact', 'id', '+99' || c),
                                 'message_id', md5($1 || 'm' || c || '.' || k)::uuid, 'seq', k - 1,
                                 'inbound_count', k - 1, 'sent_at', t,
                                 'content', jsonb_build_object('type', 'text', 'body', 'hello'))
                        END,
                        jsonb_build_object('workspace_id', $2::text)
                   FROM generate_series($4::int, $5::int) AS c, generate_series(1, $6::int) AS k,
                        LATERAL (SELECT to_char((timestamptz '2026-01-01 00:00:00+00' + make_interval(mins => c, secs => k))
                                                AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t) AS at
                  ORDER BY c, k",
            )
            .bind(self.prefix)
            .bind(self.workspace)
            .bind(self.inbox)
            .bind(from as i32)
            .bind(to as i32)
            .bind(self.events as i32)
            .execute(pool)
            .await
            .context("appending generated conversations")?;
            appended += done.rows_affected();
            from = to + 1;
        }
        Ok(appended)
    }
}
