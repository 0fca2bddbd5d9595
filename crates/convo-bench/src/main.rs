//! `convo-bench`: measures, against one PostgreSQL in one run, the raw single-row INSERT limit;
//! the engine's send-message commands over HTTP at the same concurrencies, and projection lag
//! under the heaviest load; queries with many conversations, contacts and agents loaded; command latency on one
//! conversation with a long history; the server's peak memory; one node against two API nodes
//! and a worker on one database; webhooks' delivery lag under that load and the drain of a
//! backlog after a receiver's outage; and read-model rebuilds from a 1M-event log beside the raw
//! read of that log. Prints Markdown (docs/BENCHMARKS.md).

mod cpu;
mod dashboard;
mod engine;
mod history;
mod limit;
mod queries;
mod rebuild;
mod scale;
mod scratch;
mod seed;
mod server;
mod stats;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};

/// Settings: defaults in code < environment < flags.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Settings {
    /// A database on the server to benchmark; scratch databases are created beside it and dropped.
    #[arg(long, env = "CONVO_BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// What to measure (default: all).
    #[arg(long, value_delimiter = ',', default_value = "limit,engine,queries,history,scale,webhooks,rebuild")]
    sections: Vec<Section>,
    /// The `convo` binary to run as the server (`convo serve`, out of process, so its peak memory
    /// is its own). Default: `convo` beside this binary (target/release/convo); with --smoke or
    /// --in-process and no value, the gateway runs inside the benchmark's process instead (the
    /// scale and webhooks sections still run `convo` beside this binary, and --smoke skips them
    /// without one).
    #[arg(long, env = "CONVO_BENCH_SERVER")]
    server_bin: Option<PathBuf>,
    /// Run the gateway inside the benchmark's process (its memory figure then includes the clients).
    #[arg(long)]
    in_process: bool,
    /// Concurrent clients, one measurement per value (the scale and webhooks sections: the largest).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    clients: Vec<usize>,
    /// How long each measurement runs, in seconds.
    #[arg(long, default_value_t = 5.0)]
    duration_secs: f64,
    /// Conversations the engine's clients send to (chosen at random per command).
    #[arg(long, default_value_t = 1000)]
    conversations: usize,
    /// Under the heaviest load, every n-th command of each client is followed until the inbox
    /// query shows it.
    #[arg(long, default_value_t = 50)]
    lag_every: usize,
    /// The engine's connection pool (`convo serve`'s default).
    #[arg(long, default_value_t = 16)]
    db_pool: u32,
    /// Conversations loaded for the query measurements (each assigned to one of the agents;
    /// `billing` on every 2nd, `vip` on every 100th).
    #[arg(long, default_value_t = 200_000)]
    query_conversations: u32,
    /// Contacts loaded for the query measurements, each holding one phone.
    #[arg(long, default_value_t = 100_000)]
    query_contacts: u32,
    /// Agents loaded for the query measurements.
    #[arg(long, default_value_t = 1_000)]
    query_agents: u32,
    /// Requests per query measured.
    #[arg(long, default_value_t = 300)]
    query_samples: usize,
    /// Events the history section's conversation is driven to.
    #[arg(long, default_value_t = 10_000)]
    history_events: u64,
    /// Commands compared at the start and at the end of the history run.
    #[arg(long, default_value_t = 500)]
    history_window: usize,
    /// Events appended while the webhooks' receiver is down, then drained.
    #[arg(long, default_value_t = 100_000)]
    webhook_backlog: u64,
    /// The dashboard section: minutes of steady inbound traffic while the page follows it.
    #[arg(long, default_value_t = 10.0)]
    dashboard_minutes: f64,
    /// The dashboard section: inbound messages a second meanwhile.
    #[arg(long, default_value_t = 20.0)]
    dashboard_rate: f64,
    /// Also write the Markdown to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A tiny run for CI (every section, small); any failure exits non-zero.
    #[arg(long)]
    smoke: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Section {
    Limit,
    Engine,
    Queries,
    History,
    Scale,
    Webhooks,
    Rebuild,
    /// The dashboard in Chromium on the queries section's load (not in the default run: it
    /// needs `bash deploy/browser.sh` once, and takes `--dashboard-minutes`).
    Dashboard,
}

impl Settings {
    fn effective(mut self) -> Self {
        if self.smoke {
            self.clients = vec![1, 2];
            self.duration_secs = 1.0;
            self.conversations = 20;
            self.lag_every = 5;
            self.query_conversations = 500;
            self.query_contacts = 300;
            self.query_agents = 60;
            self.query_samples = 20;
            self.history_events = 300;
            self.history_window = 50;
            self.webhook_backlog = 200;
        }
        self
    }

    fn duration(&self) -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(self.duration_secs).context("--duration-secs must be a positive number")
    }

    fn wants(&self, section: Section) -> bool {
        self.sections.contains(&section)
    }

    /// The server binary, or None for the gateway in this process.
    fn server_bin(&self) -> anyhow::Result<Option<PathBuf>> {
        if self.server_bin.is_none() && (self.smoke || self.in_process) {
            return Ok(None);
        }
        self.process_bin().map(Some)
    }

    /// The server binary to run as processes: --server-bin, else `convo` beside this binary.
    fn process_bin(&self) -> anyhow::Result<PathBuf> {
        if let Some(bin) = &self.server_bin {
            return Ok(bin.clone());
        }
        let beside = std::env::current_exe()?.with_file_name("convo");
        anyhow::ensure!(
            beside.exists(),
            "no server binary at {}: build it (cargo build --release -p convo-cli), pass --server-bin, or --in-process",
            beside.display()
        );
        Ok(beside)
    }
}

/// What one concurrency level measured.
#[derive(Debug)]
pub struct Row {
    clients: usize,
    limit: Option<limit::LimitResult>,
    engine: Option<engine::EngineResult>,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    rows: Vec<Row>,
    lag: Option<engine::LagResult>,
    queries: Option<queries::QueriesResult>,
    history: Option<history::HistoryResult>,
    scale: Option<scale::ScaleResult>,
    /// Peak RSS in KiB, and whose.
    memory: Option<(Option<u64>, String)>,
    rebuild: Option<rebuild::RebuildResult>,
    webhooks: Option<webhooks::WebhooksResult>,
    /// Inbound messages from known contacts against new ones (engine section).
    inbound: Option<engine::InboundResult>,
    dashboard: Option<dashboard::DashboardResult>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse().effective();
    let duration = settings.duration()?;
    anyhow::ensure!(!settings.clients.is_empty() && !settings.clients.contains(&0), "--clients needs positive values");
    anyhow::ensure!(
        settings.conversations > 0 && settings.lag_every > 0,
        "--conversations and --lag-every must be > 0"
    );
    let server_bin = settings.server_bin()?;
    let mut report = Report::default();

    let limits = if settings.wants(Section::Limit) {
        let db = scratch::ScratchDb::create(&settings.database_url, "limit").await?;
        let limits = limit::run(&db.url, &settings.clients, duration).await;
        db.drop_db().await;
        Some(limits?)
    } else {
        None
    };

    let mut engines = None;
    if [Section::Engine, Section::Queries, Section::History, Section::Dashboard].iter().any(|s| settings.wants(*s)) {
        let db = scratch::ScratchDb::create(&settings.database_url, "engine").await?;
        let served = served(&db.url, &settings, server_bin.as_deref(), duration, &mut report).await;
        db.drop_db().await;
        engines = served?;
    }
    let mut limits = limits.map(Vec::into_iter);
    let mut engines = engines.map(Vec::into_iter);
    report.rows = settings
        .clients
        .iter()
        .map(|&clients| Row {
            clients,
            limit: limits.as_mut().and_then(Iterator::next),
            engine: engines.as_mut().and_then(Iterator::next),
        })
        .collect();

    if settings.wants(Section::Scale) {
        // Several `convo serve` processes: never in process; a smoke run without the binary skips.
        match settings.process_bin() {
            Ok(bin) => {
                let clients = settings.clients.iter().copied().max().unwrap_or(1);
                report.scale = Some(scale::run(&settings, &bin, clients, duration).await?);
            }
            Err(e) if settings.smoke => eprintln!("scale: skipped in the smoke run: {e:#}"),
            Err(e) => return Err(e),
        }
    }

    if settings.wants(Section::Webhooks) {
        // The fan-out and the sender run in `convo serve`: never in process, like scale.
        match settings.process_bin() {
            Ok(bin) => {
                anyhow::ensure!(settings.webhook_backlog > 0, "--webhook-backlog must be > 0");
                let clients = settings.clients.iter().copied().max().unwrap_or(1);
                report.webhooks = Some(webhooks::run(&settings, &bin, clients, duration).await?);
            }
            Err(e) if settings.smoke => eprintln!("webhooks: skipped in the smoke run: {e:#}"),
            Err(e) => return Err(e),
        }
    }

    if settings.wants(Section::Rebuild) {
        let db = scratch::ScratchDb::create(&settings.database_url, "rebuild").await?;
        let rebuilt = rebuild::run(&db.url, settings.smoke.then_some(20)).await;
        db.drop_db().await;
        report.rebuild = Some(rebuilt?);
    }

    let markdown = stats::markdown(&report, &settings, duration);
    println!("{markdown}");
    if let Some(path) = &settings.out {
        std::fs::write(path, &markdown).with_context(|| format!("writing {}", path.display()))?;
    }

    let failures: usize = report
        .rows
        .iter()
        .map(|r| {
            r.limit.as_ref().map_or(0, |l| l.errors)
                + r.engine.as_ref().map_or(0, |e| e.errors + e.lag.as_ref().map_or(0, |l| l.errors))
        })
        .sum::<usize>()
        + report.scale.as_ref().map_or(0, scale::ScaleResult::errors)
        + report.webhooks.as_ref().map_or(0, webhooks::WebhooksResult::errors)
        + report.inbound.as_ref().map_or(0, |i| i.known.errors + i.new.errors);
    anyhow::ensure!(failures == 0, "{failures} request(s) failed (see the table and the messages above)");
    anyhow::ensure!(
        report.rows.iter().all(|r| r.limit.as_ref().is_none_or(|l| l.transactions > 0)
            && r.engine.as_ref().is_none_or(|e| e.latencies.count() > 0))
            && report
                .scale
                .iter()
                .flat_map(|s| &s.topologies)
                .all(|t| t.run.latencies.count() > 0 && t.hot.latencies.count() > 0 && t.lag.latencies.count() > 0)
            && report.webhooks.as_ref().is_none_or(|w| w.under_load.lag.count() > 0 && w.drain.events.arrived > 0),
        "a level did nothing (or a scale run took no probe, or no webhook arrived)"
    );
    anyhow::ensure!(report.lag.as_ref().is_none_or(|l| l.latencies.count() > 0), "no projection-lag sample was taken");
    Ok(())
}

/// The sections that need the server: engine and lag, queries, history, then its peak memory.
async fn served(
    url: &str,
    settings: &Settings,
    server_bin: Option<&Path>,
    duration: Duration,
    report: &mut Report,
) -> anyhow::Result<Option<Vec<engine::EngineResult>>> {
    let pool = convo_store_postgres::connect(url, 4).await.context("connecting to the engine's database")?;
    convo_store_postgres::migrate(&pool).await.context("migrating the engine's database")?;
    let mut server = server::Server::start(url, server_bin, settings.db_pool, server::Role::All).await?;
    let result = async {
        let target = Arc::new(engine::Target::prepare(&pool, server.base(), settings.conversations).await?);
        let mut engines = None;
        if settings.wants(Section::Engine) {
            let (results, lag) = engine::run(&target, &pool, &mut server, settings, duration).await?;
            engines = Some(results);
            report.lag = Some(lag);
            let clients = settings.clients.iter().copied().max().unwrap_or(1);
            report.inbound = Some(engine::inbound(&target, &pool, &mut server, clients, duration).await?);
        }
        if settings.wants(Section::Queries) || settings.wants(Section::Dashboard) {
            let sizes = queries::Sizes {
                conversations: settings.query_conversations,
                contacts: settings.query_contacts,
                agents: settings.query_agents,
                samples: settings.query_samples,
            };
            let result = queries::run(&target, &pool, &mut server, sizes).await?;
            if settings.wants(Section::Dashboard) {
                let (minutes, rate) = (settings.dashboard_minutes, settings.dashboard_rate);
                report.dashboard = Some(dashboard::run(&target, result.conversations, minutes, rate).await?);
            }
            report.queries = Some(result);
        }
        if settings.wants(Section::History) {
            report.history = Some(history::run(&target, settings.history_events, settings.history_window).await?);
        }
        report.memory = Some((server.peak_rss_kib(), server.describe()));
        anyhow::Ok(engines)
    }
    .await;
    server.stop().await;
    pool.close().await;
    result
}
