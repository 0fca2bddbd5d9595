//! Following the log: what every follower shares (its progress as this process sees it, and
//! how often it stores a checkpoint that nothing else moves).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

/// How long a runner may hold a checkpoint it has not stored, when the events it folded changed
/// no row of its model: at most this much is folded again after a restart, and far fewer
/// transactions are written by models that most events do not touch.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A follower of the log's progress as this process sees it (a projection's, or the bus
/// publisher's): for `/readyz`, `convo projections status` and read-your-writes waits.
#[derive(Debug)]
pub struct ProjectionStatus {
    pub name: &'static str,
    position: watch::Sender<i64>,
    error: Mutex<Option<String>>,
}

impl ProjectionStatus {
    pub fn new(name: &'static str) -> Arc<Self> {
        Arc::new(Self { name, position: watch::Sender::new(0), error: Mutex::new(None) })
    }

    pub fn position(&self) -> i64 {
        *self.position.borrow()
    }

    /// Why the projection stopped, if it did.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the position to what the store holds, even below the one recorded: a follower that
    /// restarts from its stored checkpoint (a lazy commit lost in a crash) is there again.
    pub fn restart_at(&self, position: i64) {
        self.position.send_replace(position);
    }

    /// Records that everything up to `position` is done.
    pub fn advance(&self, position: i64) {
        self.position.send_if_modified(|p| {
            let newer = position > *p;
            if newer {
                *p = position;
            }
            newer
        });
    }

    /// Records why the follower stopped (or, for one that restarts, why it is failing).
    pub fn fail(&self, error: String) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = Some(error);
    }

    /// Clears the error of a follower that works again.
    pub fn recover(&self) {
        *self.error.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Waits until the projection has folded every event up to `position`, at most `timeout`.
    pub async fn wait_for(&self, position: i64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await.is_ok_and(|r| r.is_ok())
    }
}
