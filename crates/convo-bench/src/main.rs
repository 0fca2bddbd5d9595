//! `convo-bench`: measures, against one PostgreSQL in one run, the raw single-row INSERT limit,
//! the engine's send-message commands over HTTP at the same concurrencies, projection lag under
//! the heaviest load, and the process's peak memory; prints a Markdown table (docs/BENCHMARKS.md).

mod engine;
mod limit;
mod scratch;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

/// Settings: defaults in code < environment < flags.
#[derive(Debug, Clone, Parser)]
#[command(version, about)]
struct Settings {
    /// A database on the server to benchmark; scratch databases are created beside it and dropped.
    #[arg(long, env = "CONVO_BENCH_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Concurrent clients, one measurement per value.
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
    /// Also write the Markdown table to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A tiny run for CI (1 and 2 clients, 1 s, 20 conversations); any failure exits non-zero.
    #[arg(long)]
    smoke: bool,
}

impl Settings {
    fn effective(mut self) -> Self {
        if self.smoke {
            self.clients = vec![1, 2];
            self.duration_secs = 1.0;
            self.conversations = 20;
            self.lag_every = 5;
        }
        self
    }

    fn duration(&self) -> anyhow::Result<Duration> {
        Duration::try_from_secs_f64(self.duration_secs).context("--duration-secs must be a positive number")
    }
}

/// What one concurrency level measured.
#[derive(Debug)]
pub struct Row {
    clients: usize,
    limit: limit::LimitResult,
    engine: engine::EngineResult,
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

    let limit_db = scratch::ScratchDb::create(&settings.database_url, "limit").await?;
    let limits = limit::run(&limit_db.url, &settings.clients, duration).await;
    limit_db.drop_db().await;
    let limits = limits?;

    let engine_db = scratch::ScratchDb::create(&settings.database_url, "engine").await?;
    let engines = engine::run(&engine_db.url, &settings, duration).await;
    engine_db.drop_db().await;
    let (engines, lag) = engines?;

    let rows: Vec<Row> = settings
        .clients
        .iter()
        .zip(limits)
        .zip(engines)
        .map(|((&clients, limit), engine)| Row { clients, limit, engine })
        .collect();
    let peak_rss = stats::peak_rss_kib();
    let table = stats::markdown(&rows, &lag, peak_rss, duration, settings.conversations);
    println!("{table}");
    if let Some(path) = &settings.out {
        std::fs::write(path, &table).with_context(|| format!("writing {}", path.display()))?;
    }

    let failures: usize = rows.iter().map(|r| r.limit.errors + r.engine.errors).sum::<usize>() + lag.errors;
    anyhow::ensure!(failures == 0, "{failures} request(s) failed (see the table and the messages above)");
    anyhow::ensure!(
        rows.iter().all(|r| r.limit.transactions > 0 && r.engine.latencies.count() > 0),
        "a level did nothing"
    );
    anyhow::ensure!(lag.latencies.count() > 0, "no projection-lag sample was taken");
    Ok(())
}
