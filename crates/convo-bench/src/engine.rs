//! The engine end to end: HTTP clients with keep-alive sending messages to random
//! conversations through the server under test (or, for the scale section, through several API
//! nodes in turn), and, under the heaviest load, how long an acknowledged command takes to show
//! in the conversation query.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use convo_gateway::{Scope, Tenancy};
use convo_store::Backend;
use convo_store_postgres::PostgresBackend;
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::Settings;
use crate::server::{Server, caught_up};
use crate::stats::Latencies;

/// A write not visible after this long counts as a failed probe.
const LAG_GIVE_UP: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct EngineResult {
    pub errors: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
    /// Projection lag sampled at this level.
    pub lag: Option<LagResult>,
    /// CPU the level cost.
    pub cpu: crate::cpu::Used,
    /// Every acknowledged command: its answer's `position` and when the answer arrived.
    pub acknowledged: Vec<(i64, Instant)>,
}

impl EngineResult {
    pub fn per_second(&self) -> f64 {
        self.latencies.count() as f64 / self.elapsed.as_secs_f64()
    }
}

#[derive(Debug, Default)]
pub struct LagResult {
    pub clients: usize,
    pub errors: usize,
    /// Acknowledged -> visible on the node that took the command.
    pub latencies: Latencies,
    /// Read-your-writes: how long the `min_position` read itself took, on the node that took
    /// the command and (with several nodes) on the next one.
    pub same_node: Latencies,
    pub cross_node: Latencies,
}

/// What a level's clients send.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Command {
    /// An agent's message to one of the conversations.
    #[default]
    Send,
    /// An inbound message from the contact of one of the conversations (known: its identity is
    /// held, its conversation recorded).
    InboundKnown,
    /// An inbound message from a number never seen: a new contact, its identity claimed and its
    /// conversation started, in one commit (decision 0005).
    InboundNew,
}

/// Where a level's clients send, and which commands they follow.
#[derive(Clone)]
pub struct Load {
    /// What they send.
    pub command: Command,
    /// The API nodes' base URLs: each client's consecutive commands go to the nodes in turn.
    pub nodes: Vec<String>,
    /// The clients send to the first `conversations` of the target's, at random.
    pub conversations: usize,
    /// Every n-th acknowledged command of each client is probed: read with `min_position` on the
    /// node that took it and, with several nodes, at the same moment on the next one.
    pub probe_every: Option<usize>,
}

/// The gateway's address, a write key, its workspace, the inbox and the conversations.
pub struct Target {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub workspace_id: Uuid,
    pub inbox_id: String,
    pub conversations: Vec<Uuid>,
}

impl Target {
    /// A workspace with a write key in the server's database, one SMS inbox (the window never
    /// closes) and `conversations` conversations, each opened by an inbound message.
    pub async fn prepare(pool: &PgPool, base: &str, conversations: usize) -> anyhow::Result<Self> {
        let tenancy = Tenancy::new(PostgresBackend::new(pool.clone()).sql());
        let workspace = tenancy.create_workspace("bench").await.context("creating the workspace")?;
        let key = tenancy
            .create_key(workspace.workspace_id, "bench", &[Scope::Write, Scope::Connector])
            .await
            .context("creating a key")?;
        let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().context("an HTTP client")?;
        let mut target = Target {
            http,
            base: base.to_owned(),
            key: key.token,
            workspace_id: workspace.workspace_id,
            inbox_id: String::new(),
            conversations: Vec::new(),
        };
        let inbox = target.post("/v1/inboxes", &json!({"name": "bench", "channel_type": "sms"})).await?;
        target.inbox_id = inbox["inbox_id"].as_str().context("the inbox answer has no inbox_id")?.to_owned();
        let target_ref = &target;
        let opened: Vec<anyhow::Result<Uuid>> = futures::stream::iter(0..conversations)
            .map(|i| async move { target_ref.open_conversation(&contact_number(i)).await })
            .buffer_unordered(16)
            .collect()
            .await;
        target.conversations = opened.into_iter().collect::<anyhow::Result<_>>()?;
        Ok(target)
    }

    /// A new conversation with `contact`, opened by an inbound message (which makes the contact).
    pub async fn open_conversation(&self, contact: &str) -> anyhow::Result<Uuid> {
        let body = json!({"inbox_id": self.inbox_id, "contact_id": contact, "sent_at": chrono::Utc::now(),
                          "content": {"type": "text", "body": "hello"}});
        let answer = self.post("/v1/inbound-messages", &body).await?;
        Ok(answer["conversation_id"].as_str().context("no conversation_id")?.parse()?)
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.post_as(&self.key, path, body).await
    }

    /// `POST path` with the key `key`: the parsed answer; anything but 2xx is an error.
    pub async fn post_as(&self, key: &str, path: &str, body: &Value) -> anyhow::Result<Value> {
        let answer = self.http.post(format!("{}{path}", self.base)).bearer_auth(key).json(body).send().await?;
        let status = answer.status();
        let text = answer.text().await?;
        anyhow::ensure!(status.is_success(), "POST {path} answered {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }

    /// `GET path`: the parsed answer; anything but 200 is an error.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let answer = self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.key).send().await?;
        let status = answer.status();
        let text = answer.text().await?;
        anyhow::ensure!(status == reqwest::StatusCode::OK, "GET {path} answered {status}: {text}");
        Ok(serde_json::from_str(&text)?)
    }
}

/// One measurement per entry of `settings.clients`, each with its projection lag; the lag of
/// the largest is the one the target is about.
pub async fn run(
    target: &Arc<Target>,
    pool: &PgPool,
    server: &mut Server,
    settings: &Settings,
    duration: Duration,
) -> anyhow::Result<(Vec<EngineResult>, LagResult)> {
    caught_up(pool, std::slice::from_mut(server), CATCH_UP).await?;
    let load = Arc::new(Load {
        command: Command::Send,
        nodes: vec![target.base.clone()],
        conversations: target.conversations.len(),
        probe_every: Some(settings.lag_every),
    });
    let heaviest = settings.clients.iter().copied().max().unwrap_or(1);
    let mut results = Vec::with_capacity(settings.clients.len());
    let mut lag = LagResult { clients: heaviest, ..LagResult::default() };
    let mut lag_taken = false;
    for &n in &settings.clients {
        let before = crate::cpu::Snapshot::take(server.pid().as_slice());
        let (mut result, level_lag) = level(target, &load, n, duration).await?;
        result.cpu = crate::cpu::Snapshot::take(server.pid().as_slice()).since(&before);
        eprintln!(
            "engine  {n:>3} clients: {:>8.0} cmd/s, p50 {:.2} ms, p99 {:.2} ms",
            result.per_second(),
            result.latencies.percentile_ms(50.0),
            result.latencies.percentile_ms(99.0)
        );
        if let Some(level_lag) = level_lag {
            if n == heaviest && !lag_taken {
                lag_taken = true;
                lag.errors += level_lag.errors;
                lag.latencies.extend(level_lag.latencies.clone());
            }
            result.lag = Some(level_lag);
        }
        results.push(result);
        // The next level starts with the read models idle, not folding this one's backlog.
        caught_up(pool, std::slice::from_mut(server), CATCH_UP).await?;
    }
    Ok((results, lag))
}

/// The longest the read models may take to fold what a level wrote.
pub const CATCH_UP: Duration = Duration::from_secs(120);

/// `clients` clients sending `load` for `duration`; with probes, what they saw.
pub async fn level(
    target: &Arc<Target>,
    load: &Arc<Load>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<(EngineResult, Option<LagResult>)> {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients).map(|i| tokio::spawn(client(target.clone(), load.clone(), i, deadline))).collect();
    let mut result = EngineResult {
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Latencies::default(),
        lag: None,
        cpu: crate::cpu::Used::default(),
        acknowledged: Vec::new(),
    };
    let mut probes = Vec::new();
    for task in futures::future::join_all(tasks).await {
        let (latencies, errors, client_probes, acknowledged) = task.context("an engine client panicked")?;
        result.latencies.extend(latencies);
        result.errors += errors;
        probes.extend(client_probes);
        result.acknowledged.extend(acknowledged);
    }
    result.elapsed = start.elapsed();
    let lag = match load.probe_every {
        None => None,
        Some(_) => {
            let mut lag = LagResult { clients, ..LagResult::default() };
            let (cross, probes): (Vec<bool>, Vec<Probe>) = probes.into_iter().unzip();
            for (cross, probe) in cross.into_iter().zip(futures::future::join_all(probes).await) {
                match probe.context("a lag probe panicked")? {
                    Ok((_, read)) if cross => lag.cross_node.push(read),
                    Ok((seen, read)) => {
                        lag.latencies.push(seen);
                        lag.same_node.push(read);
                    }
                    Err(e) => {
                        lag.errors += 1;
                        eprintln!("lag probe failed: {e:#}");
                    }
                }
            }
            Some(lag)
        }
    };
    Ok((result, lag))
}

/// A probe's acknowledged -> visible and its read's own duration.
type Probe = tokio::task::JoinHandle<anyhow::Result<(Duration, Duration)>>;

/// What one client did: its latencies, failed commands, probes, and each acknowledged
/// command's position with the moment it was acknowledged.
type ClientResult = (Latencies, usize, Vec<(bool, Probe)>, Vec<(i64, Instant)>);

/// Client number `index`: sends messages to random conversations of `load` until `deadline`,
/// one at a time, each to the next node in turn (starting at `index`); every `probe_every`-th
/// acknowledged one is handed to probes (`true`: on another node than the one that took it)
/// that do not hold the client back. Every acknowledged command's position is kept, with the
/// moment its answer arrived.
async fn client(target: Arc<Target>, load: Arc<Load>, index: usize, deadline: Instant) -> ClientResult {
    let (mut latencies, mut errors, mut probes, mut acknowledgements) =
        (Latencies::default(), 0, Vec::new(), Vec::new());
    let content = json!({"type": "text", "body": "a benchmark message of an ordinary length"});
    let send = json!({"actor": {"kind": "agent", "id": "bench"}, "content": content});
    let (mut sent, mut node) = (0usize, index % load.nodes.len());
    while Instant::now() < deadline {
        node = (node + 1) % load.nodes.len();
        let pick = fastrand::usize(..load.conversations);
        let conversation = target.conversations[pick];
        let (uri, body) = match load.command {
            Command::Send => (format!("{}/v1/conversations/{conversation}/messages", load.nodes[node]), send.clone()),
            Command::InboundKnown | Command::InboundNew => {
                let from = match load.command {
                    Command::InboundKnown => contact_number(pick),
                    _ => format!("+4916{index:03}{sent:07}"),
                };
                let body = json!({"inbox_id": target.inbox_id, "contact_id": from, "sent_at": chrono::Utc::now(),
                                  "content": content});
                (format!("{}/v1/inbound-messages", load.nodes[node]), body)
            }
        };
        let began = Instant::now();
        let answer = async {
            let answer = target.http.post(uri).bearer_auth(&target.key).json(&body).send().await?;
            let status = answer.status();
            let text = answer.text().await?;
            anyhow::ensure!(status == reqwest::StatusCode::CREATED, "{:?} answered {status}: {text}", load.command);
            anyhow::Ok(serde_json::from_str::<Value>(&text)?)
        }
        .await;
        let acknowledged = Instant::now();
        match answer {
            Ok(answer) => {
                latencies.push(acknowledged - began);
                if let Some(position) = answer["position"].as_i64() {
                    acknowledgements.push((position, acknowledged));
                }
                sent += 1;
                if load.probe_every.is_some_and(|every| sent.is_multiple_of(every)) {
                    let version = answer["version"].as_i64().unwrap_or(i64::MAX);
                    let position = answer["position"].as_i64().unwrap_or(i64::MAX);
                    let others = usize::from(load.nodes.len() > 1);
                    for (cross, node) in (node..=node + others).enumerate() {
                        let base = load.nodes[node % load.nodes.len()].clone();
                        let seen = probe(target.clone(), base, conversation, version, position, acknowledged);
                        probes.push((cross > 0, tokio::spawn(seen)));
                    }
                }
            }
            Err(e) => {
                errors += 1;
                if errors == 1 {
                    eprintln!("engine command failed: {e:#}");
                }
            }
        }
    }
    (latencies, errors, probes, acknowledgements)
}

/// Asks `base` for the conversation with `min_position` at the acknowledged command's position;
/// acknowledged -> answered, and how long the read itself took. The server answers as soon as
/// its read model has folded that far (it waits on the runner's progress, or on an API node on
/// the workers' progress notifications, up to its consistency wait), so one request measures
/// acknowledged -> visible without adding load. (Polling every millisecond instead added about
/// a thousand requests a second per probe in flight, which at this engine's rates starved the
/// runners it measured.)
async fn probe(
    target: Arc<Target>,
    base: String,
    conversation: Uuid,
    version: i64,
    position: i64,
    acknowledged: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let uri = format!("{base}/v1/conversations/{conversation}?min_position={position}");
    let asked = Instant::now();
    loop {
        let answer = target.http.get(&uri).bearer_auth(&target.key).send().await?;
        let status = answer.status();
        let text = answer.text().await?;
        // 503: not folded within the server's consistency wait; ask again.
        if status != reqwest::StatusCode::SERVICE_UNAVAILABLE {
            anyhow::ensure!(status.is_success(), "GET conversation answered {status}: {text}");
            let seen: Value = serde_json::from_str(&text)?;
            anyhow::ensure!(
                seen["version"].as_i64().is_some_and(|v| v >= version),
                "min_position {position} answered version {} before {version}",
                seen["version"]
            );
            return Ok((acknowledged.elapsed(), asked.elapsed()));
        }
        anyhow::ensure!(acknowledged.elapsed() < LAG_GIVE_UP, "version {version} not visible after {LAG_GIVE_UP:?}");
    }
}

/// The phone number of the contact of the target's conversation number `i`.
fn contact_number(i: usize) -> String {
    format!("+4917{i:08}")
}

/// An inbound message from a known contact against one from a new contact: the same clients,
/// one level each, with the CPU each cost (server and PostgreSQL per command, what the 1.3×
/// target of #18 is about).
#[derive(Debug)]
pub struct InboundResult {
    pub clients: usize,
    pub known: EngineResult,
    pub new: EngineResult,
}

/// Runs `clients` clients of inbound messages from known contacts, then from new ones, each
/// for `duration`, with the read models caught up before each and the CPU measured until they
/// have folded it.
pub async fn inbound(
    target: &Arc<Target>,
    pool: &PgPool,
    server: &mut Server,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<InboundResult> {
    let mut results = Vec::with_capacity(2);
    for command in [Command::InboundKnown, Command::InboundNew] {
        let load = Arc::new(Load {
            command,
            nodes: vec![target.base.clone()],
            conversations: target.conversations.len(),
            probe_every: None,
        });
        caught_up(pool, std::slice::from_mut(server), CATCH_UP).await?;
        let pids = server.pid();
        let before = crate::cpu::Snapshot::take(pids.as_slice());
        let (mut result, _) = level(target, &load, clients, duration).await?;
        caught_up(pool, std::slice::from_mut(server), CATCH_UP).await?;
        result.cpu = crate::cpu::Snapshot::take(pids.as_slice()).since(&before);
        eprintln!(
            "inbound {command:?} {clients:>3} clients: {:>8.0} cmd/s, p50 {:.2} ms, p99 {:.2} ms",
            result.per_second(),
            result.latencies.percentile_ms(50.0),
            result.latencies.percentile_ms(99.0)
        );
        results.push(result);
    }
    let new = results.pop().context("two runs")?;
    let known = results.pop().context("two runs")?;
    Ok(InboundResult { clients, known, new })
}
