//! The `convo` binary: `serve`, `migrate` and `events tail`. Settings come from defaults in
//! code, then environment variables, then flags (clap reads both).

mod backend;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use convo_domain::SystemClock;
use convo_store::{Backend, Engine, ReadModels};
use futures::StreamExt;

#[derive(Parser)]
#[command(name = "convo", version, about = "An event-sourced conversation engine")]
struct Cli {
    #[command(flatten)]
    store: StoreSettings,
    #[command(subcommand)]
    command: Command,
}

/// Where the event log lives.
#[derive(Args)]
struct StoreSettings {
    /// PostgreSQL URL (postgres://…). Without it, the embedded SQLite file under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "CONVO_DATA_DIR", default_value = "./data", global = true)]
    data_dir: PathBuf,
    /// Most connections to PostgreSQL.
    #[arg(long, env = "CONVO_DB_MAX_CONNECTIONS", default_value_t = 16, global = true)]
    db_max_connections: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Create or upgrade the database schema (also done at start by `serve`).
    Migrate,
    /// Run the HTTP gateway (and, with NATS_URL, the event publisher).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CONVO_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        #[command(flatten)]
        bus: BusSettings,
    },
    /// The global event log.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// The read models: their progress, rebuilds and verification.
    Projections {
        #[command(subcommand)]
        command: ProjectionsCommand,
    },
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each read model's checkpoint and how many events it has yet to fold.
    Status,
    /// Rebuild read models from the first event into fresh tables, then swap them in; queries
    /// keep being served from the live tables meanwhile.
    Rebuild {
        /// One read model (default: all).
        name: Option<String>,
    },
    /// Rebuild read models into scratch tables and compare them with the live ones.
    Verify {
        /// One read model (default: all).
        name: Option<String>,
    },
}

/// Where events fan out to.
#[derive(Args)]
struct BusSettings {
    /// NATS server (nats://…). Without it no events are published to NATS.
    #[arg(long, env = "NATS_URL")]
    nats_url: Option<String>,
    /// The JetStream stream the engine creates or updates and publishes to.
    #[arg(long, env = "CONVO_NATS_STREAM", default_value = "CONVO")]
    nats_stream: String,
    /// How long the stream keeps events, in seconds (0: for ever).
    #[arg(long, env = "CONVO_NATS_MAX_AGE_SECS", default_value_t = 0)]
    nats_max_age_secs: u64,
}

#[derive(Subcommand)]
enum EventsCommand {
    /// Print the global log as JSON lines, in commit order, and follow new events.
    Tail {
        /// Start after this position (0: from the beginning).
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Stop at the end of the log instead of following it.
        #[arg(long)]
        no_follow: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONVO_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let s = &cli.store;
    let backend = backend::open(s.database_url.as_deref(), &s.data_dir, s.db_max_connections).await?;
    match cli.command {
        Command::Migrate => {
            tracing::info!(backend = backend.name(), "schema is up to date");
            Ok(())
        }
        Command::Serve { listen, bus } => serve(backend, listen, bus).await,
        Command::Events { command: EventsCommand::Tail { after, no_follow } } => tail(backend, after, no_follow).await,
        Command::Projections { command } => projections(backend, command).await,
    }
}

async fn serve(backend: backend::AnyBackend, listen: SocketAddr, bus: BusSettings) -> anyhow::Result<()> {
    let name = backend.name();
    let read = Arc::new(ReadModels::new(&backend));
    let engine = Arc::new(Engine::new(backend, Arc::new(SystemClock)));
    let mut runners = read.spawn(&engine.log);
    runners.extend(engine.backend.relay_commits(engine.log.notifier()));
    let (log, backend) = (engine.log.clone(), engine.backend.clone());
    match bus.nats_url {
        Some(url) => {
            let max_age = std::time::Duration::from_secs(bus.nats_max_age_secs);
            let nats = convo_bus::JetStreamBus::connect(&url, &bus.nats_stream, convo_bus::SUBJECT_PREFIX, max_age)
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?;
            tracing::info!(stream = bus.nats_stream, "publishing events to NATS JetStream");
            runners.push(tokio::spawn(publish_for_ever(nats, log, backend)));
        }
        None => {
            // The embedded default: the same publisher on an in-process bus, for in-process
            // subscribers (the live stream, webhooks).
            let in_process = convo_bus::InProcessBus::new(4096);
            tracing::info!("publishing events in process (no NATS_URL)");
            runners.push(tokio::spawn(publish_for_ever(in_process, log, backend)));
        }
    }
    let app = convo_gateway::router(engine, read);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, backend = name, "convo is serving");
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await.context("serving HTTP")?;
    runners.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

async fn tail(backend: backend::AnyBackend, after: i64, no_follow: bool) -> anyhow::Result<()> {
    use std::io::Write;
    const BATCH: usize = 1000;
    let engine = Engine::new(backend, Arc::new(SystemClock));
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut batches = if no_follow {
        Box::pin(engine.log.read_to_head(after, BATCH)) as std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>>
    } else {
        Box::pin(engine.log.tail(after, BATCH))
    };
    while let Some(batch) = batches.next().await {
        for event in batch? {
            serde_json::to_writer(&mut out, &event)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(())
}

async fn projections(backend: backend::AnyBackend, command: ProjectionsCommand) -> anyhow::Result<()> {
    use convo_store::SqlStore;
    let read = ReadModels::new(&backend);
    let sql = backend.sql();
    let engine = Engine::new(backend, Arc::new(SystemClock));
    let pick = |name: Option<String>| -> anyhow::Result<Vec<String>> {
        match name {
            None => Ok(ReadModels::<backend::AnyBackend>::NAMES.iter().map(|n| (*n).to_owned()).collect()),
            Some(n) if ReadModels::<backend::AnyBackend>::NAMES.contains(&n.as_str()) => Ok(vec![n]),
            Some(n) => {
                anyhow::bail!("no read model named {n}; there are {:?}", ReadModels::<backend::AnyBackend>::NAMES)
            }
        }
    };
    match command {
        ProjectionsCommand::Status => {
            let head = engine.log.head().await?;
            println!("{:<10} {:>20} {:>12}", "read model", "checkpoint", "events behind");
            for (name, checkpoint) in read.checkpoints().await? {
                let behind = sql
                    .scalar(
                        &sql.sql("SELECT count(*) FROM events WHERE global_position > {1}"),
                        &[convo_store::SqlValue::Int(checkpoint)],
                    )
                    .await?
                    .unwrap_or(0);
                println!("{name:<10} {checkpoint:>20} {behind:>12}");
            }
            println!("log head: {head}");
        }
        ProjectionsCommand::Rebuild { name } => {
            for name in pick(name)? {
                let total = sql.scalar("SELECT count(*) FROM events", &[]).await?.unwrap_or(0);
                let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{prefix:>9} [{bar:40}] {pos}/{len} events {per_sec} {eta}",
                    )
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                );
                bar.set_prefix(name.clone());
                let started = std::time::Instant::now();
                let folded = read.rebuild(&name, &engine.log, &|n| bar.set_position(n)).await?;
                bar.finish();
                let seconds = started.elapsed().as_secs_f64();
                println!(
                    "{name}: rebuilt from {folded} events in {seconds:.2} s ({:.0} events/s)",
                    folded as f64 / seconds.max(1e-9)
                );
            }
        }
        ProjectionsCommand::Verify { name } => {
            let mut failed = false;
            for name in pick(name)? {
                let differences = read.verify(&name, &engine.log, 20).await?;
                if differences.is_empty() {
                    println!("{name}: live equals a rebuild (0 differences)");
                } else {
                    failed = true;
                    println!("{name}: {} differences (first 20 each way):", differences.len());
                    for d in differences {
                        println!("  {d}");
                    }
                }
            }
            if failed {
                anyhow::bail!("read models differ from a rebuild");
            }
        }
    }
    Ok(())
}

/// Runs the event publisher, starting it again whenever it stops (NATS away, store error).
async fn publish_for_ever<T: convo_bus::Bus>(
    bus: T,
    log: convo_store::EventLog<backend::AnyBackend>,
    backend: backend::AnyBackend,
) {
    loop {
        if let Err(e) = convo_bus::run_publisher(bus.clone(), log.clone(), &backend, 500).await {
            tracing::warn!(error = %e, "event publisher stopped; restarting");
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
