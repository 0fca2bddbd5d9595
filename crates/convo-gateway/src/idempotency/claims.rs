//! Idempotency keys of commands. The first request with a key takes a lease and, once
//! answered, stores its response; a repeat with the same request gets that response, a repeat
//! with another request is refused, and a repeat while the first still runs is told so. A lease
//! is short and renewed while its request runs ([`Idempotency::renew`]), so an expired one means
//! the request ended without an answer to keep (it died, or failed when the database was away):
//! whoever takes it over finds what that request committed through the key in the events'
//! metadata, and runs it only if nothing was.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use convo_store::{SqlStore, SqlValue, StoreError};

/// How long keys are kept at least, in milliseconds (24 hours).
pub const IDEMPOTENCY_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a claim holds its key without being renewed, in milliseconds: how long a retry
/// may have to wait after a request ended without an answer to keep.
pub const IDEMPOTENCY_LEASE_MS: i64 = 2_000;

/// A stored answer to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    /// The answer's body; when `sealed`, a string: the body's JSON text sealed with the node's
    /// secrets key (it shows a secret).
    pub body: serde_json::Value,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sealed: bool,
}

/// What to do with a request that carries an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is new (or its first request died): run the request, then [`Idempotency::complete`].
    Run { took_over: bool },
    /// The key was used with the same request: answer this.
    Replay(StoredResponse),
    /// The key was used with another request.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

pub struct Idempotency<S: SqlStore> {
    sql: S,
    lease_ms: i64,
}

impl<S: SqlStore> Idempotency<S> {
    /// `lease_ms`: how long a claim lasts unless renewed (see [`IDEMPOTENCY_LEASE_MS`]).
    pub fn new(sql: S, lease_ms: i64) -> Self {
        Self { sql, lease_ms }
    }

    /// Claims `key` of `workspace` for a request hashing to `request_hash`, at `now_ms`.
    pub async fn claim(
        &self,
        workspace: Uuid,
        key: &str,
        request_hash: &str,
        now_ms: i64,
    ) -> Result<Claim, StoreError> {
        let ws = SqlValue::Text(workspace.to_string());
        let k = SqlValue::Text(key.to_owned());
        let inserted = self
            .sql
            .execute(
                &self.sql.sql(
                    "INSERT INTO idempotency_keys (workspace_id, key, request_hash, created_at, locked_until) \
                     VALUES ({1}, {2}, {3}, {4}, {5}) ON CONFLICT (workspace_id, key) DO NOTHING",
                ),
                &[
                    ws.clone(),
                    k.clone(),
                    SqlValue::Text(request_hash.to_owned()),
                    SqlValue::Int(now_ms),
                    SqlValue::Int(now_ms + self.lease_ms),
                ],
            )
            .await?;
        if inserted == 1 {
            return Ok(Claim::Run { took_over: false });
        }
        let hashes = self
            .sql
            .text_rows(
                &self.sql.sql("SELECT request_hash FROM idempotency_keys WHERE workspace_id = {1} AND key = {2}"),
                &[ws.clone(), k.clone()],
            )
            .await?;
        let Some(stored_hash) = hashes.into_iter().next() else {
            // Purged between the two statements: a new key after all.
            return Box::pin(self.claim(workspace, key, request_hash, now_ms)).await;
        };
        if stored_hash != request_hash {
            return Ok(Claim::Mismatch);
        }
        let responses = self
            .sql
            .json_rows(
                &self.sql.sql(
                    "SELECT response FROM idempotency_keys WHERE workspace_id = {1} AND key = {2} AND response IS NOT NULL",
                ),
                &[ws.clone(), k.clone()],
            )
            .await?;
        if let Some(response) = responses.into_iter().next() {
            return Ok(Claim::Replay(serde_json::from_value(response)?));
        }
        // Take over an expired lease; of two racing takers only one wins.
        let taken = self
            .sql
            .execute(
                &self.sql.sql(
                    "UPDATE idempotency_keys SET locked_until = {3} \
                     WHERE workspace_id = {1} AND key = {2} AND response IS NULL AND locked_until <= {4}",
                ),
                &[ws, k, SqlValue::Int(now_ms + self.lease_ms), SqlValue::Int(now_ms)],
            )
            .await?;
        Ok(if taken == 1 { Claim::Run { took_over: true } } else { Claim::InFlight })
    }

    /// Extends the lease on `key` to `until_ms`, while its request still runs.
    pub async fn renew(&self, workspace: Uuid, key: &str, until_ms: i64) -> Result<(), StoreError> {
        self.sql
            .execute(
                &self.sql.sql(
                    "UPDATE idempotency_keys SET locked_until = {3} \
                     WHERE workspace_id = {1} AND key = {2} AND response IS NULL",
                ),
                &[SqlValue::Text(workspace.to_string()), SqlValue::Text(key.to_owned()), SqlValue::Int(until_ms)],
            )
            .await
            .map(|_| ())
    }

    /// How long a claim lasts unless renewed, in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// Stores the response to replay for `key`.
    pub async fn complete(&self, workspace: Uuid, key: &str, response: &StoredResponse) -> Result<(), StoreError> {
        self.sql
            .execute(
                &self.sql.sql("UPDATE idempotency_keys SET response = {3} WHERE workspace_id = {1} AND key = {2}"),
                &[SqlValue::Text(workspace.to_string()), SqlValue::Text(key.to_owned()), SqlValue::json(&response)?],
            )
            .await
            .map(|_| ())
    }

    /// Forgets `key` (its request failed in a way worth retrying).
    pub async fn release(&self, workspace: Uuid, key: &str) -> Result<(), StoreError> {
        self.sql
            .execute(
                &self
                    .sql
                    .sql("DELETE FROM idempotency_keys WHERE workspace_id = {1} AND key = {2} AND response IS NULL"),
                &[SqlValue::Text(workspace.to_string()), SqlValue::Text(key.to_owned())],
            )
            .await
            .map(|_| ())
    }

    /// Deletes keys created before `now_ms - IDEMPOTENCY_RETENTION_MS`; how many.
    pub async fn purge(&self, now_ms: i64) -> Result<u64, StoreError> {
        self.sql
            .execute(
                &self.sql.sql("DELETE FROM idempotency_keys WHERE created_at < {1}"),
                &[SqlValue::Int(now_ms - IDEMPOTENCY_RETENTION_MS)],
            )
            .await
    }
}
