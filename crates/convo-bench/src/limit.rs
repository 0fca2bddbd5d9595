//! The limit: single-row INSERT transactions into the real `events` table (our migrations, so
//! the primary key, the position function and the indexes all cost what they cost the engine),
//! one connection per client, for a fixed time.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::Connection;
use uuid::Uuid;

use crate::stats::Latencies;

#[derive(Debug)]
pub struct LimitResult {
    pub transactions: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// CPU the level cost (no server: PostgreSQL and the clients).
    pub cpu: crate::cpu::Used,
}

impl LimitResult {
    pub fn per_second(&self) -> f64 {
        self.transactions as f64 / self.elapsed.as_secs_f64()
    }
}

/// One measurement per entry of `clients`, in that order, on the migrated database at `url`.
pub async fn run(url: &str, clients: &[usize], duration: Duration) -> anyhow::Result<Vec<LimitResult>> {
    let pool = convo_store_postgres::connect(url, 1).await.context("connecting to the limit's database")?;
    convo_store_postgres::migrate(&pool).await.context("migrating the limit's database")?;
    pool.close().await;
    let mut results = Vec::with_capacity(clients.len());
    for &n in clients {
        let result = level(url, n, duration).await?;
        eprintln!("limit   {n:>3} clients: {:>8.0} tx/s", result.per_second());
        results.push(result);
    }
    Ok(results)
}

async fn level(url: &str, clients: usize, duration: Duration) -> anyhow::Result<LimitResult> {
    let mut connections = Vec::with_capacity(clients);
    for _ in 0..clients {
        connections.push(sqlx::PgConnection::connect(url).await.context("connecting a limit client")?);
    }
    let before = crate::cpu::Snapshot::take(&[]);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = connections.drain(..).map(|conn| tokio::spawn(client(conn, deadline))).collect();
    let mut result = LimitResult {
        transactions: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Latencies::default(),
        cpu: crate::cpu::Used::default(),
    };
    for task in futures::future::join_all(tasks).await {
        let (latencies, errors, connection) = task.context("a limit client panicked")?;
        // Closed after the CPU is read: a PostgreSQL process that ended is not counted.
        connections.push(connection);
        result.transactions += latencies.count();
        result.errors += errors;
        result.latencies.extend(latencies);
    }
    result.elapsed = start.elapsed();
    result.cpu = crate::cpu::Snapshot::take(&[]).since(&before);
    for connection in connections {
        let _ = connection.close().await;
    }
    Ok(result)
}

/// Inserts one event per transaction (autocommit) until `deadline`, like postgres-es appends one
/// event of one aggregate: a conversation's next sequence number.
async fn client(mut conn: sqlx::PgConnection, deadline: Instant) -> (Latencies, usize, sqlx::PgConnection) {
    let workspace = Uuid::now_v7().to_string();
    let conversation = Uuid::now_v7().to_string();
    let metadata = serde_json::json!({ "workspace_id": workspace, "command": "send_message" });
    let (mut latencies, mut errors) = (Latencies::default(), 0);
    let mut sequence: i64 = 0;
    while Instant::now() < deadline {
        sequence += 1;
        let payload = serde_json::json!({ "MessageSent": {
            "message_id": Uuid::now_v7(),
            "content": { "type": "text", "body": "a benchmark message of an ordinary length" },
            "seq": sequence,
            "occurred_at": chrono::Utc::now(),
            "actor": { "kind": "agent", "id": "bench" },
        }});
        let began = Instant::now();
        let inserted = sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
             VALUES ('conversation', $1, $2, 'MessageSent', '1.0.0', $3, $4)",
        )
        .bind(&conversation)
        .bind(sequence)
        .bind(&payload)
        .bind(&metadata)
        .execute(&mut conn)
        .await;
        match inserted {
            Ok(_) => latencies.push(began.elapsed()),
            Err(e) => {
                errors += 1;
                if errors == 1 {
                    eprintln!("limit insert failed: {e}");
                }
            }
        }
    }
    (latencies, errors, conn)
}
