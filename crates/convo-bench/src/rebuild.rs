//! Rebuild: every read model from a whole log, one after another (`ReadModels::rebuild`, what
//! `convo projections rebuild NAME` runs) and all in one pass (`ReadModels::rebuild_all`, what
//! `convo projections rebuild` runs), beside two sequential reads of the same log: the bare SQL scan (`COPY … TO
//! STDOUT`, bytes only) and the store's own paged read (`EventLog::read_to_head`, decoded into
//! events), the limits for reading it; and the limit for writing what it produces: the rebuilt
//! timeline's rows `COPY`ed into an empty table of its shape, PostgreSQL alone.

use std::time::{Duration, Instant};

use anyhow::Context;
use convo_read::ReadModels;
use convo_store::{EventLog, LogNotifier};
use convo_store_postgres::PostgresBackend;
use futures::StreamExt;

use crate::seed::Conversations;

/// The 1 000 000-event log of docs/BENCHMARKS.md.
const FIXTURE: &str = include_str!("../../../tests/fixtures/seed_1m_events.sql");
/// What the store reads per page when rebuilding (`ReadModels::rebuild_batch`).
const PAGE: usize = 5000;

#[derive(Debug)]
pub struct RebuildResult {
    /// Where the log came from.
    pub source: String,
    pub events: u64,
    pub load: Duration,
    pub copy: Duration,
    pub copy_bytes: usize,
    pub store_read: Duration,
    /// Per read model: its name, events folded and how long it took.
    pub models: Vec<(String, u64, Duration)>,
    /// Every read model in one pass (`ReadModels::rebuild_all`, what `convo projections
    /// rebuild` runs without a name): events read and how long it took.
    pub all: (u64, Duration),
    /// The write limit: the timeline's rows (the most a rebuild writes) as the rebuild left
    /// them, `COPY`ed from memory into an empty table of its shape: how many, how long.
    pub timeline_copy: (u64, Duration),
}

/// On the migrated, empty database at `url`: the fixture, or (`generated`) a small log of
/// that many conversations of 100 events.
pub async fn run(url: &str, generated: Option<u32>) -> anyhow::Result<RebuildResult> {
    let pool = convo_store_postgres::connect(url, 16).await.context("connecting the rebuild's database")?;
    convo_store_postgres::migrate(&pool).await.context("migrating the rebuild's database")?;
    let started = Instant::now();
    let source = match generated {
        None => {
            eprintln!("rebuild: loading tests/fixtures/seed_1m_events.sql");
            sqlx::raw_sql(FIXTURE).execute(&pool).await.context("loading the fixture")?;
            "tests/fixtures/seed_1m_events.sql (10 000 conversations × 100 events)".to_owned()
        }
        Some(count) => {
            let log = Conversations {
                prefix: "r",
                workspace: "00000000-0000-0000-0000-000000000000",
                inbox: "00000000-0000-0000-0000-0000000000a1",
                count,
                events: 100,
            };
            log.append(&pool).await?;
            format!("generated ({count} conversations × 100 events, the fixture's shape)")
        }
    };
    // A log that has been there a while: vacuumed and analysed (hint bits set, statistics known).
    sqlx::raw_sql("VACUUM (ANALYZE) events").execute(&pool).await?;
    let load = started.elapsed();
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&pool).await?;
    let events = events as u64;
    eprintln!("rebuild: {events} events loaded in {load:.1?}");

    let started = Instant::now();
    let mut conn = pool.acquire().await?;
    let mut copy = conn
        .copy_out_raw(
            "COPY (SELECT global_position, workspace_id, aggregate_type, aggregate_id, sequence, event_type, \
                          event_version, payload, metadata, recorded_at
                     FROM events ORDER BY global_position) TO STDOUT",
        )
        .await?;
    let mut copy_bytes = 0;
    while let Some(chunk) = copy.next().await {
        copy_bytes += chunk?.len();
    }
    drop(copy);
    drop(conn);
    let copy = started.elapsed();

    let backend = PostgresBackend::new(pool.clone());
    let log = EventLog::new(backend.clone(), LogNotifier::default());
    let started = Instant::now();
    let mut pages = Box::pin(log.read_to_head(0, PAGE));
    let mut read = 0;
    while let Some(page) = pages.next().await {
        read += page?.len() as u64;
    }
    let store_read = started.elapsed();
    anyhow::ensure!(read == events, "the store read {read} of {events} events");

    let models = ReadModels::new(&backend);
    // Creates the live checkpoint rows: on a database no runner has served yet, the swap at the
    // end of a rebuild finds none to guard and fails as a conflict (reported in #7).
    models.checkpoints().await?;
    let mut rebuilt = Vec::new();
    for &name in ReadModels::<PostgresBackend>::NAMES {
        let started = Instant::now();
        let folded = models.rebuild(name, &log, &|_| {}).await.with_context(|| format!("rebuilding {name}"))?;
        let took = started.elapsed();
        eprintln!("rebuild: {name} {folded} events in {took:.1?}");
        anyhow::ensure!(folded == events, "{name} folded {folded} of {events} events");
        rebuilt.push((name.to_owned(), folded, took));
    }
    let started = Instant::now();
    let read = models.rebuild_all(&log, &|_| {}).await.context("rebuilding every read model in one pass")?;
    let all = (read, started.elapsed());
    eprintln!("rebuild: all in one pass, {read} events in {:.1?}", all.1);
    anyhow::ensure!(read == events, "the one-pass rebuild read {read} of {events} events");
    let timeline_copy = write_limit(&pool, "rm_timeline").await.context("copying the timeline's rows")?;
    eprintln!("rebuild: the timeline's {} rows copied into an empty table in {:.1?}", timeline_copy.0, timeline_copy.1);
    anyhow::ensure!(timeline_copy.0 > 0, "the rebuilt timeline has no rows");
    pool.close().await;
    Ok(RebuildResult { source, events, load, copy, copy_bytes, store_read, models: rebuilt, all, timeline_copy })
}

/// What PostgreSQL alone needs to write `table`'s rows, with nothing read or folded: the rows
/// copied out into memory, then timed `COPY … FROM STDIN` into an empty table of the same
/// shape (`LIKE … INCLUDING ALL`: its keys and indexes), in one transaction.
async fn write_limit(pool: &sqlx::PgPool, table: &str) -> anyhow::Result<(u64, Duration)> {
    const CHUNK: usize = 1 << 20;
    let mut conn = pool.acquire().await?;
    let mut chunks = vec![Vec::with_capacity(CHUNK)];
    let mut out = conn.copy_out_raw(&format!("COPY {table} TO STDOUT")).await?;
    while let Some(bytes) = out.next().await {
        let bytes = bytes?;
        let last = chunks.last_mut().expect("one chunk at least");
        last.extend_from_slice(&bytes);
        if last.len() >= CHUNK {
            chunks.push(Vec::with_capacity(CHUNK));
        }
    }
    drop(out);
    let copy = format!("{table}__write_limit");
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {copy}; CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)"))
        .execute(&mut *conn)
        .await?;
    let started = Instant::now();
    let mut copy_in = conn.copy_in_raw(&format!("COPY {copy} FROM STDIN")).await?;
    for chunk in chunks {
        copy_in.send(chunk).await?;
    }
    let rows = copy_in.finish().await?;
    let took = started.elapsed();
    sqlx::raw_sql(&format!("DROP TABLE {copy}")).execute(&mut *conn).await?;
    Ok((rows, took))
}
