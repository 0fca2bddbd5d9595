//! The sender: under a lease of its own (one process sends), it takes the pending deliveries
//! that are due, at most one per (endpoint, aggregate) at a time and the earliest first, so a
//! conversation's events reach an endpoint in log order while other conversations go on in
//! parallel (up to `concurrency_per_endpoint` per endpoint). Each attempt signs the event's
//! envelope (as `GET /v1/events` gives it), POSTs it without following redirects, and records
//! itself in the attempt log together with the delivery's next state, fenced by the lease.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convo_store::{Backend, Durability, EventLog, Fence, LEASE_TTL, Lease, SqlStore, SqlValue, StoreError};
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

type InFlight = Arc<Mutex<HashMap<Uuid, HashSet<i64>>>>;

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
        let (sql, values) = webhooks.record(endpoint.workspace_id, &attempt)?;
        webhooks.sql().execute(&sql, &values).await?;
        Ok(attempt)
    }
}

/// The event type of a test delivery.
pub const VERIFICATION: &str = "WebhookVerification";

/// Sends due deliveries for ever, while this process holds the sender's lease.
pub async fn deliver<B: Backend>(backend: B, log: EventLog<B>, config: WebhookConfig) {
    let sql = backend.sql();
    let webhooks = Webhooks::new(sql.clone());
    let lease = Lease::new(sql.clone(), NAME, LEASE_TTL);
    let http = match client(&config) {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "no HTTP client: webhooks are not sent");
            return;
        }
    };
    let in_flight: InFlight = Arc::default();
    // An attempt that ends frees a place: look for the next due delivery at once.
    let landed = Arc::new(tokio::sync::Notify::new());
    let (mut measured, mut purged) = (Instant::now(), None::<Instant>);
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
            None => lease.acquire().await.ok().flatten().map(|fence| (lease.held(fence), Instant::now())),
        };
        if let Some((held, _)) = &held
            && let Err(e) = send_due(&http, &webhooks, &log, &config, &held.fence, &in_flight, &landed).await
        {
            tracing::warn!(error = %e, "could not look for due webhook deliveries");
        }
        if held.is_some() && measured.elapsed() >= LAG_EVERY {
            measured = Instant::now();
            if let Err(e) = measure_lag(&webhooks, &log).await {
                tracing::warn!(error = %e, "could not measure the webhooks' lag");
            }
        }
        if held.is_some() && purged.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
            purged = Some(Instant::now());
            match purge(&webhooks, config.retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "old webhook attempts and deliveries forgotten"),
                Err(e) => tracing::warn!(error = %e, "could not purge old webhook attempts"),
            }
        }
        // A commit may have made deliveries (the fan-out writes them a moment later); else tick.
        tokio::select! {
            _ = commits.changed() => tokio::time::sleep(Duration::from_millis(10)).await,
            () = landed.notified() => {}
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

/// Starts an attempt for each due delivery that is not in flight, within each endpoint's limit.
async fn send_due<B: Backend>(
    http: &reqwest::Client,
    webhooks: &Webhooks<B::Sql>,
    log: &EventLog<B>,
    config: &WebhookConfig,
    fence: &Fence,
    in_flight: &InFlight,
    landed: &Arc<tokio::sync::Notify>,
) -> Result<(), StoreError> {
    let sql = webhooks.sql();
    // What is in flight before the query: an attempt that lands while the query runs may be
    // read as still pending, and must not be sent again.
    let flying: HashSet<(Uuid, i64)> = {
        let flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
        flying.iter().flat_map(|(endpoint, positions)| positions.iter().map(|p| (*endpoint, *p))).collect()
    };
    // The earliest pending delivery of each (endpoint, aggregate), if it is due.
    let due = "SELECT d.endpoint_id || ' ' || d.position || ' ' || d.attempts || ' ' || d.trigger
                 FROM webhook_deliveries d
                WHERE d.status = 'pending' AND d.next_attempt_ms <= {1}
                  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                                   WHERE e.endpoint_id = d.endpoint_id AND e.stream = d.stream
                                     AND e.status = 'pending' AND e.position < d.position)
                ORDER BY d.position LIMIT 1000";
    let rows = sql.text_rows(&sql.sql(due), &[SqlValue::Int(chrono::Utc::now().timestamp_millis())]).await?;
    if rows.is_empty() {
        return Ok(());
    }
    let endpoints: HashMap<Uuid, (Endpoint, String)> =
        webhooks.enabled().await?.into_iter().map(|(e, secret)| (e.endpoint_id, (e, secret))).collect();
    let mut keys: HashMap<Uuid, Vec<ed25519_dalek::SigningKey>> = HashMap::new();
    for (workspace, key) in webhooks.signing_seeds().await? {
        keys.entry(workspace).or_default().push(key);
    }
    let keys = Arc::new(keys);
    for row in rows {
        let mut parts = row.split(' ');
        let (Some(Ok(endpoint_id)), Some(Ok(position)), Some(Ok(attempts)), Some(trigger)) = (
            parts.next().map(str::parse::<Uuid>),
            parts.next().map(str::parse::<i64>),
            parts.next().map(str::parse::<u32>),
            parts.next().map(str::to_owned),
        ) else {
            return Err(StoreError::Corrupt(format!("a webhook delivery row: {row}")));
        };
        // A disabled or deleted endpoint's deliveries wait (or were deleted with it).
        let Some((endpoint, secret)) = endpoints.get(&endpoint_id).cloned() else { continue };
        if flying.contains(&(endpoint_id, position)) {
            continue;
        }
        {
            let mut flying = in_flight.lock().unwrap_or_else(|e| e.into_inner());
            let mine = flying.entry(endpoint_id).or_default();
            if mine.contains(&position) || mine.len() >= config.concurrency_per_endpoint {
                continue;
            }
            mine.insert(position);
        }
        let (keys, http, webhooks, log, config, fence, in_flight, landed) = (
            keys.clone(),
            http.clone(),
            webhooks.clone(),
            log.clone(),
            config.clone(),
            fence.clone(),
            in_flight.clone(),
            landed.clone(),
        );
        tokio::spawn(async move {
            let keys = keys.get(&endpoint.workspace_id).map_or(&[][..], Vec::as_slice);
            let signing = Signing { secrets: &secret, keys };
            let due = Due { endpoint: &endpoint, signing, position, attempts, trigger: &trigger };
            if let Err(e) = attempt(&http, &webhooks, &log, &config, &fence, due).await {
                tracing::warn!(endpoint = %endpoint.endpoint_id, position, error = %e, "a webhook attempt was not recorded");
            }
            in_flight.lock().unwrap_or_else(|e| e.into_inner()).entry(endpoint_id).or_default().remove(&position);
            landed.notify_one();
        });
    }
    Ok(())
}

/// `convo_webhook_lag_seconds` per endpoint: how old the oldest event not yet delivered to it
/// is (0 when nothing is pending).
async fn measure_lag<B: Backend>(webhooks: &Webhooks<B::Sql>, log: &EventLog<B>) -> Result<(), StoreError> {
    let sql = webhooks.sql();
    let oldest = "SELECT endpoint_id || ' ' || min(position) FROM webhook_deliveries
                   WHERE status = 'pending' GROUP BY endpoint_id";
    let mut pending = HashMap::new();
    for row in sql.text_rows(oldest, &[]).await? {
        if let Some((endpoint, position)) = row.split_once(' ')
            && let Ok(position) = position.parse::<i64>()
        {
            pending.insert(endpoint.to_owned(), position);
        }
    }
    let now = chrono::Utc::now();
    for (endpoint, _) in webhooks.enabled().await? {
        let id = endpoint.endpoint_id.to_string();
        let lag = match pending.get(&id) {
            Some(&position) => envelope(log, position)
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
    position: i64,
    attempts: u32,
    trigger: &'a str,
}

async fn attempt<B: Backend>(
    http: &reqwest::Client,
    webhooks: &Webhooks<B::Sql>,
    log: &EventLog<B>,
    config: &WebhookConfig,
    fence: &Fence,
    due: Due<'_>,
) -> Result<(), StoreError> {
    let Due { endpoint, signing, position, attempts, trigger } = due;
    let Some(event) = envelope(log, position).await? else {
        return Err(StoreError::Corrupt(format!("no event at position {position} for a webhook delivery")));
    };
    let body = serde_json::to_vec(&event).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id = webhook_id(position);
    let attempted_at = chrono::Utc::now();
    let started = Instant::now();
    let outcome = post(http, endpoint, signing, &id, attempted_at.timestamp(), body, config.allow_insecure).await;
    let duration = started.elapsed();
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
    let sql = webhooks.sql();
    // A pending delivery's next attempt; a finished one's time (what retention goes by).
    let next_ms = next_at.unwrap_or(attempted_at).timestamp_millis();
    let update = "UPDATE webhook_deliveries SET status = {3}, attempts = {4}, next_attempt_ms = {5}
                   WHERE endpoint_id = {1} AND position = {2} AND status = 'pending' AND attempts = {6}";
    let mut values = vec![
        SqlValue::Text(endpoint.endpoint_id.to_string()),
        SqlValue::Int(position),
        SqlValue::Text(status.to_owned()),
        SqlValue::Int(i64::from(number)),
        SqlValue::Int(next_ms),
        SqlValue::Int(i64::from(attempts)),
    ];
    let (fenced, fence_values) = fence.condition(sql, values.len() + 1);
    values.extend(fence_values);
    let guard = (sql.sql(&format!("{update} AND {fenced}")), values);
    let workspace = endpoint.workspace_id;
    match sql.guarded_transaction(guard, vec![webhooks.record(workspace, &attempt)?], Durability::Flushed).await {
        // Another sender took over (this one's lease is gone), or the endpoint was deleted:
        // what it records is its own.
        Err(StoreError::Conflict) => return Ok(()),
        result => result?,
    }
    if gone {
        webhooks.disable(endpoint, "the receiver answered 410 Gone").await?;
        tracing::warn!(endpoint = %endpoint.endpoint_id, "a webhook endpoint answered 410 Gone: disabled");
    }
    Ok(())
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
