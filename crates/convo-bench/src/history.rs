//! Latency with history: one conversation driven to many events through the engine, one
//! send-message command at a time; the first and the last commands' latencies compared, and
//! then, at the same moments, a new conversation's first commands and the long one's next
//! commands, alternating (on a shared machine, the first and last windows of a sequential run
//! are also two moments of its background load).

use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::engine::Target;
use crate::stats::Latencies;

#[derive(Debug)]
pub struct HistoryResult {
    pub events: u64,
    pub first: Latencies,
    pub last: Latencies,
    /// The median of each tenth of the run, in order: the curve between first and last.
    pub tenths: Vec<f64>,
    /// After the run, alternating: a new conversation's first commands, and the long one's.
    pub fresh: Latencies,
    pub long: Latencies,
}

/// Sends to one new conversation until it holds `events` events; the first and last `window`
/// commands' latencies.
pub async fn run(target: &Target, events: u64, window: usize) -> anyhow::Result<HistoryResult> {
    let conversation = target.open_conversation(&format!("+4918{:08}", fastrand::u32(..100_000_000))).await?;
    let path = format!("/v1/conversations/{conversation}/messages");
    let body = json!({"actor": {"kind": "agent", "id": "bench"},
                      "content": {"type": "text", "body": "a benchmark message of an ordinary length"}});
    let opened = target.get(&format!("/v1/conversations/{conversation}/events?limit=1000")).await?;
    let last = opened["items"].as_array().and_then(|events| events.last());
    let mut version = last.and_then(|e| e["sequence"].as_u64()).context("no events in the new conversation")?;
    let commands = usize::try_from(events.saturating_sub(version))?;
    anyhow::ensure!(commands >= 2 * window, "{events} events leave fewer than 2 × {window} commands");
    let (mut first, mut last) = (Latencies::default(), Latencies::default());
    let mut tenths: Vec<Latencies> = (0..10).map(|_| Latencies::default()).collect();
    let started = Instant::now();
    for i in 0..commands {
        let began = Instant::now();
        let answer = target.post(&path, &body).await?;
        let took = began.elapsed();
        if i < window {
            first.push(took);
        } else if i >= commands - window {
            last.push(took);
        }
        tenths[i * 10 / commands].push(took);
        version = answer["version"].as_u64().context("no version in the send-message answer")?;
    }
    eprintln!(
        "history: {commands} commands in {:.1?}, first {window} p50 {:.2} ms, last {window} p50 {:.2} ms",
        started.elapsed(),
        first.percentile_ms(50.0),
        last.percentile_ms(50.0)
    );
    anyhow::ensure!(version >= events, "the conversation reached version {version}, not {events}");
    let tenths = tenths.iter().map(|t| t.percentile_ms(50.0)).collect();

    let new = target.open_conversation(&format!("+4919{:08}", fastrand::u32(..100_000_000))).await?;
    let new_path = format!("/v1/conversations/{new}/messages");
    let (mut fresh, mut long) = (Latencies::default(), Latencies::default());
    for _ in 0..window {
        for (path, latencies) in [(&new_path, &mut fresh), (&path, &mut long)] {
            let began = Instant::now();
            target.post(path, &body).await?;
            latencies.push(began.elapsed());
        }
    }
    eprintln!(
        "history: alternating, a new conversation p50 {:.2} ms, the long one p50 {:.2} ms",
        fresh.percentile_ms(50.0),
        long.percentile_ms(50.0)
    );
    Ok(HistoryResult { events: version, first, last, tenths, fresh, long })
}
