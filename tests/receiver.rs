//! The webhook receiver of the tests: `tests/fixtures/webhook_receiver.py`, a process that
//! verifies every delivery's `v1` signature with the Python Standard Webhooks library (from
//! PyPI, installed by `deploy/python-deps.sh` on first use) and answers as a test scripts it.

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The receiver process, its address, and what it logged.
pub struct Receiver {
    child: std::process::Child,
    dir: tempfile::TempDir,
    pub url: String,
}

impl Receiver {
    /// Starts the receiver with `behaviour` (see the fixture), verifying with the secret the
    /// test writes later ([`Receiver::trust`]).
    pub fn start(behaviour: Value) -> Self {
        Self::start_with(behaviour, &[])
    }

    /// [`Receiver::start`], also verifying `v1a` signatures with `public_keys` (`whpk_…`).
    pub fn start_with(behaviour: Value, public_keys: &[String]) -> Self {
        // The Python packages, from PyPI once (a no-op when they are there).
        static DEPENDENCIES: std::sync::Once = std::sync::Once::new();
        DEPENDENCIES.call_once(|| {
            let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/python-deps.sh");
            let status = std::process::Command::new("bash").arg(&script).status().expect("bash");
            assert!(status.success(), "{} failed", script.display());
        });
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(dir.path().join("behaviour.json"), behaviour.to_string()).expect("behaviour");
        let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/webhook_receiver.py");
        let mut child = std::process::Command::new("python3")
            .arg(&fixture)
            .args(["--port", "0", "--secret-file", &path("secrets"), "--behaviour", &path("behaviour.json")])
            .args(["--log", &path("received.jsonl")])
            .args(public_keys.iter().flat_map(|key| ["--ed25519-public-key", key.as_str()]))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the receiver (bash deploy/python-deps.sh installs what it needs)");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("its stdout");
        std::io::BufReader::new(stdout).read_line(&mut line).expect("the receiver's first line");
        let port = line.trim().strip_prefix("listening ").unwrap_or_else(|| panic!("the receiver said {line:?}"));
        let url = format!("http://127.0.0.1:{port}/hooks");
        Self { child, dir, url }
    }

    pub fn trust(&self, secret: &str) {
        std::fs::write(self.dir.path().join("secrets"), secret).expect("the secret file");
    }

    /// Every request it logged, in the order it got them.
    pub fn received(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("received.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("a log line")).collect()
    }

    /// Waits until it has logged `n` requests (at most 30 s).
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{} of {n} requests arrived: {received:#?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
