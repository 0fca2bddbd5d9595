//! convo-webhooks: every event an endpoint's filter matches, delivered from the log as a
//! Standard Webhook (docs/WEBHOOKS.md, docs/decisions/0004-webhooks.md).
//!
//! - [`Webhooks`]: the endpoints of each workspace, their secrets, and the attempt log.
//! - [`Fanout`]: a follower of the log (`convo_store::follow`, under a lease) that writes one
//!   pending delivery per (endpoint, matching event) together with its checkpoint, so nothing
//!   that matches is ever skipped, across restarts and takeovers.
//! - [`deliver`]: the sender, under a lease of its own: sends due deliveries, each
//!   conversation's in log order per endpoint, others in parallel; retries on the schedule;
//!   logs every attempt.
//! - [`SecretsKey`]: seals the endpoints' secrets and the signing keys at rest
//!   (docs/WEBHOOKS.md, "Secrets at rest").

pub mod address;
mod endpoints;
mod fanout;
mod keys;
mod replay;
pub mod secrets;
mod sender;
pub mod signing;

use std::time::Duration;

pub use endpoints::{
    AtRest, Attempt, AttemptFilter, Endpoint, EndpointChange, NewEndpoint, SecretError, Webhooks, switch,
};
pub use fanout::Fanout;
pub use keys::SigningKey;
pub use replay::{Replay, replay};
pub use secrets::{SealError, SecretsKey};
pub use sender::{Tester, VERIFICATION, deliver};

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// When each attempt is made, after the one before (the first: at once). Standard Webhooks'
    /// schedule by default; tests give it in milliseconds.
    pub schedule: Vec<Duration>,
    /// An attempt not answered within this is a failure.
    pub timeout: Duration,
    /// Requests to one endpoint at a time at most (each conversation's one at a time).
    pub concurrency_per_endpoint: usize,
    /// Allow http and addresses that are not public (development and tests only).
    pub allow_insecure: bool,
    /// How long attempts, and deliveries once finished, are kept.
    pub retention: Duration,
    /// How long a rotated endpoint secret keeps signing beside the new one.
    pub rotation_overlap: Duration,
    /// An endpoint whose attempts have all failed for this long is disabled.
    pub disable_after: Duration,
    /// The key the endpoints' secrets and the signing keys are sealed with at rest: the same
    /// on every node sharing a database (`CONVO_SECRETS_KEY`). By default a random key of this
    /// value (and its clones) only, which nothing opens after a restart: binaries set theirs.
    pub secrets_key: SecretsKey,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self {
            schedule: vec![
                Duration::ZERO,
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(840),
                minutes(1200),
                minutes(1440),
            ],
            timeout: Duration::from_secs(15),
            // Under load a receiver answers slower: 8 at a time kept up with 2 000 events a
            // second, 32 with the engine (docs/BENCHMARKS.md, Webhooks).
            concurrency_per_endpoint: 32,
            allow_insecure: false,
            retention: Duration::from_secs(30 * 24 * 3600),
            rotation_overlap: Duration::from_secs(24 * 3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            secrets_key: SecretsKey::random(),
        }
    }
}

/// Starts the fan-out (a follower of the log, under its lease) and the sender (under its own):
/// on a worker, so that of several processes one does each.
pub fn spawn<B: convo_store::Backend>(
    engine: &convo_store::Engine<B>,
    config: WebhookConfig,
) -> Vec<tokio::task::JoinHandle<()>> {
    let (backend, log) = (&engine.backend, engine.log.clone());
    let status = convo_store::ProjectionStatus::new(fanout::NAME);
    let lease = convo_store::Lease::new(backend.sql(), fanout::NAME, convo_store::LEASE_TTL);
    let follower = Fanout::new(backend, log.clone());
    let fanning = convo_store::follow(follower, log.clone(), status, 500, Some(lease));
    let sending = deliver(backend.clone(), log, engine.webhook_endpoints.clone(), config);
    vec![tokio::spawn(fanning), tokio::spawn(sending)]
}

/// Parses a schedule such as `0,5s,5m,30m,2h` (units ms, s, m, h; a bare number is seconds).
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(|part| {
            let part = part.trim();
            let digits = part.find(|c: char| !c.is_ascii_digit()).unwrap_or(part.len());
            let (number, unit) = part.split_at(digits);
            let n: u64 = number.parse().map_err(|_| format!("{part:?}: a number and a unit (ms, s, m, h)"))?;
            match unit {
                "ms" => Ok(Duration::from_millis(n)),
                "" | "s" => Ok(Duration::from_secs(n)),
                "m" => Ok(Duration::from_secs(60 * n)),
                "h" => Ok(Duration::from_secs(3600 * n)),
                _ => Err(format!("{part:?}: the unit is ms, s, m or h")),
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|s| if s.is_empty() { Err("an empty schedule".into()) } else { Ok(s) })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    #[test]
    fn a_schedule_is_read_in_its_units() {
        let s = super::parse_schedule("0, 5s,5m,2h,150ms,7").expect("a schedule");
        let expected = [0, 5, 300, 7200].map(Duration::from_secs).to_vec();
        assert_eq!(s[..4], expected[..]);
        assert_eq!(s[4], Duration::from_millis(150));
        assert_eq!(s[5], Duration::from_secs(7));
        assert!(super::parse_schedule("5x").is_err());
        assert!(super::parse_schedule("").is_err());
        assert_eq!(super::WebhookConfig::default().schedule.len(), 10, "the spec's ten attempts");
    }
}
