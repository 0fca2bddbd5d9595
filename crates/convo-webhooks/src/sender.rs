//! The sender: under a lease of its own (one process sends), it reads each endpoint's pending
//! deliveries in log order, a page at a time (`webhook_deliveries_pending`, so a pass costs the
//! same however far behind it is), and starts the earliest of each (endpoint, aggregate) if it
//! is due and nothing of that aggregate is under way: a conversation's events reach an
//! endpoint in log order while other conversations go on in parallel. Up to sixteen times
//! `concurrency_per_endpoint` attempts are under way per endpoint (reading their event, or
//! recording themselves), `concurrency_per_endpoint` of them talking to the receiver. Each
//! attempt signs the event's envelope (as `GET /v1/events` gives it), POSTs it without
//! following redirects, and records itself in the attempt log together with the delivery's
//! next state, fenced by the lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_domain::WebhookEndpoint;
use convo_domain::webhook::DisabledReason;
use convo_store::{
    AggregateStore, Backend, Durability, EventLog, Fence, LEASE_TTL, Lease, LogEvent, LogFilter, SqlStore, SqlValue,
    StoreError,
};
use uuid::Uuid;

use crate::{Attempt, Endpoint, WebhookConfig, Webhooks};

/// The sender's lease.
pub const NAME: &str = "webhook_sender";
/// How often due deliveries are looked for when nothing wakes the sender.
const TICK: Duration = Duration::from_millis(100);
/// How often each endpoint's lag is measured, and old attempts purged.
const LAG_EVERY: Duration = Duration::from_secs(5);
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// The part of a receiver's answer the attempt log keeps.
const BODY_KEPT: usize = 4096;

/// Pending deliveries read per query, and at most per endpoint and pass.
const PAGE: usize = 512;
const SCAN: usize = 8 * PAGE;
/// How long an endpoint whose first `SCAN` pending deliveries all wait for a retry rests.
const REST: Duration = Duration::from_secs(1);

/// What is under way: per endpoint, the aggregate (stream) of each attempt, and its position.
type InFlight = Arc<Mutex<HashMap<Uuid, HashMap<String, i64>>>>;

/// The HTTP client of deliveries: no redirects, the timeout, and (unless insecure is allowed)
/// names resolved to public addresses only.
fn client(config: &WebhookConfig) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(config.timeout)
        .user_agent(concat!("convo-webhooks/", env!("CARGO_PKG_VERSION")));
    if !config.allow_insecure {
        builder = builder.dns_resolver(Arc::new(crate::address::PublicOnly));
    }
    builder.build()
}

/// Test deliveries on request (`POST /v1/webhooks/{id}/verify`), made by the API node that
/// takes the request, with the delivery settings.
pub struct Tester {
    http: reqwest::Client,
    allow_insecure: bool,
}

impl Tester {
    pub fn new(config: &WebhookConfig) -> Result<Self, String> {
        Ok(Self { http: client(config).map_err(|e| e.to_string())?, allow_insecure: config.allow_insecure })
    }

    /// Sends `endpoint` a signed test delivery now (event type `WebhookVerification`, position
    /// 0) and records it in the attempt log as `manual`: the attempt, whatever came of it.
    pub async fn verify<S: SqlStore>(
        &self,
        webhooks: &Webhooks<S>,
        endpoint: &Endpoint,
    ) -> Result<Attempt, StoreError> {
        let Some(secret) = webhooks.secret(endpoint.endpoint_id).await? else {
            return Err(StoreError::Corrupt("an endpoint without its secret".into()));
        };
        let attempted_at = chrono::Utc::now();
        let body = serde_json::json!({
            "position": 0,
            "workspace_id": endpoint.workspace_id,
            "aggregate_type": "webhook",
            "aggregate_id": endpoint.endpoint_id,
            "sequence": 0,
            "event_type": VERIFICATION,
            "event_version": "1.0.0",
            "payload": {"endpoint_id": endpoint.endpoint_id, "url": endpoint.url,
                        "note": "a test delivery: verify its signature as you would any other"},
            "metadata": {},
            "recorded_at": attempted_at,
        });
        let id = format!("msg_verify_{}", Uuid::now_v7().simple());
        let started = Instant::now();
        let body = serde_json::to_vec(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let keys: Vec<ed25519_dalek::SigningKey> = webhooks
            .signing_seeds()
            .await?
            .into_iter()
            .filter(|(workspace, _)| *workspace == endpoint.workspace_id)
            .map(|(_, key)| key)
            .collect();
        let signing = Signing { secrets: &secret, keys: &keys };
        let outcome =
            post(&self.http, endpoint, signing, &id, attempted_at.timestamp(), body, self.allow_insecure).await;
        let attempt = Attempt {
            endpoint_id: endpoint.endpoint_id,
            webhook_id: id,
            position: 0,
            event_type: VERIFICATION.to_owned(),
            attempted_at,
            trigger: "manual".to_owned(),
            attempt: 1,
            succeeded: outcome.succeeded,
            gave_up: false,
            next_attempt_at: None,
            status_code: outcome.status_code,
            error: outcome.error,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            response_body: outcome.body,
        };
        let (sql, values) = webhooks.record(&[(endpoint.workspace_id, &attempt)])?;
        webhooks.sql().execute(&sql, &values).await?;
        Ok(attempt)
    }
}

/// The event type of a test delivery.
pub const VERIFICATION: &str = "WebhookVerification";

/// Sends due deliveries for ever, while this process holds the sender's lease.
pub async fn deliver<B: Backend>(
    backend: B,
    log: EventLog<B>,
    endpoints: Arc<AggregateStore<WebhookEndpoint, B>>,
    config: WebhookConfig,
) {
    let sql = backend.sql();
    let lease = Lease::new(sql.clone(), NAME, LEASE_TTL);
    let http = match client(&config) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: webhooks are not sent");
            return;
        }
    };
    // Ends once this task and its attempts are gone (each holds a `Recorder`).
    let (recorder, landed) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(record_landed(Webhooks::new(sql.clone(), config.secrets_key.clone()), landed));
    let mut sender = Sender {
        http,
        recorder,
        webhooks: Webhooks::new(sql, config.secrets_key.clone()),
        endpoints,
        log: log.clone(),
        config,
        in_flight: Arc::default(),
        landed: Arc::new(tokio::sync::Notify::new()),
        requests: HashMap::new(),
        resting: HashMap::new(),
    };
    let (mut measured, mut checked, mut purged) = (Instant::now(), Instant::now(), None::<Instant>);
    let mut commits = log.notifier().subscribe();
    // Held: let go when this task ends or is aborted (a worker's SIGTERM), so another takes
    // over at once.
    let mut held: Option<(convo_store::Held<B::Sql>, Instant)> = None;
    loop {
        held = match held {
            Some((held, renewed)) if renewed.elapsed() < lease.renew_every() => Some((held, renewed)),
            Some((held, _)) => match lease.renew(&held.fence).await {
                Ok(true) => Some((held, Instant::now())),
                _ => None,
            },
            // Let go (a SIGTERM), it first lets the attempts under way record themselves: what
            // reached a receiver is not sent again by the next sender.
            None => lease.acquire().await.ok().flatten().map(|fence| {
                let (in_flight, landed) = (sender.in_flight.clone(), sender.landed.clone());
                (lease.held(fence).draining(drained(in_flight, landed)), Instant::now())
            }),
        };
        if let Some((held, _)) = &held
            && let Err(e) = sender.send_due(&held.fence).await
        {
            tracing::warn!(error = %e, "could not look for due webhook deliveries");
        }
        if held.is_some() && measured.elapsed() >= LAG_EVERY {
            measured = Instant::now();
            if let Err(e) = measure_lag(&sender.webhooks, &log).await {
                tracing::warn!(error = %e, "could not measure the webhooks' lag");
            }
        }
        // As often as the lag, or twice within `disable_after` when that is shorter (tests).
        if held.is_some() && checked.elapsed() >= LAG_EVERY.min(sender.config.disable_after / 2) {
            checked = Instant::now();
            if let Err(e) = disable_failing(&sender.webhooks, &sender.endpoints, sender.config.disable_after).await {
                tracing::warn!(error = %e, "could not look for endpoints that keep failing");
            }
        }
        if held.is_some() && purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purged = Some(Instant::now());
            match purge(&sender.webhooks, sender.config.retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "old webhook attempts and deliveries forgotten"),
                Err(e) => tracing::warn!(error = %e, "could not purge old webhook attempts"),
            }
        }
        // A commit may have made deliveries (the fan-out writes them a moment later); else tick.
        tokio::select! {
            _ = commits.changed() => tokio::time::sleep(Duration::from_millis(10)).await,
            () = sender.landed.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Done once no attempt is under way.
async fn drained(in_flight: InFlight, landed: Arc<tokio::sync::Notify>) {
    loop {
        let idle = in_flight.lock().unwrap_or_else(|e| e.into_inner()).values().all(HashMap::is_empty);
        if idle {
            return;
        }
        landed.notified().await;
    }
}

/// The sender's state while it holds the lease: what is under way, and per endpoint the
/// receiver's share and whether its pending deliveries are worth reading again yet.
struct Sender<B: Backend> {
    http: reqwest::Client,
    recorder: Recorder,
    webhooks: Webhooks<B::Sql>,
    /// The endpoints' switches, where disabling one is recorded.
    endpoints: Arc<AggregateStore<WebhookEndpoint, B>>,
    log: EventLog<B>,
    config: WebhookConfig,
    in_flight: InFlight,
    /// An attempt that ends frees a place: look for the next due delivery at once.
    landed: Arc<tokio::sync::Notify>,
    /// Per endpoint, requests at once: `concurrency_per_endpoint`.
    requests: HashMap<Uuid, Arc<tokio::sync::Semaphore>>,
    /// Per endpoint, when a pass that read `SCAN` pending deliveries and could send none of
    /// them (every aggregate waiting for a retry) reads them again.
    resting: HashMap<Uuid, Instant>,
}

/// One pending delivery, as the sender reads it.
struct Pending {
    position: i64,
    attempts: u32,
    /// Replays asked for so far: one asked while its attempt is under way keeps it pending.
    replays: i64,
    next_attempt_ms: i64,
    trigger: String,
    stream: String,
}

impl Pending {
    fn parse(row: &str) -> Result<Self, StoreError> {
        let mut parts = row.splitn(6, ' ');
        let mut next = || parts.next().ok_or_else(|| StoreError::Corrupt(format!("a webhook delivery row: {row}")));
        let number =
            |text: &str| text.parse::<i64>().map_err(|_| StoreError::Corrupt(format!("a webhook delivery row: {row}")));
        Ok(Self {
            position: number(next()?)?,
            attempts: u32::try_from(number(next()?)?).unwrap_or(u32::MAX),
            replays: number(next()?)?,
            next_attempt_ms: number(next()?)?,
            trigger: next()?.to_owned(),
            stream: next()?.to_owned(),
        })
    }
}

impl<B: Backend> Sender<B> {
    /// Attempts under way per endpoint at most, counting those waiting for their turn to
    /// send or recording themselves; of these, `concurrency_per_endpoint` are talking to the
    /// receiver. Wide, so that neither the reads before nor the writes after a request limit
    /// the deliveries a second.
    fn window(&self) -> usize {
        self.config.concurrency_per_endpoint.max(1) * 16
    }

    /// Starts an attempt for each endpoint's earliest pending delivery of each aggregate, if it
    /// is due and nothing of that aggregate is under way, in log order, up to the window.
    async fn send_due(&mut self, fence: &Fence) -> Result<(), StoreError> {
        let endpoints = self.webhooks.enabled().await?;
        let mut keys: Option<Arc<HashMap<Uuid, Vec<ed25519_dalek::SigningKey>>>> = None;
        for (endpoint, secret) in endpoints {
            if self.resting.get(&endpoint.endpoint_id).is_some_and(|until| *until > Instant::now()) {
                continue;
            }
            let due = self.due(&endpoint).await?;
            if due.is_empty() {
                continue;
            }
            let keys = match &keys {
                Some(keys) => keys.clone(),
                None => {
                    let mut all: HashMap<Uuid, Vec<ed25519_dalek::SigningKey>> = HashMap::new();
                    for (workspace, key) in self.webhooks.signing_seeds().await? {
                        all.entry(workspace).or_default().push(key);
                    }
                    keys.insert(Arc::new(all)).clone()
                }
            };
            let requests = self
                .requests
                .entry(endpoint.endpoint_id)
                .or_insert_with(|| Arc::new(tokio::sync::Semaphore::new(self.config.concurrency_per_endpoint.max(1))))
                .clone();
            // Their events, in one read.
            let positions: Vec<i64> = due.iter().map(|p| p.position).collect();
            let after = positions.iter().min().map_or(0, |p| p - 1);
            let filter = LogFilter { positions, ..LogFilter::default() };
            let mut events: HashMap<i64, LogEvent> =
                self.log.read_filtered(after, due.len(), &filter).await?.into_iter().map(|e| (e.position, e)).collect();
            let endpoint = Arc::new((endpoint, secret));
            for pending in due {
                match events.remove(&pending.position) {
                    Some(event) => self.start(endpoint.clone(), keys.clone(), requests.clone(), fence, pending, event),
                    None => tracing::warn!(endpoint = %endpoint.0.endpoint_id, position = pending.position,
                                           "a webhook delivery of no event in the log"),
                }
            }
        }
        Ok(())
    }

    /// The deliveries of `endpoint` to start now: its pending ones read in log order, a page at
    /// a time, the first of each aggregate taken if it is due and its aggregate is not under way.
    async fn due(&mut self, endpoint: &Endpoint) -> Result<Vec<Pending>, StoreError> {
        let id = endpoint.endpoint_id;
        // What is under way before the reads: an attempt that lands while they run may be
        // read as still pending, and must not be made again.
        let flying: HashSet<String> = {
            let in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            in_flight.get(&id).map(|streams| streams.keys().cloned().collect()).unwrap_or_default()
        };
        // Read again once a quarter of the window is free (or nothing is under way): a read per
        // attempt that lands would cost more than the attempt.
        let free = self.window().saturating_sub(flying.len());
        if free < self.window() / 4 && !flying.is_empty() {
            return Ok(Vec::new());
        }
        let sql = self.webhooks.sql();
        let page = sql.sql(&format!(
            "SELECT position || ' ' || attempts || ' ' || replays || ' ' || next_attempt_ms || ' ' || trigger || ' ' || stream
               FROM webhook_deliveries
              WHERE endpoint_id = {{1}} AND status = 'pending' AND position > {{2}}
              ORDER BY position LIMIT {PAGE}"
        ));
        let now = chrono::Utc::now().timestamp_millis();
        let (mut due, mut seen, mut after, mut read) = (Vec::new(), HashSet::new(), i64::MIN, 0);
        loop {
            let rows = sql.text_rows(&page, &[SqlValue::Text(id.to_string()), SqlValue::Int(after)]).await?;
            for row in &rows {
                let pending = Pending::parse(row)?;
                after = pending.position;
                // Only an aggregate's earliest pending delivery may go: the ones after it wait.
                if !seen.insert(pending.stream.clone()) || flying.contains(&pending.stream) {
                    continue;
                }
                if pending.next_attempt_ms <= now {
                    due.push(pending);
                    if due.len() == free {
                        return Ok(due);
                    }
                }
            }
            read += rows.len();
            if rows.len() < PAGE {
                return Ok(due);
            }
            if read >= SCAN {
                break;
            }
        }
        // Read far enough: if nothing of it could go (each aggregate waits for a retry), read
        // it again after a while rather than at each commit.
        if due.is_empty() && flying.is_empty() {
            self.resting.insert(id, Instant::now() + REST);
        }
        Ok(due)
    }

    /// Starts the attempt of `pending`, marked under way until it has recorded itself.
    fn start(
        &self,
        endpoint: Arc<(Endpoint, String)>,
        keys: Arc<HashMap<Uuid, Vec<ed25519_dalek::SigningKey>>>,
        requests: Arc<tokio::sync::Semaphore>,
        fence: &Fence,
        pending: Pending,
        event: LogEvent,
    ) {
        let id = endpoint.0.endpoint_id;
        self.in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id)
            .or_default()
            .insert(pending.stream.clone(), pending.position);
        let (http, webhooks, endpoints, recorder, config, fence, in_flight, landed) = (
            self.http.clone(),
            self.webhooks.clone(),
            self.endpoints.clone(),
            self.recorder.clone(),
            self.config.clone(),
            fence.clone(),
            self.in_flight.clone(),
            self.landed.clone(),
        );
        tokio::spawn(async move {
            let (endpoint, secret) = &*endpoint;
            let keys = keys.get(&endpoint.workspace_id).map_or(&[][..], Vec::as_slice);
            let signing = Signing { secrets: secret, keys };
            let Pending { position, attempts, replays, trigger, stream, .. } = pending;
            let due =
                Due { endpoint, signing, event: &event, attempts, replays, trigger: &trigger, requests: &requests };
            if let Err(e) = attempt(&http, &webhooks, &endpoints, &config, &recorder, &fence, due).await {
                tracing::warn!(endpoint = %id, position, error = %e, "a webhook attempt was not recorded");
            }
            if let Some(streams) = in_flight.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
                streams.remove(&stream);
            }
            landed.notify_one();
        });
    }
}

/// Each endpoint's failing streak after `records`: ended by a success, started by the first
/// failure after one (`webhook_endpoints.failing_since_ms`).
fn streaks<S: SqlStore>(sql: &S, records: &[Record]) -> Vec<convo_store::Statement> {
    // Per endpoint: the first failure after its last success in `records`, and whether one succeeded.
    let mut streaks: HashMap<Uuid, (Option<i64>, bool)> = HashMap::new();
    let mut in_order: Vec<&Attempt> = records.iter().map(|r| &r.attempt).collect();
    in_order.sort_by_key(|a| a.attempted_at);
    for attempt in in_order {
        let streak = streaks.entry(attempt.endpoint_id).or_default();
        if attempt.succeeded {
            *streak = (None, true);
        } else if streak.0.is_none() {
            streak.0 = Some(attempt.attempted_at.timestamp_millis());
        }
    }
    streaks
        .into_iter()
        .map(|(endpoint, streak)| {
            let id = SqlValue::Text(endpoint.to_string());
            let update = "UPDATE webhook_endpoints SET failing_since_ms";
            match streak {
                (None, _) => {
                    let ended = format!("{update} = NULL WHERE endpoint_id = {{1}} AND failing_since_ms IS NOT NULL");
                    (sql.sql(&ended), vec![id])
                }
                (Some(since), true) => {
                    (sql.sql(&format!("{update} = {{2}} WHERE endpoint_id = {{1}}")), vec![id, SqlValue::Int(since)])
                }
                (Some(since), false) => {
                    let started = format!("{update} = {{2}} WHERE endpoint_id = {{1}} AND failing_since_ms IS NULL");
                    (sql.sql(&started), vec![id, SqlValue::Int(since)])
                }
            }
        })
        .collect()
}

/// Disables each enabled endpoint whose deliveries have all failed for `disable_after`: it
/// says why on `GET /v1/webhooks/{id}` until someone enables it again.
async fn disable_failing<B: Backend>(
    webhooks: &Webhooks<B::Sql>,
    endpoints: &AggregateStore<WebhookEndpoint, B>,
    disable_after: Duration,
) -> Result<(), StoreError> {
    let sql = webhooks.sql();
    let cutoff = chrono::Utc::now() - chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
    let failing = "SELECT endpoint_id || ' ' || failing_since_ms FROM webhook_endpoints WHERE failing_since_ms < {1}";
    let failing: HashMap<String, i64> = sql
        .text_rows(&sql.sql(failing), &[SqlValue::Int(cutoff.timestamp_millis())])
        .await?
        .into_iter()
        .filter_map(|row| row.split_once(' ').and_then(|(id, since)| Some((id.to_owned(), since.parse().ok()?))))
        .collect();
    if failing.is_empty() {
        return Ok(());
    }
    for endpoint in crate::endpoints::enabled_endpoints(sql).await? {
        let Some(since) = failing.get(&endpoint.endpoint_id.to_string()) else { continue };
        let since = chrono::DateTime::from_timestamp_millis(*since).unwrap_or_default();
        let reason = format!(
            "no delivery succeeded since {} (for longer than {})",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            humane(disable_after)
        );
        webhooks.disable(endpoints, &endpoint, DisabledReason::Failing, &reason).await?;
        tracing::warn!(endpoint = %endpoint.endpoint_id, %reason, "a webhook endpoint that kept failing was disabled");
    }
    Ok(())
}

/// A duration as people say it: `5 days`, `36 hours`, `90 seconds`.
fn humane(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} hours", s / 3600),
        s if s >= 1 => format!("{s} seconds"),
        _ => format!("{} ms", duration.as_millis()),
    }
}

/// `convo_webhook_lag_seconds` per endpoint: how old the oldest event not yet delivered to it
/// is (0 when nothing is pending).
async fn measure_lag<B: Backend>(webhooks: &Webhooks<B::Sql>, log: &EventLog<B>) -> Result<(), StoreError> {
    let sql = webhooks.sql();
    let oldest = "SELECT position FROM webhook_deliveries WHERE endpoint_id = {1} AND status = 'pending'
                  ORDER BY position LIMIT 1";
    let oldest = sql.sql(oldest);
    let now = chrono::Utc::now();
    // Every enabled endpoint, also one this node cannot sign for (its lag grows all the same).
    for endpoint in crate::endpoints::enabled_endpoints(sql).await? {
        let id = endpoint.endpoint_id.to_string();
        let lag = match sql.scalar(&oldest, &[SqlValue::Text(id.clone())]).await? {
            Some(position) => envelope(log, position)
                .await?
                .map_or(0.0, |e| (now - e.recorded_at).num_milliseconds().max(0) as f64 / 1000.0),
            None => 0.0,
        };
        metrics::gauge!("convo_webhook_lag_seconds", "endpoint" => id).set(lag);
    }
    Ok(())
}

/// Forgets attempts, and finished deliveries, older than `retention`.
async fn purge<S: SqlStore>(webhooks: &Webhooks<S>, retention: Duration) -> Result<u64, StoreError> {
    let sql = webhooks.sql();
    let cutoff = chrono::Utc::now().timestamp_millis() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let cutoff = [SqlValue::Int(cutoff)];
    let attempts = sql.execute(&sql.sql("DELETE FROM webhook_attempts WHERE attempted_ms < {1}"), &cutoff).await?;
    let finished = "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND next_attempt_ms < {1}";
    let deliveries = sql.execute(&sql.sql(finished), &cutoff).await?;
    Ok(attempts + deliveries)
}

/// What one POST came to.
struct Outcome {
    succeeded: bool,
    status_code: Option<u16>,
    error: Option<String>,
    body: String,
    /// A 429's or 503's `Retry-After`, in seconds.
    retry_after: Option<Duration>,
}

/// The event at `position`, as `GET /v1/events` gives it.
async fn envelope<B: Backend>(log: &EventLog<B>, position: i64) -> Result<Option<convo_store::LogEvent>, StoreError> {
    Ok(log.read(position - 1, 1).await?.into_iter().find(|e| e.position == position))
}

/// The `webhook-id` of the event at `position`: the same for every attempt, so receivers
/// deduplicate on it.
pub fn webhook_id(position: i64) -> String {
    format!("msg_{position}")
}

/// A delivery due: the endpoint, the event's position, the attempts made, and what made it
/// pending (`scheduled` or `replay`).
struct Due<'a> {
    endpoint: &'a Endpoint,
    signing: Signing<'a>,
    event: &'a convo_store::LogEvent,
    attempts: u32,
    replays: i64,
    trigger: &'a str,
    /// The endpoint's requests at once: one is held while talking to the receiver.
    requests: &'a tokio::sync::Semaphore,
}

/// Makes one attempt: POSTs the event, then records the attempt and the delivery's next state
/// (through the recorder); disables the endpoint on a 410.
async fn attempt<B: Backend>(
    http: &reqwest::Client,
    webhooks: &Webhooks<B::Sql>,
    endpoints: &AggregateStore<WebhookEndpoint, B>,
    config: &WebhookConfig,
    recorder: &Recorder,
    fence: &Fence,
    due: Due<'_>,
) -> Result<(), String> {
    let Due { endpoint, signing, event, attempts, replays, trigger, requests } = due;
    let body = serde_json::to_vec(event).map_err(|e| e.to_string())?;
    let position = event.position;
    let id = webhook_id(position);
    let permit = requests.acquire().await.map_err(|e| e.to_string())?;
    let attempted_at = chrono::Utc::now();
    let started = Instant::now();
    let outcome = post(http, endpoint, signing, &id, attempted_at.timestamp(), body, config.allow_insecure).await;
    let duration = started.elapsed();
    drop(permit);
    let number = attempts + 1;
    let gone = outcome.status_code == Some(410);
    let (status, next) = if outcome.succeeded {
        ("delivered", None)
    } else if gone || number as usize >= config.schedule.len() {
        ("given_up", None)
    } else {
        let planned = config.schedule[number as usize].mul_f64(0.9 + 0.2 * fastrand::f64());
        ("pending", Some(planned.max(outcome.retry_after.unwrap_or_default())))
    };
    let next_at = next.and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| attempted_at + d);
    let attempt = Attempt {
        endpoint_id: endpoint.endpoint_id,
        webhook_id: id,
        position,
        event_type: event.event_type.clone(),
        attempted_at,
        trigger: trigger.to_owned(),
        attempt: number,
        succeeded: outcome.succeeded,
        gave_up: status == "given_up",
        next_attempt_at: next_at,
        status_code: outcome.status_code,
        error: outcome.error.clone(),
        duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        response_body: outcome.body.clone(),
    };
    let outcome_label = if outcome.succeeded { "succeeded" } else { "failed" };
    metrics::counter!("convo_webhook_attempts_total", "outcome" => outcome_label).increment(1);
    if status != "pending" {
        metrics::counter!("convo_webhook_deliveries_total", "outcome" => status).increment(1);
    }
    // A pending delivery's next attempt; a finished one's time (what retention goes by).
    let next_attempt_ms = next_at.unwrap_or(attempted_at).timestamp_millis();
    let (done, recorded) = tokio::sync::oneshot::channel();
    let record = Record {
        workspace: endpoint.workspace_id,
        attempt,
        status,
        was: (attempts, replays),
        next_attempt_ms,
        fence: fence.clone(),
        done,
    };
    let stopped = || "the recorder has stopped".to_owned();
    recorder.send(record).map_err(|_| stopped())?;
    // Not recorded: another sender took over (this one's lease is gone).
    if !recorded.await.map_err(|_| stopped())?? {
        return Ok(());
    }
    if gone {
        let detail = "the receiver answered 410 Gone";
        webhooks.disable(endpoints, endpoint, DisabledReason::Gone, detail).await.map_err(|e| e.to_string())?;
        tracing::warn!(endpoint = %endpoint.endpoint_id, "a webhook endpoint answered 410 Gone: disabled");
    }
    Ok(())
}

/// An attempt made, on its way to the database with its delivery's next state: `status`,
/// `attempt.attempt` attempts and `next_attempt_ms`, if it still has the `was` attempts and
/// replays it was read with (a replay or a deletion meanwhile leaves it alone, so a replay asked
/// while the attempt was under way is sent after it).
struct Record {
    workspace: Uuid,
    attempt: Attempt,
    status: &'static str,
    was: (u32, i64),
    next_attempt_ms: i64,
    fence: Fence,
    /// Whether it was recorded (false: the lease had gone), or why it could not be.
    done: tokio::sync::oneshot::Sender<Result<bool, String>>,
}

type Recorder = tokio::sync::mpsc::UnboundedSender<Record>;

/// Attempts recorded at most per transaction.
const RECORDED_AT_ONCE: usize = 256;

/// Records attempts as they land, all those waiting in one transaction (one flush, two
/// statements): a transaction per attempt would cost more than the attempt. Ends when every
/// [`Recorder`] is gone.
async fn record_landed<S: SqlStore>(webhooks: Webhooks<S>, mut landed: tokio::sync::mpsc::UnboundedReceiver<Record>) {
    let mut batch = Vec::new();
    while landed.recv_many(&mut batch, RECORDED_AT_ONCE).await > 0 {
        // Grouped by lease token: each group's transaction holds only while its token does.
        while let Some(fence) = batch.first().map(|r| r.fence.clone()) {
            let (same, rest): (Vec<Record>, Vec<Record>) = batch.drain(..).partition(|r| r.fence == fence);
            batch = rest;
            let result = match record(&webhooks, &fence, &same).await {
                Ok(()) => Ok(true),
                Err(StoreError::Conflict) => Ok(false),
                Err(e) => Err(e.to_string()),
            };
            for r in same {
                let _ = r.done.send(result.clone());
            }
        }
    }
}

/// Writes `records` (attempts and their deliveries' next states) in one transaction, fenced by
/// the sender's lease.
async fn record<S: SqlStore>(webhooks: &Webhooks<S>, fence: &Fence, records: &[Record]) -> Result<(), StoreError> {
    let sql = webhooks.sql();
    let mut values = Vec::with_capacity(records.len() * 7);
    for r in records {
        values.extend([
            SqlValue::Text(r.attempt.endpoint_id.to_string()),
            SqlValue::Int(r.attempt.position),
            SqlValue::Text(r.status.to_owned()),
            SqlValue::Int(i64::from(r.attempt.attempt)),
            SqlValue::Int(r.next_attempt_ms),
            SqlValue::Int(i64::from(r.was.0)),
            SqlValue::Int(r.was.1),
        ]);
    }
    // `VALUES` names its columns column1, column2, … on both backends.
    let next = format!(
        "UPDATE webhook_deliveries SET status = v.column3, attempts = v.column4, next_attempt_ms = v.column5
           FROM (VALUES {}) AS v
          WHERE webhook_deliveries.endpoint_id = v.column1 AND webhook_deliveries.position = v.column2
            AND webhook_deliveries.status = 'pending' AND webhook_deliveries.attempts = v.column6
            AND webhook_deliveries.replays = v.column7",
        sql.tuples(records.len(), 7)
    );
    let attempts: Vec<(Uuid, &Attempt)> = records.iter().map(|r| (r.workspace, &r.attempt)).collect();
    let mut statements = vec![(next, values), webhooks.record(&attempts)?];
    statements.extend(streaks(sql, records));
    sql.guarded_transaction(fence.guard(sql), statements, Durability::Flushed).await
}

/// An error with its causes, "a: b: c".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// What a delivery is signed with: the endpoint's secrets (`v1`) and its workspace's keys (`v1a`).
#[derive(Clone, Copy)]
struct Signing<'a> {
    secrets: &'a str,
    keys: &'a [ed25519_dalek::SigningKey],
}

/// POSTs `body`, signed, to the endpoint; what came of it.
async fn post(
    http: &reqwest::Client,
    endpoint: &Endpoint,
    signing: Signing<'_>,
    id: &str,
    timestamp: i64,
    body: Vec<u8>,
    allow_insecure: bool,
) -> Outcome {
    let failed = |error: String| Outcome {
        succeeded: false,
        status_code: None,
        error: Some(error),
        body: String::new(),
        retry_after: None,
    };
    let url = match reqwest::Url::parse(&endpoint.url) {
        Ok(url) => url,
        Err(e) => return failed(format!("the endpoint's URL: {e}")),
    };
    if let Some(refused) = crate::address::refused(&url, allow_insecure) {
        return failed(refused);
    }
    let signature = match crate::signing::sign_with(signing.secrets, signing.keys, id, timestamp, &body) {
        Ok(signature) => signature,
        Err(e) => return failed(e),
    };
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return failed("no answer within the timeout".to_owned()),
        // The chain of causes: a refused address says so at its end.
        Err(e) => return failed(chain(&e)),
    };
    let status = response.status();
    let retry_after = if status.as_u16() == 429 || status.as_u16() == 503 {
        let header = response.headers().get("retry-after").and_then(|v| v.to_str().ok());
        header.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs)
    } else {
        None
    };
    let mut kept = Vec::new();
    let mut error = None;
    while kept.len() < BODY_KEPT {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                error = Some(if e.is_timeout() {
                    "the answer did not end within the timeout".to_owned()
                } else {
                    e.to_string()
                });
                break;
            }
        }
    }
    kept.truncate(BODY_KEPT);
    let succeeded = status.is_success() && error.is_none();
    if !succeeded && error.is_none() {
        error = Some(if status.is_redirection() {
            format!("answered {status}: a redirect, not followed")
        } else {
            format!("answered {status}")
        });
    }
    Outcome {
        succeeded,
        status_code: Some(status.as_u16()),
        error,
        body: String::from_utf8_lossy(&kept).into_owned(),
        retry_after,
    }
}
