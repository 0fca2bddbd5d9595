//! The engine under test: a `convo serve` process (the release binary, so its memory is its own;
//! one of several roles on one database for the scale section) or, for CI's smoke run, the same
//! gateway wired in this process. Either way it serves one scratch database, and "caught up" is
//! read from that database: every read model's checkpoint (`ReadModels::NAMES`) at the log's head.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use convo_domain::SystemClock;
use convo_gateway::GatewayConfig;
use convo_read::ReadModels;
use convo_store::{Backend, Engine};
use convo_store_postgres::PostgresBackend;
use sqlx::PgPool;

/// What a `convo serve` process does (`convo serve --role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Commands, queries and the read models' runners.
    All,
    /// Commands and queries; the read models' progress comes from workers (LISTEN/NOTIFY).
    Api,
    /// The read models' runners, under leases; only /healthz, /readyz and /metrics.
    Worker,
}

impl Role {
    pub fn arg(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }
}

pub enum Server {
    Process { child: Child, base: String, bin: PathBuf },
    InProcess { base: String, tasks: Vec<tokio::task::JoinHandle<()>>, pool: PgPool },
}

impl Server {
    /// Starts `bin serve --role ROLE` against `url` (already migrated), or the gateway in this
    /// process (`Role::All` only).
    pub async fn start(url: &str, bin: Option<&Path>, db_pool: u32, role: Role) -> anyhow::Result<Self> {
        Self::start_with(url, bin, db_pool, role, &[]).await
    }

    /// [`Server::start`], with `env` added to the process's environment (a process only: the
    /// gateway in this process runs no webhooks and reads no settings).
    pub async fn start_with(
        url: &str,
        bin: Option<&Path>,
        db_pool: u32,
        role: Role,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let server = match bin {
            Some(bin) => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
                let child = Command::new(bin)
                    .args(["serve", "--role", role.arg()])
                    .env("DATABASE_URL", url)
                    .env("CONVO_LISTEN", format!("127.0.0.1:{port}"))
                    .env("CONVO_RATE_LIMIT_PER_SEC", "0")
                    .env("CONVO_DB_MAX_CONNECTIONS", db_pool.to_string())
                    .env("CONVO_LOG", "warn")
                    // Webhooks to the benchmark's receiver, on http://127.0.0.1.
                    .env("CONVO_WEBHOOK_ALLOW_INSECURE", "true")
                    // One key for every server of this run, as nodes sharing a database have.
                    .env("CONVO_SECRETS_KEY", secrets_key())
                    .envs(env.iter().copied())
                    .env_remove("NATS_URL")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .with_context(|| format!("starting {} serve --role {}", bin.display(), role.arg()))?;
                Server::Process { child, base: format!("http://127.0.0.1:{port}"), bin: bin.to_path_buf() }
            }
            None => {
                anyhow::ensure!(role == Role::All, "only `--role all` runs in process");
                anyhow::ensure!(env.is_empty(), "the gateway in process takes no environment");
                let pool = convo_store_postgres::connect(url, db_pool).await.context("connecting the engine")?;
                let backend = PostgresBackend::new(pool.clone());
                let read = Arc::new(ReadModels::new(&backend));
                let engine = Arc::new(Engine::new(backend, Arc::new(SystemClock)));
                let mut tasks = read.spawn(&engine.log);
                tasks.extend(engine.backend.relay_commits(engine.log.notifier()));
                let config = GatewayConfig { rate_limit: None, ..GatewayConfig::default() };
                let router = convo_gateway::router(engine, read, &config);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a port")?;
                let base = format!("http://{}", listener.local_addr()?);
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = axum::serve(listener, router).await {
                        eprintln!("the in-process gateway stopped: {e}");
                    }
                }));
                Server::InProcess { base, tasks, pool }
            }
        };
        server.wait_healthy().await?;
        Ok(server)
    }

    pub fn base(&self) -> &str {
        match self {
            Server::Process { base, .. } | Server::InProcess { base, .. } => base,
        }
    }

    /// What the memory figure is of.
    pub fn describe(&self) -> String {
        match self {
            Server::Process { bin, .. } => format!("the `{} serve` process", bin.display()),
            Server::InProcess { .. } => {
                "the benchmark process (gateway in process: server, clients and harness together)".to_owned()
            }
        }
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let url = format!("{}/healthz", self.base());
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            if reqwest::get(&url).await.is_ok_and(|a| a.status().is_success()) {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < give_up, "the server did not answer {url} within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Optimistic-concurrency conflicts the server has retried since it started, from its
    /// `/metrics` (`convo_command_conflicts_total`, summed over aggregates).
    pub async fn conflicts_retried(&self) -> anyhow::Result<u64> {
        let metrics = reqwest::get(format!("{}/metrics", self.base())).await?.error_for_status()?.text().await?;
        let values = metrics.lines().filter(|l| l.starts_with("convo_command_conflicts_total"));
        Ok(values.filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum::<f64>() as u64)
    }

    /// The server's process id (`None`: it runs in the benchmark's process).
    pub fn pid(&self) -> Option<u32> {
        match self {
            Server::Process { child, .. } => Some(child.id()),
            Server::InProcess { .. } => None,
        }
    }

    /// Peak resident set (VmHWM) of the server, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = match self {
            Server::Process { child, .. } => std::fs::read_to_string(format!("/proc/{}/status", child.id())),
            Server::InProcess { .. } => std::fs::read_to_string("/proc/self/status"),
        }
        .ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Fails when a `convo serve` process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Server::Process { child, .. } = self
            && let Some(status) = child.try_wait()?
        {
            anyhow::bail!("the server exited: {status}");
        }
        Ok(())
    }

    pub async fn stop(self) {
        match self {
            Server::Process { mut child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::InProcess { tasks, pool, .. } => {
                tasks.iter().for_each(tokio::task::JoinHandle::abort);
                pool.close().await;
            }
        }
    }
}

/// Waits until every read model's stored checkpoint has reached the log's head (and fails when
/// one of `servers` has exited); how long it took.
pub async fn caught_up(pool: &PgPool, servers: &mut [Server], limit: Duration) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let names: Vec<String> = ReadModels::<PostgresBackend>::NAMES.iter().map(|n| (*n).to_owned()).collect();
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events").fetch_one(pool).await?;
    loop {
        let behind: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM unnest($1::text[]) AS n(name)
               LEFT JOIN projection_checkpoints cp ON cp.name = n.name
              WHERE coalesce(cp.position, 0) < $2",
        )
        .bind(&names)
        .bind(head)
        .fetch_one(pool)
        .await?;
        if behind == 0 {
            return Ok(started.elapsed());
        }
        servers.iter_mut().try_for_each(Server::check_alive)?;
        anyhow::ensure!(
            started.elapsed() < limit,
            "{behind} read model(s) did not reach the log's head ({head}) in {limit:?} (one may have stopped: see the server's log)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The key that seals webhook secrets (`CONVO_SECRETS_KEY`): random, the same for every server
/// this process starts.
fn secrets_key() -> &'static str {
    use base64::Engine;
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()].iter().flat_map(|u| *u.as_bytes()).collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    })
}
