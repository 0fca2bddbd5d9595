//! Webhooks, two measurements, each on a fresh scratch database with its own `convo serve --role
//! all` process (which runs the fan-out and the sender) and one endpoint for every event type at
//! a receiver in this process (axum on 127.0.0.1, answering at once and verifying every
//! delivery's `v1` signature). Under the engine's load: the lag from each command's
//! acknowledgement to its event's arrival at the receiver, and whether every event arrived once.
//! A receiver's outage: it answers 503 while a backlog is appended with SQL, then 204, and the
//! time until the whole backlog has arrived.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use convo_gateway::{Scope, Tenancy};
use convo_store::Backend;
use convo_store_postgres::PostgresBackend;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::Settings;
use crate::engine::{CATCH_UP, EngineResult, Load, Target, level};
use crate::scratch::ScratchDb;
use crate::seed::Conversations;
use crate::server::{Role, Server, caught_up};
use crate::stats::Latencies;

/// The server's retry schedule (`CONVO_WEBHOOK_SCHEDULE`): `SCHEDULE_START`, then 1 s
/// `SECONDS_AFTER` times. With the receiver's `Retry-After: 1` during the outage, a refused
/// delivery is tried again 1 s later (at most 1.1 s: the schedule's ±10 % jitter), for five
/// minutes before one is given up: longer than the outage lasts. The default schedule's second
/// attempt comes 5 s after the first and its third 5 min after that: the drain would measure the
/// schedule.
pub const SCHEDULE_START: &str = "0,100ms,200ms,500ms";
pub const SECONDS_AFTER: usize = 300;

pub fn schedule() -> String {
    format!("{SCHEDULE_START}{}", ",1s".repeat(SECONDS_AFTER))
}
/// Events per conversation of the backlog (`seed.rs`: started + inbound messages).
pub const BACKLOG_EVENTS_PER_CONVERSATION: u32 = 2;
/// The longest the load's events may take to arrive once the load has ended.
const ARRIVAL: Duration = Duration::from_secs(120);
/// Waiting for deliveries ends when none has arrived for this long.
const STALLED: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct WebhooksResult {
    pub clients: usize,
    pub duration: Duration,
    pub under_load: UnderLoad,
    pub drain: Drain,
}

/// The engine's load, and its events' deliveries.
#[derive(Debug)]
pub struct UnderLoad {
    /// Commands, their latencies and errors, and the CPU from the load's start until its last
    /// event had arrived.
    pub run: EngineResult,
    /// The load's events: every event of the workspace appended after the endpoint was created.
    pub events: Delivered,
    /// Per command: acknowledged -> its event's first arrival at the receiver.
    pub lag: Latencies,
    /// Commands whose event arrived before their answer did (counted as 0 in `lag`).
    pub early: usize,
    /// The load's start -> the arrival of its last event.
    pub span: Duration,
    /// Events of the load that had not arrived when the load ended, and how long after its end
    /// the last one arrived.
    pub behind_at_end: u64,
    pub after_end: Duration,
    /// Requests without a valid signature, or whose `webhook-id` is not `msg_<position>`.
    pub bad: u64,
}

/// A backlog appended during a receiver's outage, and its drain.
#[derive(Debug)]
pub struct Drain {
    pub events: Delivered,
    /// The outage: appending the backlog (`append`), the fan-out writing its deliveries and the
    /// read models folding it; the attempts the receiver refused meanwhile.
    pub outage: Duration,
    pub append: Duration,
    pub refused: u64,
    /// The receiver answering again -> the backlog's last arrival, and its CPU.
    pub took: Duration,
    pub cpu: crate::cpu::Used,
    pub bad: u64,
}

/// What arrived of a set of events.
#[derive(Debug, Default)]
pub struct Delivered {
    pub events: u64,
    /// Distinct events that arrived (and were answered 204).
    pub arrived: u64,
    pub missing: u64,
    /// Accepted deliveries beyond the first of their event.
    pub repeats: u64,
}

impl WebhooksResult {
    /// Failed commands, deliveries that did not verify, and events that never arrived.
    pub fn errors(&self) -> usize {
        let (load, drain) = (&self.under_load, &self.drain);
        load.run.errors + (load.bad + load.events.missing + drain.bad + drain.events.missing) as usize
    }
}

impl UnderLoad {
    pub fn deliveries_per_second(&self) -> f64 {
        self.events.arrived as f64 / self.span.as_secs_f64().max(1e-9)
    }
}

impl Drain {
    pub fn per_second(&self) -> f64 {
        self.events.arrived as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

/// An event's accepted deliveries: the first one's arrival and how many.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    first: Instant,
    count: u32,
}

#[derive(Debug, Default)]
struct Seen {
    /// By position.
    arrivals: HashMap<i64, Arrival>,
    refused: u64,
    bad: u64,
}

/// The receiver's shared state.
#[derive(Default)]
struct Receiver {
    /// The endpoint's secret, once it exists.
    verifier: OnceLock<standardwebhooks::Webhook>,
    /// Answer 503 (`Retry-After: 1`) instead of 204.
    refuse: AtomicBool,
    seen: Mutex<Seen>,
}

impl Receiver {
    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The delivery's position, if its signature verifies and its `webhook-id` is
    /// `msg_<the body's position>`.
    fn check(&self, headers: &HeaderMap, body: &[u8]) -> anyhow::Result<i64> {
        anyhow::ensure!(headers.contains_key("webhook-signature"), "no webhook-signature header");
        let verifier = self.verifier.get().context("a delivery before the endpoint existed")?;
        verifier.verify(body, headers).map_err(|e| anyhow::anyhow!("the signature does not verify: {e}"))?;
        let position = serde_json::from_slice::<Value>(body)?["position"].as_i64().context("no position")?;
        let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        anyhow::ensure!(id == format!("msg_{position}"), "webhook-id {id:?} for position {position}");
        Ok(position)
    }
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = Instant::now();
    let position = match receiver.check(&headers, &body) {
        Ok(position) => position,
        Err(e) => {
            let mut seen = receiver.seen();
            seen.bad += 1;
            if seen.bad == 1 {
                eprintln!("webhooks: a bad delivery: {e:#}");
            }
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    if receiver.refuse.load(Ordering::Relaxed) {
        receiver.seen().refused += 1;
        return (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")]).into_response();
    }
    receiver
        .seen()
        .arrivals
        .entry(position)
        .and_modify(|a| a.count += 1)
        .or_insert(Arrival { first: arrived, count: 1 });
    StatusCode::NO_CONTENT.into_response()
}

/// Both measurements, each in a fresh scratch database with its own server and receiver.
pub async fn run(
    settings: &Settings,
    bin: &Path,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<WebhooksResult> {
    let load =
        in_world(settings, bin, "webhooks", settings.conversations, async |w| under_load(w, clients, duration).await)
            .await
            .context("webhooks under load")?;
    eprintln!(
        "webhooks {clients} clients: {:.0} cmd/s, {:.0} deliveries/s, lag p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, \
         {} missing, {} repeated",
        load.run.per_second(),
        load.deliveries_per_second(),
        load.lag.percentile_ms(50.0),
        load.lag.percentile_ms(99.0),
        load.lag.percentile_ms(100.0),
        load.events.missing,
        load.events.repeats,
    );
    let drain = in_world(settings, bin, "webhooks_drain", 0, async |w| drain(w, settings.webhook_backlog).await)
        .await
        .context("webhooks' drain")?;
    eprintln!(
        "webhooks drain of {} events: {:.1} s, {:.0} events/s, {} missing, {} repeated",
        drain.events.events,
        drain.took.as_secs_f64(),
        drain.per_second(),
        drain.events.missing,
        drain.events.repeats,
    );
    Ok(WebhooksResult { clients, duration, under_load: load, drain })
}

/// One measurement's world: a `convo serve --role all` process on a fresh scratch database, the
/// receiver, and a workspace (one inbox, `Target`'s conversations) with one endpoint for every
/// event type at the receiver.
struct World {
    pool: PgPool,
    server: Server,
    receiver: Arc<Receiver>,
    target: Arc<Target>,
    workspace: String,
    endpoint_id: String,
    /// The endpoint gets the events after this position.
    after: i64,
}

impl World {
    fn pids(&self) -> Vec<u32> {
        self.server.pid().into_iter().collect()
    }
}

/// Creates a world, measures it, and drops it whatever happened.
async fn in_world<T>(
    settings: &Settings,
    bin: &Path,
    purpose: &str,
    conversations: usize,
    measure: impl AsyncFnOnce(&mut World) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let db = ScratchDb::create(&settings.database_url, purpose).await?;
    let result = async {
        let pool = convo_store_postgres::connect(&db.url, 4).await.context("connecting to the webhooks' database")?;
        convo_store_postgres::migrate(&pool).await.context("migrating the webhooks' database")?;
        let receiver = Arc::new(Receiver::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding the receiver's port")?;
        let hook = format!("http://{}/hook", listener.local_addr()?);
        let router = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(receiver.clone());
        let receiving = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("the webhooks' receiver stopped: {e}");
            }
        });
        let schedule = schedule();
        let env = [("CONVO_WEBHOOK_SCHEDULE", schedule.as_str())];
        let result = match Server::start_with(&db.url, Some(bin), settings.db_pool, Role::All, &env).await {
            Ok(mut server) => match endpoint(&pool, &mut server, &receiver, &hook, conversations).await {
                Ok((target, endpoint_id, after)) => {
                    let workspace = target.workspace_id.to_string();
                    let mut world =
                        World { pool: pool.clone(), server, receiver, target, workspace, endpoint_id, after };
                    let measured = measure(&mut world).await;
                    world.server.stop().await;
                    measured
                }
                Err(e) => {
                    server.stop().await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        receiving.abort();
        pool.close().await;
        result
    }
    .await;
    db.drop_db().await;
    result
}

/// The workspace with `conversations` conversations, an admin key, and the endpoint at `hook`
/// (the receiver now knows its secret): the target, the endpoint's id and its `after_position`.
/// Returns once the read models have folded the setup.
async fn endpoint(
    pool: &PgPool,
    server: &mut Server,
    receiver: &Receiver,
    hook: &str,
    conversations: usize,
) -> anyhow::Result<(Arc<Target>, String, i64)> {
    let target = Arc::new(Target::prepare(pool, server.base(), conversations).await?);
    // Creating an endpoint takes the admin scope, which the load's key does not have.
    let tenancy = Tenancy::new(PostgresBackend::new(pool.clone()).sql());
    let admin = tenancy.create_key(target.workspace_id, "bench-admin", &[Scope::Admin]).await?.token;
    let endpoint = target.post_as(&admin, "/v1/webhooks", &json!({"url": hook, "event_types": []})).await?;
    let secret = endpoint["secret"].as_str().context("the webhook's answer has no secret")?;
    let endpoint_id = endpoint["endpoint_id"].as_str().context("the webhook's answer has no endpoint_id")?.to_owned();
    let after = endpoint["after_position"].as_i64().context("the webhook's answer has no after_position")?;
    let verifier = standardwebhooks::Webhook::new(secret).map_err(|e| anyhow::anyhow!("the webhook's secret: {e}"))?;
    receiver.verifier.set(verifier).map_err(|_| anyhow::anyhow!("a second endpoint"))?;
    caught_up(pool, std::slice::from_mut(server), CATCH_UP).await?;
    Ok((target, endpoint_id, after))
}

/// The engine's load for `duration`; then waits until every event it appended has arrived.
async fn under_load(w: &mut World, clients: usize, duration: Duration) -> anyhow::Result<UnderLoad> {
    let load = Arc::new(Load {
        command: crate::engine::Command::Send,
        nodes: vec![w.target.base.clone()],
        conversations: w.target.conversations.len(),
        probe_every: None,
    });
    let cpu = crate::cpu::Snapshot::take(&w.pids());
    let started = Instant::now();
    let (mut run, _) = level(&w.target, &load, clients, duration).await?;
    let ended = Instant::now();
    // Every event of the workspace since the endpoint was created: the load's.
    let (_, expected) = appended(&w.pool, &w.workspace, w.after).await?;
    let (events, last) = arrived(&w.receiver, &mut w.server, &expected, ARRIVAL).await?;
    run.cpu = crate::cpu::Snapshot::take(&w.pids()).since(&cpu);
    let last = last.unwrap_or(ended);
    let (mut lag, mut early) = (Latencies::default(), 0);
    let seen = w.receiver.seen();
    for (position, acknowledged) in &run.acknowledged {
        if let Some(arrival) = seen.arrivals.get(position) {
            early += usize::from(arrival.first < *acknowledged);
            lag.push(arrival.first.saturating_duration_since(*acknowledged));
        }
    }
    let behind_at_end = expected.iter().filter(|p| seen.arrivals.get(p).is_none_or(|a| a.first > ended)).count() as u64;
    Ok(UnderLoad {
        run,
        events,
        lag,
        early,
        span: last.saturating_duration_since(started),
        behind_at_end,
        after_end: last.saturating_duration_since(ended),
        bad: seen.bad,
    })
}

/// The outage: the receiver refuses while `backlog` events are appended, the fan-out writes
/// their deliveries and the read models fold them; then it answers again, and the backlog drains.
async fn drain(w: &mut World, backlog: u64) -> anyhow::Result<Drain> {
    w.receiver.refuse.store(true, Ordering::Relaxed);
    let outage = Instant::now();
    let log = Conversations {
        prefix: &format!("w{:08x}.", fastrand::u32(..)),
        workspace: &w.workspace,
        inbox: &w.target.inbox_id,
        count: u32::try_from(backlog.div_ceil(u64::from(BACKLOG_EVENTS_PER_CONVERSATION)))?,
        events: BACKLOG_EVENTS_PER_CONVERSATION,
    };
    log.append(&w.pool).await?;
    let append = outage.elapsed();
    let (_, expected) = appended(&w.pool, &w.workspace, w.after).await?;
    eprintln!("webhooks: appended a backlog of {} events in {append:.1?}, receiver refusing", expected.len());
    fanned_out(&w.pool, &mut w.server, &w.endpoint_id, w.after, expected.len()).await?;
    caught_up(&w.pool, std::slice::from_mut(&mut w.server), Duration::from_secs(600)).await?;
    let cpu = crate::cpu::Snapshot::take(&w.pids());
    w.receiver.refuse.store(false, Ordering::Relaxed);
    let outage = outage.elapsed();
    let started = Instant::now();
    let refused = w.receiver.seen().refused;
    let (events, last) = arrived(&w.receiver, &mut w.server, &expected, drain_limit(expected.len())).await?;
    let cpu = crate::cpu::Snapshot::take(&w.pids()).since(&cpu);
    let took = last.map_or_else(|| started.elapsed(), |at| at.saturating_duration_since(started));
    Ok(Drain { events, outage, append, refused, took, cpu, bad: w.receiver.seen().bad })
}

/// The longest a backlog of `events` may take to arrive: two minutes, and 5 ms per event (the
/// drain fails below about 200 events/s).
fn drain_limit(events: usize) -> Duration {
    ARRIVAL + Duration::from_millis(5 * events as u64)
}

/// The positions of the workspace's events after `after`, and the last of them (`after` when
/// there is none).
async fn appended(pool: &PgPool, workspace: &str, after: i64) -> anyhow::Result<(i64, HashSet<i64>)> {
    let positions: Vec<i64> = sqlx::query_scalar(
        "SELECT global_position FROM events WHERE workspace_id = $1 AND global_position > $2 ORDER BY global_position",
    )
    .bind(workspace)
    .bind(after)
    .fetch_all(pool)
    .await?;
    Ok((positions.last().copied().unwrap_or(after), positions.into_iter().collect()))
}

/// Waits until every event of `expected` has arrived, or `limit` has passed, or nothing has
/// arrived for [`STALLED`]: what arrived of them, and the last first arrival among them. An
/// arrival of no event of `expected` counts as a bad delivery.
async fn arrived(
    receiver: &Receiver,
    server: &mut Server,
    expected: &HashSet<i64>,
    limit: Duration,
) -> anyhow::Result<(Delivered, Option<Instant>)> {
    let started = Instant::now();
    let (mut count, mut progressed) = (0, started);
    loop {
        // Cheap while events are still to come: only the world's events arrive (checked below).
        let now = receiver.seen().arrivals.len();
        if now >= expected.len() {
            break;
        }
        if now > count {
            (count, progressed) = (now, Instant::now());
        }
        if started.elapsed() >= limit || progressed.elapsed() >= STALLED {
            let why = if started.elapsed() >= limit { format!("within {limit:?}") } else { "any more".to_owned() };
            eprintln!(
                "webhooks: {} of {} event(s) did not arrive {why} (nothing new for {:.0?})",
                expected.len() - now,
                expected.len(),
                progressed.elapsed()
            );
            break;
        }
        server.check_alive()?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut seen = receiver.seen();
    let mut delivered = Delivered { events: expected.len() as u64, ..Delivered::default() };
    let mut last = None::<Instant>;
    for arrival in expected.iter().filter_map(|p| seen.arrivals.get(p)) {
        delivered.arrived += 1;
        delivered.repeats += u64::from(arrival.count - 1);
        last = Some(last.map_or(arrival.first, |l| l.max(arrival.first)));
    }
    delivered.missing = delivered.events - delivered.arrived;
    let unexpected = seen.arrivals.len() as u64 - delivered.arrived;
    if unexpected > 0 {
        eprintln!("webhooks: {unexpected} delivery(ies) of events the run did not append");
        seen.bad += unexpected;
    }
    Ok((delivered, last))
}

/// Waits until the fan-out has written a delivery to the endpoint for each of the `events`
/// events after `after`.
async fn fanned_out(
    pool: &PgPool,
    server: &mut Server,
    endpoint: &str,
    after: i64,
    events: usize,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let written: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND position > $2")
                .bind(endpoint)
                .bind(after)
                .fetch_one(pool)
                .await?;
        if written as usize >= events {
            return Ok(());
        }
        server.check_alive()?;
        anyhow::ensure!(
            started.elapsed() < CATCH_UP,
            "the fan-out wrote {written} of {events} deliveries in {CATCH_UP:?} (see the server's log)"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
