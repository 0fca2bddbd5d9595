//! The dashboard (`/app`) in a real browser, on the queries section's load: tests/browser/measure.py
//! (Playwright for Python driving Debian's Chromium, installed by deploy/browser.sh) against the
//! server: the bytes of the first load, the inbox list's first paint over several loads, and the
//! page's JavaScript heap while steady inbound traffic arrives and the list follows it live.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;

use crate::engine::Target;

/// The script, in the repository beside this crate.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/browser/measure.py");

#[derive(Debug, Deserialize)]
pub struct DashboardResult {
    /// Everything `/app` fetched to start, as transferred.
    pub first_load_bytes: u64,
    /// The rows the first page showed.
    pub rows: u64,
    /// Navigation start to the list's first page on screen, each load, sorted.
    pub list_paint_ms: Vec<f64>,
    /// The page's heap after a forced collection, every 30 s of steady traffic.
    pub heap: Vec<HeapSample>,
    #[serde(skip)]
    pub conversations: u64,
    #[serde(skip)]
    pub minutes: f64,
    #[serde(skip)]
    pub rate: f64,
}

#[derive(Debug, Deserialize)]
pub struct HeapSample {
    pub seconds: u64,
    pub js_heap_bytes: u64,
    pub nodes: u64,
    /// Inbound messages posted by then.
    pub sent: u64,
    /// Live events the page's activity panel held (it keeps the last 50).
    pub events_shown: u64,
}

impl DashboardResult {
    /// The heap's growth over the run, once the page has warmed up (its first minute): the
    /// floor of the last third of the samples against the floor of the first third. What the
    /// page keeps is the floor; single samples swing by a megabyte above it with what is in
    /// flight (a page of rows being replaced) when they are taken.
    pub fn heap_growth(&self) -> Option<f64> {
        let warm: Vec<u64> = self.heap.iter().filter(|s| s.seconds >= 60).map(|s| s.js_heap_bytes).collect();
        let third = warm.len() / 3;
        let floor = |part: &[u64]| part.iter().min().map(|&b| b as f64);
        Some(floor(&warm[warm.len() - third..])? / floor(&warm[..third])? - 1.0)
    }
}

pub async fn run(target: &Target, conversations: u64, minutes: f64, rate: f64) -> anyhow::Result<DashboardResult> {
    let python = std::env::var_os("CONVO_BROWSER_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/convo-venv-browser/bin/python")
    });
    anyhow::ensure!(
        python.exists(),
        "no {}: run `bash deploy/browser.sh` once (it installs Chromium and Playwright), or set CONVO_BROWSER_PYTHON",
        python.display()
    );
    let args = [
        SCRIPT.to_owned(),
        target.base.clone(),
        target.key.clone(),
        target.inbox_id.clone(),
        "--minutes".into(),
        minutes.to_string(),
        "--rate".into(),
        rate.to_string(),
    ];
    eprintln!("dashboard: measuring /app in Chromium ({minutes} min of {rate} inbound messages/s)");
    let output = tokio::task::spawn_blocking(move || std::process::Command::new(&python).args(&args).output())
        .await?
        .context("running tests/browser/measure.py")?;
    anyhow::ensure!(
        output.status.success(),
        "tests/browser/measure.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut result: DashboardResult =
        serde_json::from_slice(&output.stdout).context("reading tests/browser/measure.py's answer")?;
    (result.conversations, result.minutes, result.rate) = (conversations, minutes, rate);
    Ok(result)
}
