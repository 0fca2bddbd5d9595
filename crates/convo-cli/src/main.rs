//! The `convo` binary: `serve`, `migrate` and `events tail`. Settings come from defaults in
//! code, then environment variables, then flags (clap reads both).

mod backend;
mod inspect;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use convo_domain::SystemClock;
use convo_read::ReadModels;
use convo_store::{Backend, Engine};
use futures::StreamExt;

/// mimalloc rather than glibc's malloc: the server allocates per request and per folded event on
/// many threads, where glibc's arenas spent a quarter to two fifths of its CPU (docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        /// What this node does: `api` takes commands and queries, `worker` follows the log (read
        /// models, the bus publisher, the key purge, each under a lease so one worker runs it),
        /// `all` both. Several nodes share one PostgreSQL (docs/decisions/0003).
        #[arg(long, env = "CONVO_ROLE", value_enum, default_value_t = Role::All)]
        role: Role,
        #[command(flatten)]
        bus: BusSettings,
        #[command(flatten)]
        webhooks: WebhookSettings,
        #[command(flatten)]
        limits: LimitSettings,
    },
    /// Workspaces (tenants).
    Workspaces {
        #[command(subcommand)]
        command: WorkspacesCommand,
    },
    /// API keys of a workspace.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
    /// Export the global log to JSON Lines or Apache Parquet (docs/EXPORT.md).
    Export(convo_export::ExportArgs),
    /// The NATS JetStream stream the events fan out to.
    Bus {
        #[command(subcommand)]
        command: BusCommand,
    },
    /// Look at one aggregate's history.
    Inspect {
        #[command(subcommand)]
        command: inspect::InspectCommand,
    },
}

#[derive(Subcommand)]
enum WorkspacesCommand {
    /// Create a workspace; prints its id.
    Create { name: String },
    /// List the workspaces.
    List,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key; prints the key, which is shown this once.
    Create {
        #[arg(long)]
        workspace: uuid::Uuid,
        /// read, write or admin (admin includes write, write includes read); repeatable.
        #[arg(long = "scope", required = true)]
        scopes: Vec<convo_gateway::Scope>,
        /// A name to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List a workspace's live keys (never their secrets).
    List {
        #[arg(long)]
        workspace: uuid::Uuid,
    },
    /// Revoke a key by its id (the part after `cvk_`, before the next `_`).
    Revoke { key_id: String },
}

/// How webhooks are delivered (docs/WEBHOOKS.md).
#[derive(Args)]
struct WebhookSettings {
    /// When each attempt of a delivery is made, after the one before: Standard Webhooks'
    /// schedule by default (units ms, s, m, h).
    #[arg(long, env = "CONVO_WEBHOOK_SCHEDULE", default_value = "0,5s,5m,30m,2h,5h,10h,14h,20h,24h",
          value_parser = convo_webhooks::parse_schedule)]
    webhook_schedule: std::vec::Vec<std::time::Duration>,
    /// An attempt not answered within this many seconds has failed.
    #[arg(long, env = "CONVO_WEBHOOK_TIMEOUT_SECS", default_value_t = 15)]
    webhook_timeout_secs: u64,
    /// Deliver to http URLs and to loopback, private and link-local addresses too: for
    /// development and tests only (by default only https to public addresses).
    #[arg(long, env = "CONVO_WEBHOOK_ALLOW_INSECURE")]
    webhook_allow_insecure: bool,
    /// How many days delivery attempts are kept in the attempt log.
    #[arg(long, env = "CONVO_WEBHOOK_RETENTION_DAYS", default_value_t = 30)]
    webhook_retention_days: u64,
    /// How many seconds a rotated endpoint secret keeps signing beside the new one.
    #[arg(long, env = "CONVO_WEBHOOK_ROTATION_OVERLAP_SECS", default_value_t = 24 * 3600)]
    webhook_rotation_overlap_secs: u64,
    /// Requests to one endpoint at a time at most (each conversation's deliveries one at a
    /// time, in order).
    #[arg(long, env = "CONVO_WEBHOOK_CONCURRENCY", default_value_t = 32)]
    webhook_concurrency: usize,
    /// After how many days of attempts that all failed an endpoint is disabled (fractions
    /// allowed: 0.5 is twelve hours).
    #[arg(long, env = "CONVO_WEBHOOK_DISABLE_AFTER_DAYS", default_value_t = 5.0)]
    webhook_disable_after_days: f64,
    /// The key that seals webhook secrets and signing keys at rest: 32 random bytes in base64
    /// (`openssl rand -base64 32`), the same on every node sharing a database. Without it, the
    /// key in the data directory's `convo.secrets-key`, made on the first start. Prefer the
    /// variable to the flag, which others on the machine can see. Empty is the same as not set.
    #[arg(long, env = "CONVO_SECRETS_KEY", hide_env_values = true)]
    secrets_key: Option<String>,
}

impl WebhookSettings {
    fn config(&self, secrets_key: convo_webhooks::SecretsKey) -> convo_webhooks::WebhookConfig {
        convo_webhooks::WebhookConfig {
            schedule: self.webhook_schedule.clone(),
            timeout: std::time::Duration::from_secs(self.webhook_timeout_secs.max(1)),
            allow_insecure: self.webhook_allow_insecure,
            concurrency_per_endpoint: self.webhook_concurrency.max(1),
            retention: std::time::Duration::from_secs(self.webhook_retention_days.max(1) * 24 * 3600),
            rotation_overlap: std::time::Duration::from_secs(self.webhook_rotation_overlap_secs),
            disable_after: std::time::Duration::try_from_secs_f64(self.webhook_disable_after_days.max(0.0) * 86_400.0)
                .unwrap_or(std::time::Duration::MAX),
            secrets_key,
        }
    }
}

/// The gateway's limits.
#[derive(Args)]
struct LimitSettings {
    /// Largest request body, in bytes.
    #[arg(long, env = "CONVO_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    body_limit_bytes: usize,
    /// Longest a request may run, in seconds.
    #[arg(long, env = "CONVO_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    request_timeout_secs: u64,
    /// Requests per second per API key (0: no limit); bursts of twice that are allowed.
    #[arg(long, env = "CONVO_RATE_LIMIT_PER_SEC", default_value_t = 1000)]
    rate_limit_per_sec: u32,
    /// Events a live-stream client may have pending; one whose buffer stays full for 2 s is
    /// disconnected.
    #[arg(long, env = "CONVO_STREAM_BUFFER", default_value_t = 1024)]
    stream_buffer: usize,
}

impl LimitSettings {
    fn gateway_config(&self) -> convo_gateway::GatewayConfig {
        use std::num::NonZeroU32;
        convo_gateway::GatewayConfig {
            body_limit: self.body_limit_bytes,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_secs.max(1)),
            rate_limit: NonZeroU32::new(self.rate_limit_per_sec).map(|per_second| convo_gateway::RateLimit {
                per_second,
                burst: per_second.saturating_mul(NonZeroU32::new(2).expect("non-zero")),
            }),
            stream_buffer: self.stream_buffer,
            ..convo_gateway::GatewayConfig::default()
        }
    }
}

#[derive(Subcommand)]
enum ProjectionsCommand {
    /// Each read model's checkpoint and how many events it has yet to fold.
    Status,
    /// Rebuild read models from the first event into fresh tables, then swap them in; queries
    /// keep being served from the live tables meanwhile.
    Rebuild {
        /// One read model (default: all of them, in one pass over the log).
        name: Option<String>,
    },
    /// Rebuild read models into scratch tables and compare them with the live ones.
    Verify {
        /// One read model (default: all).
        name: Option<String>,
    },
}

#[derive(Subcommand)]
enum BusCommand {
    /// Compare the stream with the log: every event once, in log order, nothing else. Exits
    /// non-zero on any difference, also on events not published yet once --wait-secs is over.
    Verify {
        #[command(flatten)]
        bus: BusSettings,
        /// How long to wait for the publisher to reach the log's head.
        #[arg(long, default_value_t = 0)]
        wait_secs: u64,
    },
}

/// What a `convo serve` node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Role {
    Api,
    Worker,
    All,
}

impl Role {
    fn api(self) -> bool {
        self != Role::Worker
    }

    fn worker(self) -> bool {
        self != Role::Api
    }
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
    /// What every subject starts with (`<prefix>.<workspace>.<aggregate>.<id>.<event>`): give
    /// two deployments sharing one NATS account prefixes (and streams) of their own.
    #[arg(long, env = "CONVO_NATS_SUBJECT_PREFIX", default_value = convo_bus::SUBJECT_PREFIX,
          value_parser = subject_prefix)]
    nats_subject_prefix: String,
}

/// One or more NATS tokens separated by dots, without wildcards or whitespace.
fn subject_prefix(value: &str) -> Result<String, String> {
    let valid = value.split('.').all(|token| {
        !token.is_empty() && !token.contains(['*', '>']) && !token.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if valid { Ok(value.to_owned()) } else { Err("dot-separated NATS tokens, without `*`, `>` or spaces".into()) }
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
    // Structured JSON lines by default (CONVO_LOG_FORMAT=text for people at a terminal).
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONVO_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("CONVO_LOG_FORMAT").is_ok_and(|f| f == "text") {
        logs.init();
    } else {
        logs.json().flatten_event(true).with_current_span(true).with_span_list(false).init();
    }
    let cli = Cli::parse();
    let s = &cli.store;
    let backend = backend::open(s.database_url.as_deref(), &s.data_dir, s.db_max_connections).await?;
    match cli.command {
        Command::Migrate => {
            tracing::info!(backend = backend.name(), "schema is up to date");
            Ok(())
        }
        Command::Serve { listen, role, bus, webhooks, limits } => {
            let embedded = s.database_url.is_none();
            let key = secrets_key(webhooks.secrets_key.as_deref(), &s.data_dir, embedded)?;
            serve(backend, listen, role, bus, webhooks.config(key), limits.gateway_config(), embedded).await
        }
        Command::Workspaces { command } => workspaces(backend, command).await,
        Command::Keys { command } => keys(backend, command).await,
        Command::Events { command: EventsCommand::Tail { after, no_follow } } => tail(backend, after, no_follow).await,
        Command::Projections { command } => projections(backend, command).await,
        Command::Export(args) => {
            let log = convo_store::EventLog::new(backend, convo_store::LogNotifier::default());
            convo_export::run(&log, &args).await.map(|_| ()).map_err(Into::into)
        }
        Command::Bus { command: BusCommand::Verify { bus, wait_secs } } => verify_bus(backend, bus, wait_secs).await,
        Command::Inspect { command } => inspect::run(backend, command).await,
    }
}

async fn serve(
    backend: backend::AnyBackend,
    listen: SocketAddr,
    role: Role,
    bus: BusSettings,
    webhooks: convo_webhooks::WebhookConfig,
    config: convo_gateway::GatewayConfig,
    embedded: bool,
) -> anyhow::Result<()> {
    let name = backend.name();
    if embedded {
        first_run(&backend).await?;
    }
    secrets_at_rest(&backend, &webhooks.secrets_key).await;
    let read = Arc::new(ReadModels::new(&backend));
    let engine = Arc::new(Engine::new(backend, Arc::new(SystemClock)));
    let mut runners = match role {
        Role::All => read.spawn(&engine.log),
        // A worker announces how far its runners are (LISTEN/NOTIFY on PostgreSQL)...
        Role::Worker => {
            let mut runners = read.spawn(&engine.log);
            runners.extend(engine.backend.relay_progress(read.statuses(), vec![]));
            runners
        }
        // ...and an API node, which runs no runner, follows that, so a read-your-writes wait
        // there ends when a worker has folded; polling the stored checkpoints covers a missed
        // notification.
        Role::Api => {
            let mut runners = engine.backend.relay_progress(vec![], read.statuses());
            runners.push(read.watch(std::time::Duration::from_secs(1)));
            runners
        }
    };
    runners.extend(engine.backend.relay_commits(engine.log.notifier()));
    let (log, backend) = (engine.log.clone(), engine.backend.clone());
    // The embedded default has no bus: in-process followers (the read models, the live stream)
    // follow the log itself, woken by this process's commits.
    let bus_status = match bus.nats_url.filter(|_| role.worker()) {
        Some(url) => {
            let max_age = std::time::Duration::from_secs(bus.nats_max_age_secs);
            let nats = convo_bus::JetStreamBus::connect(&url, &bus.nats_stream, &bus.nats_subject_prefix, max_age)
                .await
                .with_context(|| format!("connecting to NATS at {url}"))?;
            tracing::info!(
                stream = bus.nats_stream,
                prefix = bus.nats_subject_prefix,
                "publishing events to NATS JetStream"
            );
            let status = convo_store::ProjectionStatus::new("bus");
            let follower = status.clone();
            runners.push(tokio::spawn(async move { convo_bus::publish(nats, log, &backend, 500, follower).await }));
            Some(status)
        }
        None => None,
    };
    if role.worker() {
        runners.push(tokio::spawn(purge_idempotency_keys(engine.backend.sql())));
        runners.extend(convo_webhooks::spawn(&engine, webhooks.clone()));
    }
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let config = convo_gateway::GatewayConfig {
        shutdown: Some(shutdown),
        bus: bus_status,
        serve_api: role.api(),
        webhooks,
        ..config
    };
    let app = convo_gateway::router(engine, read, &config);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(%listen, backend = name, ?role, "convo is serving");
    // On SIGTERM or Ctrl-C: stop accepting, end live streams, finish in-flight requests.
    let graceful = async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        stop.send_replace(true);
    };
    axum::serve(listener, app).with_graceful_shutdown(graceful).await.context("serving HTTP")?;
    runners.iter().for_each(tokio::task::JoinHandle::abort);
    // Aborted runners let their leases go: another worker takes over at once.
    for runner in runners {
        let _ = runner.await;
    }
    convo_store::released(std::time::Duration::from_secs(2)).await;
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
        let pages = engine.log.read_to_head(after, BATCH);
        Box::pin(pages.map(|page| page.map(|events| events.into_iter().map(Arc::new).collect())))
            as std::pin::Pin<Box<dyn futures::Stream<Item = _> + Send>>
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
            println!("{:<14} {:>20} {:>12}", "read model", "checkpoint", "events behind");
            for (name, checkpoint) in read.checkpoints().await? {
                let behind = sql
                    .scalar(
                        &sql.sql("SELECT count(*) FROM events WHERE global_position > {1}"),
                        &[convo_store::SqlValue::Int(checkpoint)],
                    )
                    .await?
                    .unwrap_or(0);
                println!("{name:<14} {checkpoint:>20} {behind:>12}");
            }
            println!("log head: {head}");
        }
        ProjectionsCommand::Rebuild { name } => {
            let total = sql.scalar("SELECT count(*) FROM events", &[]).await?.unwrap_or(0);
            let bar = indicatif::ProgressBar::new(u64::try_from(total).unwrap_or(0));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{prefix:>9} [{bar:40}] {pos}/{len} events {per_sec} {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let started = std::time::Instant::now();
            // All of them: one pass over the log feeds every model at once.
            let (label, folded) = match name {
                None => {
                    bar.set_prefix("all");
                    ("every read model".to_owned(), read.rebuild_all(&engine.log, &|n| bar.set_position(n)).await?)
                }
                Some(name) => {
                    let name = pick(Some(name))?.remove(0);
                    bar.set_prefix(name.clone());
                    let folded = read.rebuild(&name, &engine.log, &|n| bar.set_position(n)).await?;
                    (name, folded)
                }
            };
            bar.finish();
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "{label}: rebuilt from {folded} events in {seconds:.2} s ({:.0} events/s)",
                folded as f64 / seconds.max(1e-9)
            );
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

async fn verify_bus(backend: backend::AnyBackend, bus: BusSettings, wait_secs: u64) -> anyhow::Result<()> {
    let url = bus.nats_url.context("NATS_URL (or --nats-url) names the NATS server")?;
    let nats = convo_bus::JetStreamBus::open(&url, &bus.nats_stream, &bus.nats_subject_prefix)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))?;
    let log = convo_store::EventLog::new(backend, convo_store::LogNotifier::default());
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(wait_secs);
    let check = loop {
        let check = nats.verify(&log).await?;
        if check.behind == 0 || std::time::Instant::now() >= give_up {
            break check;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    println!("stream {}: {check}", bus.nats_stream);
    anyhow::ensure!(check.is_exact(), "the stream differs from the log");
    Ok(())
}

/// On the embedded default's first start, a workspace and an admin key, so the quick start
/// works with nothing else to set up. The key is printed once, on stdout.
async fn first_run(backend: &backend::AnyBackend) -> anyhow::Result<()> {
    let tenancy = convo_gateway::Tenancy::new(backend.sql());
    if !tenancy.workspaces().await?.is_empty() {
        return Ok(());
    }
    let workspace = tenancy.create_workspace("dev").await?;
    let scopes = [convo_gateway::Scope::Admin];
    let issued = tenancy.create_key(workspace.workspace_id, "dev", &scopes).await?;
    println!("Created workspace \"dev\" ({}) and an admin API key, shown only this once:", workspace.workspace_id);
    println!();
    println!("    export CONVO_API_KEY={}", issued.token);
    println!();
    println!("Send it as Authorization: Bearer $CONVO_API_KEY. More keys: convo keys create --help");
    Ok(())
}

/// The file of the key that seals secrets at rest when `CONVO_SECRETS_KEY` is not set, in the
/// data directory (beside the embedded database).
const SECRETS_KEY_FILE: &str = "convo.secrets-key";

/// The key that seals webhook secrets at rest (docs/WEBHOOKS.md, "Secrets at rest"):
/// `CONVO_SECRETS_KEY`, else the key file in the data directory, made on the first start. On
/// the embedded default that is all there is to it; on PostgreSQL, whose nodes must share one
/// key, a node without the variable still starts, with the key file, and says so.
fn secrets_key(given: Option<&str>, data_dir: &Path, embedded: bool) -> anyhow::Result<convo_webhooks::SecretsKey> {
    // Set but empty is not set (a template or a compose file that passes an unset variable on).
    if let Some(text) = given.filter(|text| !text.trim().is_empty()) {
        let key =
            convo_webhooks::SecretsKey::from_base64(text).map_err(|e| anyhow::anyhow!("CONVO_SECRETS_KEY: {e}"))?;
        tracing::info!(key_id = key.id(), "webhook secrets are sealed with CONVO_SECRETS_KEY");
        return Ok(key);
    }
    let path = data_dir.join(SECRETS_KEY_FILE);
    let (key, created) = convo_webhooks::SecretsKey::load_or_create(&path).map_err(|e| {
        anyhow::anyhow!("the secrets key: {e}; or set CONVO_SECRETS_KEY (32 random bytes, `openssl rand -base64 32`)")
    })?;
    let file = path.display().to_string();
    if !embedded {
        tracing::warn!(
            key_id = key.id(),
            file,
            created,
            "CONVO_SECRETS_KEY is not set: webhook secrets are sealed with the key in this file, which only nodes \
             that share the file have. Every node sharing this PostgreSQL needs the same key: set CONVO_SECRETS_KEY \
             on each (docs/WEBHOOKS.md, Secrets at rest)"
        );
    } else if created {
        tracing::info!(
            key_id = key.id(),
            file,
            "made the key that seals webhook secrets at rest: keep it with the database, which cannot sign webhooks \
             without it"
        );
    } else {
        tracing::info!(key_id = key.id(), file, "webhook secrets are sealed with the key in this file");
    }
    Ok(key)
}

/// Seals the webhook secrets an older convo stored in clear, and says when secrets in the
/// database are sealed with another key than this node's (it cannot sign for them: their
/// deliveries wait, and a test delivery answers 503 `secretsKeyMismatch`).
async fn secrets_at_rest(backend: &backend::AnyBackend, key: &convo_webhooks::SecretsKey) {
    let webhooks = convo_webhooks::Webhooks::new(backend.sql(), key.clone());
    match webhooks.seal_in_clear().await {
        Ok(at_rest) if !at_rest.other_keys.is_empty() => tracing::error!(
            node_key = key.id(),
            sealed_with = at_rest.other_keys.join(","),
            "webhook secrets in this database are sealed with another secrets key than this node's: this node \
             cannot sign their deliveries nor test them until CONVO_SECRETS_KEY is the key they were sealed with"
        ),
        Ok(at_rest) if at_rest.sealed > 0 => {
            tracing::info!(
                sealed = at_rest.sealed,
                key_id = key.id(),
                "webhook secrets stored in clear are sealed now"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not look at the webhook secrets at rest"),
    }
}

/// Forgets idempotency keys older than 24 hours, hourly.
async fn purge_idempotency_keys(sql: backend::AnySql) {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(3600);
    // One worker purges (decision 0003); another takes over within two hours of its end. A late
    // purge by a stalled holder only deletes what is expired anyway, so it needs no fence.
    let lease = convo_store::Lease::new(sql.clone(), "idempotency_purge", 2 * EVERY);
    let keys = convo_gateway::Idempotency::new(sql, 0);
    let mut held = None;
    loop {
        held = match held {
            Some(fence) if lease.renew(&fence).await.unwrap_or(false) => Some(fence),
            _ => lease.acquire().await.ok().flatten(),
        };
        if held.is_some() {
            match keys.purge(chrono::Utc::now().timestamp_millis()).await {
                Ok(n) if n > 0 => tracing::info!(purged = n, "idempotency keys older than 24 hours forgotten"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
            }
        }
        tokio::time::sleep(EVERY).await;
    }
}

async fn workspaces(backend: backend::AnyBackend, command: WorkspacesCommand) -> anyhow::Result<()> {
    let tenancy = convo_gateway::Tenancy::new(backend.sql());
    match command {
        WorkspacesCommand::Create { name } => {
            let workspace = tenancy.create_workspace(&name).await?;
            println!("{}", workspace.workspace_id);
        }
        WorkspacesCommand::List => {
            for w in tenancy.workspaces().await? {
                println!("{}  {}  {}", w.workspace_id, w.created_at.to_rfc3339(), w.name);
            }
        }
    }
    Ok(())
}

async fn keys(backend: backend::AnyBackend, command: KeysCommand) -> anyhow::Result<()> {
    let tenancy = convo_gateway::Tenancy::new(backend.sql());
    match command {
        KeysCommand::Create { workspace, scopes, name } => {
            let issued = tenancy.create_key(workspace, &name, &scopes).await?;
            eprintln!("key {} ({}), shown only this once:", issued.key.key_id, scope_list(&issued.key.scopes));
            println!("{}", issued.token);
        }
        KeysCommand::List { workspace } => {
            let mut after: Option<String> = None;
            loop {
                let page = tenancy.keys(workspace, after.as_deref(), 500).await?;
                for k in &page {
                    println!("{}  {}  {}  {}", k.key_id, scope_list(&k.scopes), k.created_at.to_rfc3339(), k.name);
                }
                match page.last() {
                    Some(last) if page.len() == 500 => after = Some(last.key_id.clone()),
                    _ => break,
                }
            }
        }
        KeysCommand::Revoke { key_id } => {
            if !tenancy.revoke(None, &key_id).await? {
                anyhow::bail!("no live key {key_id}");
            }
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

fn scope_list(scopes: &[convo_gateway::Scope]) -> String {
    scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_subject_prefix_is_dot_separated_nats_tokens_without_wildcards() {
        for good in ["convo", "acme.convo", "tenant-1.events"] {
            assert_eq!(super::subject_prefix(good).as_deref(), Ok(good));
        }
        for bad in ["", "convo.", ".convo", "a..b", "convo.*", "convo.>", "my convo"] {
            assert!(super::subject_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
