//! Latency samples, percentiles, peak memory, and the Markdown table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::Row;
use crate::engine::LagResult;

/// Every observed latency of one measurement.
#[derive(Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (nearest rank), in milliseconds; NaN without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
    }
}

/// The process's peak resident set (VmHWM), in KiB, if /proc says.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub fn markdown(
    rows: &[Row],
    lag: &LagResult,
    peak_rss: Option<u64>,
    duration: Duration,
    conversations: usize,
) -> String {
    let mut t = String::new();
    let secs = duration.as_secs_f64();
    let _ = writeln!(
        t,
        "| clients | limit: INSERT tx/s | limit p50 / p99 ms | engine: send-message cmd/s | engine p50 / p99 ms | engine / limit | errors |"
    );
    let _ = writeln!(t, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let (limit, engine) = (r.limit.per_second(), r.engine.per_second());
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.2} / {:.2} | {:.0} | {:.2} / {:.2} | {:.1} % | {} |",
            r.clients,
            limit,
            r.limit.latencies.percentile_ms(50.0),
            r.limit.latencies.percentile_ms(99.0),
            engine,
            r.engine.latencies.percentile_ms(50.0),
            r.engine.latencies.percentile_ms(99.0),
            100.0 * engine / limit,
            r.limit.errors + r.engine.errors,
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "Projection lag at {} clients (command acknowledged -> visible in GET /v1/conversations/{{id}}, \
         {} samples, polled every {} ms): p50 {:.1} ms, p99 {:.1} ms{}.",
        lag.clients,
        lag.latencies.count(),
        crate::engine::LAG_POLL.as_millis(),
        lag.latencies.percentile_ms(50.0),
        lag.latencies.percentile_ms(99.0),
        if lag.errors > 0 { format!(", {} failed", lag.errors) } else { String::new() },
    );
    let rss = peak_rss.map_or_else(|| "unknown".to_owned(), |kib| format!("{:.0} MiB", kib as f64 / 1024.0));
    let _ = writeln!(
        t,
        "Peak RSS of the benchmark process (gateway, engine, projections and HTTP clients in one process): {rss}."
    );
    let _ =
        writeln!(t, "Each level runs {secs} s; the engine's clients send to {conversations} conversations at random.");
    t
}
