//! How long a follower of the log (every `follow`er, the log feed, the commit listener) waits
//! before trying again after a failure: one schedule for all of them, so a database or NATS
//! outage is retried the same way everywhere.

use std::time::Duration;

/// 50 ms, doubling up to 5 s; back to 50 ms after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    pub const FIRST: Duration = Duration::from_millis(50);
    pub const MAX: Duration = Duration::from_secs(5);

    pub const fn new() -> Self {
        Self { next: Self::FIRST }
    }

    /// Waits, and makes the next wait longer.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(Self::MAX);
    }

    /// After a success: the next failure waits the shortest again.
    pub fn reset(&mut self) {
        self.next = Self::FIRST;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;

    #[tokio::test(start_paused = true)]
    async fn waits_double_up_to_the_cap_and_start_over_after_a_success() {
        let mut backoff = Backoff::new();
        let mut waits = Vec::new();
        for _ in 0..9 {
            let started = tokio::time::Instant::now();
            backoff.wait().await;
            waits.push(started.elapsed().as_millis());
        }
        assert_eq!(waits, [50, 100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        let started = tokio::time::Instant::now();
        backoff.wait().await;
        assert_eq!(started.elapsed().as_millis(), 50);
    }
}
