//! Queries with many conversations loaded: conversations appended straight into the log (in the
//! benchmark's workspace and inbox), folded by the server's own read-model runners, then the
//! inbox list, the unread summary and the window over HTTP, one request at a time.

use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use crate::engine::Target;
use crate::seed::Conversations;
use crate::server::{Server, caught_up};
use crate::stats::Latencies;

/// The user whose unread messages are asked about (nobody has read anything: every
/// conversation counts, the heaviest summary).
const USER: &str = "bench-agent";

#[derive(Debug)]
pub struct QueriesResult {
    pub conversations: u64,
    pub events: u64,
    /// Appending the generated log, and the server's read models folding it.
    pub append: Duration,
    pub catch_up: Duration,
    /// Per query: what was asked, and its latencies.
    pub queries: Vec<(String, Latencies)>,
}

pub async fn run(
    target: &Target,
    pool: &PgPool,
    server: &mut Server,
    conversations: u32,
    samples: usize,
) -> anyhow::Result<QueriesResult> {
    let started = Instant::now();
    let prefix = format!("q{:08x}.", fastrand::u32(..));
    let workspace = target.workspace_id.to_string();
    let log = Conversations {
        prefix: &prefix,
        workspace: &workspace,
        inbox: &target.inbox_id,
        count: conversations,
        events: 2,
    };
    let events = log.append(pool).await?;
    let append = started.elapsed();
    eprintln!("queries: appended {conversations} conversations ({events} events) in {append:.1?}; folding");
    let catch_up = caught_up(pool, std::slice::from_mut(server), Duration::from_secs(600)).await?;
    sqlx::query("ANALYZE").execute(pool).await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM rm_inbox WHERE workspace_id = $1")
        .bind(&workspace)
        .fetch_one(pool)
        .await?;
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT conversation_id FROM rm_inbox WHERE workspace_id = $1 ORDER BY random() LIMIT $2")
            .bind(&workspace)
            .bind(samples as i64)
            .fetch_all(pool)
            .await?;
    let ids: Vec<Uuid> = ids.iter().map(|i| i.parse()).collect::<Result<_, _>>().context("a conversation id")?;
    anyhow::ensure!(!ids.is_empty(), "no conversation in the inbox read model");

    let inbox = &target.inbox_id;
    let list = "/v1/conversations".to_owned();
    let filtered = format!("/v1/conversations?inbox_id={inbox}&unread_only=true&user_id={USER}&limit=50");
    let summary = format!("/v1/users/{USER}/unread-summary");
    // What a user would notice first: the inbox shows a full page, the summary counts them all.
    let page = target.get(&list).await?;
    anyhow::ensure!(page["items"].as_array().is_some_and(|i| i.len() == 25), "the inbox list has no full page: {page}");
    let unread = target.get(&summary).await?;
    anyhow::ensure!(
        unread["conversations"].as_i64().is_some_and(|n| n >= i64::from(conversations)),
        "the unread summary misses conversations: {unread}"
    );

    let mut queries = Vec::new();
    for (name, paths) in [
        ("GET /v1/conversations (inbox list, default sort)", vec![list]),
        ("GET /v1/conversations?inbox_id=…&unread_only=true&user_id=…&limit=50", vec![filtered]),
        ("GET /v1/users/{user}/unread-summary", vec![summary]),
        (
            "GET /v1/conversations/{id}/window?actor=AGENT (random conversation)",
            ids.iter().map(|id| format!("/v1/conversations/{id}/window?actor=AGENT")).collect(),
        ),
    ] {
        let latencies = measure(target, &paths, samples).await?;
        eprintln!(
            "queries {name}: p50 {:.2} ms, p99 {:.2} ms",
            latencies.percentile_ms(50.0),
            latencies.percentile_ms(99.0)
        );
        queries.push((name.to_owned(), latencies));
    }
    Ok(QueriesResult { conversations: total as u64, events, append, catch_up, queries })
}

/// `samples` requests, one at a time, cycling through `paths`, after a few unmeasured ones.
async fn measure(target: &Target, paths: &[String], samples: usize) -> anyhow::Result<Latencies> {
    for path in paths.iter().cycle().take(5) {
        target.get(path).await?;
    }
    let mut latencies = Latencies::default();
    for path in paths.iter().cycle().take(samples) {
        let began = Instant::now();
        target.get(path).await?;
        latencies.push(began.elapsed());
    }
    Ok(latencies)
}
