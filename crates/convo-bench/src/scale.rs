//! Scale: the engine section's load, at one concurrency, against two topologies on one
//! PostgreSQL, each in a fresh scratch database: one `convo serve --role all` process (A), and
//! two `--role api` processes with one `--role worker` (B), whose clients send each command to
//! the next API node in turn, so one conversation's commands arrive at both. Then a short hot
//! run: the same clients on a few conversations, where commands from two API nodes conflict
//! and the engine retries them (never an error to the client).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;

use crate::Settings;
use crate::engine::{CATCH_UP, Command, EngineResult, LagResult, Load, Target, level};
use crate::scratch::ScratchDb;
use crate::server::{Role, Server, caught_up};

/// The conversations of the hot run.
pub const HOT_CONVERSATIONS: usize = 4;

#[derive(Debug)]
pub struct ScaleResult {
    pub clients: usize,
    pub duration: Duration,
    pub hot_duration: Duration,
    pub topologies: Vec<TopologyResult>,
}

#[derive(Debug)]
pub struct TopologyResult {
    pub name: &'static str,
    /// The run, its CPU until the read models had folded it, and its probes.
    pub run: EngineResult,
    pub lag: LagResult,
    /// Events the run appended.
    pub events: u64,
    /// Optimistic-concurrency conflicts retried during the run, by every process together.
    pub conflicts: u64,
    /// CPU seconds of the run by role: `--role all` or the API nodes together, and the worker.
    pub cpu_by_role: Vec<(Role, f64)>,
    /// Each process's peak resident set after the runs, in MiB.
    pub peak_rss_mib: Vec<(Role, f64)>,
    pub hot: EngineResult,
    pub hot_conflicts: u64,
}

impl ScaleResult {
    /// Failed commands and probes, in every topology.
    pub fn errors(&self) -> usize {
        self.topologies.iter().map(|t| t.run.errors + t.lag.errors + t.hot.errors).sum()
    }
}

/// Both topologies, one after the other, each with `clients` clients for `duration`.
pub async fn run(settings: &Settings, bin: &Path, clients: usize, duration: Duration) -> anyhow::Result<ScaleResult> {
    let hot_duration = duration / 2;
    let mut topologies = Vec::new();
    for (name, roles) in [
        ("A: 1 × `--role all`", &[Role::All][..]),
        ("B: 2 × `--role api` + 1 × `--role worker`", &[Role::Api, Role::Api, Role::Worker][..]),
    ] {
        let db = ScratchDb::create(&settings.database_url, "scale").await?;
        let measured = topology(&db.url, settings, bin, (name, roles), clients, (duration, hot_duration)).await;
        db.drop_db().await;
        let t = measured.with_context(|| format!("scale, {name}"))?;
        eprintln!(
            "scale   {name}: {:.0} cmd/s, p99 {:.2} ms, lag p99 {:.2} ms, {} conflicts; hot {:.0} cmd/s, p99 {:.2} ms, \
             {} conflicts",
            t.run.per_second(),
            t.run.latencies.percentile_ms(99.0),
            t.lag.latencies.percentile_ms(99.0),
            t.conflicts,
            t.hot.per_second(),
            t.hot.latencies.percentile_ms(99.0),
            t.hot_conflicts,
        );
        topologies.push(t);
    }
    Ok(ScaleResult { clients, duration, hot_duration, topologies })
}

/// Starts `roles` on `url`, measures, and stops them whatever happened.
async fn topology(
    url: &str,
    settings: &Settings,
    bin: &Path,
    (name, roles): (&'static str, &[Role]),
    clients: usize,
    durations: (Duration, Duration),
) -> anyhow::Result<TopologyResult> {
    let pool = convo_store_postgres::connect(url, 4).await.context("connecting to the scale database")?;
    convo_store_postgres::migrate(&pool).await.context("migrating the scale database")?;
    let mut servers = Vec::new();
    let mut result = Ok(());
    for &role in roles {
        match Server::start(url, Some(bin), settings.db_pool, role).await {
            Ok(server) => servers.push(server),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let api: Vec<String> = servers
        .iter()
        .zip(roles)
        .filter(|(_, role)| **role != Role::Worker)
        .map(|(s, _)| s.base().to_owned())
        .collect();
    let result = match result {
        Ok(()) => measure(&pool, &mut servers, roles, (name, api), settings, clients, durations).await,
        Err(e) => Err(e),
    };
    for server in servers {
        server.stop().await;
    }
    pool.close().await;
    result
}

/// Conflicts retried by every server together.
async fn conflicts(servers: &[Server]) -> anyhow::Result<u64> {
    let mut total = 0;
    for server in servers {
        total += server.conflicts_retried().await?;
    }
    Ok(total)
}

async fn measure(
    pool: &PgPool,
    servers: &mut [Server],
    roles: &[Role],
    (name, api): (&'static str, Vec<String>),
    settings: &Settings,
    clients: usize,
    (duration, hot_duration): (Duration, Duration),
) -> anyhow::Result<TopologyResult> {
    let target = Arc::new(Target::prepare(pool, &api[0], settings.conversations).await?);
    // The runners (the worker's, under leases) have folded the setup: the run starts idle.
    caught_up(pool, servers, CATCH_UP).await?;
    let pids: Vec<u32> = servers.iter().filter_map(Server::pid).collect();
    let distinct: Vec<Role> = roles.iter().fold(vec![], |mut d, r| {
        if !d.contains(r) {
            d.push(*r);
        }
        d
    });
    let role_pids: Vec<(Role, Vec<u32>)> = distinct
        .iter()
        .map(|&role| {
            (role, servers.iter().zip(roles).filter(|(_, r)| **r == role).filter_map(|(s, _)| s.pid()).collect())
        })
        .collect();
    let by_role: Vec<crate::cpu::Snapshot> = role_pids.iter().map(|(_, p)| crate::cpu::Snapshot::take(p)).collect();
    let events = || sqlx::query_scalar::<_, i64>("SELECT count(*) FROM events").fetch_one(pool);

    let (before, conflicts_before, cpu) =
        (events().await?, conflicts(servers).await?, crate::cpu::Snapshot::take(&pids));
    let load = Load {
        command: Command::Send,
        nodes: api,
        conversations: target.conversations.len(),
        probe_every: Some(settings.lag_every),
    };
    let (mut run, lag) = level(&target, &Arc::new(load.clone()), clients, duration).await?;
    // What the run cost includes folding what it appended.
    caught_up(pool, servers, CATCH_UP).await?;
    run.cpu = crate::cpu::Snapshot::take(&pids).since(&cpu);
    let cpu_by_role = role_pids
        .iter()
        .zip(&by_role)
        .map(|((role, p), before)| (*role, crate::cpu::Snapshot::take(p).since(before).server.unwrap_or(0.0)))
        .collect();
    let events = u64::try_from(events().await? - before)?;
    let run_conflicts = conflicts(servers).await? - conflicts_before;

    let hot_before = conflicts(servers).await?;
    let hot = Load { conversations: HOT_CONVERSATIONS.min(load.conversations), probe_every: None, ..load };
    let (hot, _) = level(&target, &Arc::new(hot), clients, hot_duration).await?;
    caught_up(pool, servers, CATCH_UP).await?;
    let hot_conflicts = conflicts(servers).await? - hot_before;
    let lag = lag.context("the run took no probe")?;
    let peak_rss_mib =
        servers.iter().zip(roles).map(|(s, r)| (*r, s.peak_rss_kib().unwrap_or(0) as f64 / 1024.0)).collect();
    Ok(TopologyResult {
        name,
        run,
        lag,
        events,
        conflicts: run_conflicts,
        cpu_by_role,
        peak_rss_mib,
        hot,
        hot_conflicts,
    })
}
