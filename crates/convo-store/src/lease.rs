//! Leases: exactly one process at a time runs each follower of the log (decision 0003). A
//! process holds a follower's lease until it expires and renews it while it runs; another takes
//! it over only once it expired, with the next token. The token fences the follower's writes:
//! its checkpoint moves only while the lease still carries the token it was acquired with, so a
//! holder that stalled past its lease (SIGSTOP, a long pause, a cut-off network) writes nothing
//! when it wakes up. Expiry is judged by the clocks of the processes (Unix milliseconds): clocks
//! that disagree by more than a fraction of the TTL only delay a takeover or let two run for a
//! moment, and the token keeps the second one's writes out either way.

use std::time::Duration;

use crate::{SqlStore, SqlValue, Statement, StoreError};

/// How long a lease runs unless renewed; a takeover after a holder died waits at most this
/// plus [`Lease::renew_every`].
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// A lease as held: what a fenced write checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// The lease's name: the follower's.
    pub name: String,
    pub token: i64,
}

impl Fence {
    /// A condition (to AND into a guard) that holds while this lease still carries its token,
    /// with its values numbered from `first`.
    pub fn condition<S: SqlStore>(&self, sql: &S, first: usize) -> Statement {
        let condition = format!(
            "EXISTS (SELECT 1 FROM follower_leases WHERE name = {} AND token = {})",
            sql.placeholder(first),
            sql.placeholder(first + 1)
        );
        (condition, vec![SqlValue::Text(self.name.clone()), SqlValue::Int(self.token)])
    }

    /// A statement that affects the lease's one row while it still carries this token: the
    /// guard of a transaction that writes only while the lease is held.
    pub fn guard<S: SqlStore>(&self, sql: &S) -> Statement {
        let guard = sql.sql("UPDATE follower_leases SET token = token WHERE name = {1} AND token = {2}");
        (guard, vec![SqlValue::Text(self.name.clone()), SqlValue::Int(self.token)])
    }
}

/// One follower's lease, as one runner of it asks for it: two runners of the same follower,
/// in two processes or in one, are two holders.
#[derive(Debug, Clone)]
pub struct Lease<S> {
    sql: S,
    name: String,
    /// This runner of the follower: an id of its own.
    holder: String,
    ttl: Duration,
}

/// Releases started by runners that ended (their leases are let go in a task, since a runner
/// ends by being dropped): a process that shuts down waits for them ([`released`]), so another
/// process takes over at once rather than after the leases expire.
static RELEASES: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

pub(crate) fn releasing(release: impl std::future::Future<Output = ()> + Send + 'static) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let mut releases = RELEASES.lock().unwrap_or_else(|e| e.into_inner());
        releases.retain(|r| !r.is_finished());
        releases.push(runtime.spawn(release));
    }
}

/// Waits (at most `timeout`) for the leases of the runners that ended to be released: what a
/// process does last when it shuts down, after aborting its runners.
pub async fn released(timeout: Duration) {
    let releases: Vec<_> = std::mem::take(&mut *RELEASES.lock().unwrap_or_else(|e| e.into_inner()));
    let _ = tokio::time::timeout(timeout, futures::future::join_all(releases)).await;
}

/// How long a lease let go waits for the work under way that writes under its fence
/// ([`Held::draining`]).
const DRAIN: Duration = Duration::from_millis(1500);

/// A lease held, released when dropped (also when its task is aborted), so another process
/// takes over at once; `released` waits for such releases at shutdown.
pub struct Held<S: SqlStore> {
    lease: Lease<S>,
    pub fence: Fence,
    drain: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl<S: SqlStore> Held<S> {
    /// Lets the lease go only once `drained` is done (at most 1.5 s): the work under way
    /// under this fence finishes writing rather than being done again by the next holder.
    pub fn draining(mut self, drained: impl std::future::Future<Output = ()> + Send + 'static) -> Self {
        self.drain = Some(Box::pin(drained));
        self
    }
}

impl<S: SqlStore> Drop for Held<S> {
    fn drop(&mut self) {
        let (lease, fence, drain) = (self.lease.clone(), self.fence.clone(), self.drain.take());
        releasing(async move {
            if let Some(drain) = drain {
                let _ = tokio::time::timeout(DRAIN, drain).await;
            }
            if let Err(e) = lease.release(&fence).await {
                tracing::debug!(lease = fence.name, error = %e, "could not release a lease; it expires");
            }
        });
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<S: SqlStore> Lease<S> {
    pub fn new(sql: S, name: impl Into<String>, ttl: Duration) -> Self {
        Self { sql, name: name.into(), holder: uuid::Uuid::new_v4().to_string(), ttl }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `fence` (acquired from this lease) as a guard that lets it go when dropped.
    pub fn held(&self, fence: Fence) -> Held<S> {
        Held { lease: self.clone(), fence, drain: None }
    }

    /// How often a holder renews: a few times per TTL, so one slow renewal does not lose it.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 5
    }

    fn until(&self) -> i64 {
        now_ms() + i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX / 2)
    }

    /// Takes the lease if nobody holds it, or its holder let it expire: its fence, or `None`
    /// while another process holds it.
    pub async fn acquire(&self) -> Result<Option<Fence>, StoreError> {
        let create = "INSERT INTO follower_leases (name, holder, token, expires_at_ms) VALUES ({1}, {2}, 1, {3}) \
                      ON CONFLICT (name) DO NOTHING";
        let values =
            [SqlValue::Text(self.name.clone()), SqlValue::Text(self.holder.clone()), SqlValue::Int(self.until())];
        if self.sql.execute(&self.sql.sql(create), &values).await? == 1 {
            return Ok(Some(Fence { name: self.name.clone(), token: 1 }));
        }
        let take = "UPDATE follower_leases SET holder = {2}, token = token + 1, expires_at_ms = {3} \
                    WHERE name = {1} AND expires_at_ms < {4} RETURNING token";
        let values = [
            SqlValue::Text(self.name.clone()),
            SqlValue::Text(self.holder.clone()),
            SqlValue::Int(self.until()),
            SqlValue::Int(now_ms()),
        ];
        let token = self.sql.scalar(&self.sql.sql(take), &values).await?;
        Ok(token.map(|token| Fence { name: self.name.clone(), token }))
    }

    /// Extends the lease `fence` holds; false when it is no longer held with that token (it
    /// expired and another process took it over).
    pub async fn renew(&self, fence: &Fence) -> Result<bool, StoreError> {
        let renew = "UPDATE follower_leases SET expires_at_ms = {3} WHERE name = {1} AND token = {2}";
        let values = [SqlValue::Text(fence.name.clone()), SqlValue::Int(fence.token), SqlValue::Int(self.until())];
        Ok(self.sql.execute(&self.sql.sql(renew), &values).await? == 1)
    }

    /// Lets the lease go at once (a process shutting down), so another takes over without
    /// waiting for it to expire.
    pub async fn release(&self, fence: &Fence) -> Result<(), StoreError> {
        let release = "UPDATE follower_leases SET expires_at_ms = 0 WHERE name = {1} AND token = {2}";
        let values = [SqlValue::Text(fence.name.clone()), SqlValue::Int(fence.token)];
        self.sql.execute(&self.sql.sql(release), &values).await.map(drop)
    }
}
