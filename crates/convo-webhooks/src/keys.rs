//! Each workspace's ed25519 keys for `v1a` signatures (Standard Webhooks' asymmetric scheme):
//! receivers verify with a public key that anyone may fetch, so they hold no secret. A
//! workspace gets its first key with its first endpoint; a rotation retires the current key
//! after an overlap, during which both sign. The private halves (the 32-byte seeds) are stored
//! sealed with the node's secrets key (`crate::secrets`).

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use convo_store::{SqlStore, SqlValue, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::secrets::SealError;
use crate::{SecretError, Webhooks};

/// A signing key as anyone may see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SigningKey {
    pub key_id: String,
    /// `whpk_` and the raw 32-byte ed25519 public key, base64: verifies the `v1a` signatures.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    /// When it stops signing (after a rotation's overlap); none for the current key.
    pub retires_at: Option<DateTime<Utc>>,
}

/// The keys that sign now (`{1}`: now, in Unix milliseconds): the current one, and those
/// rotated whose overlap lasts.
pub(crate) const SIGNING_NOW: &str = "(retires_at_ms IS NULL OR retires_at_ms > {1})";

/// What a key's seed is sealed for: the key.
pub(crate) fn seed_context(key_id: &str) -> String {
    format!("webhook signing key {key_id}")
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

impl<S: SqlStore> Webhooks<S> {
    /// Gives the workspace its first key if it has none (two callers at once make one).
    pub async fn ensure_signing_key(&self, workspace_id: Uuid, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.insert_key(workspace_id, &format!("{workspace_id}-1"), now).await
    }

    async fn insert_key(&self, workspace_id: Uuid, key_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).expect("the operating system's random numbers");
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
        let sql = self.sql().sql(
            "INSERT INTO webhook_signing_keys (key_id, workspace_id, private_key, public_key, created_at_ms)
             VALUES ({1}, {2}, {3}, {4}, {5}) ON CONFLICT (key_id) DO NOTHING",
        );
        let values = [
            SqlValue::Text(key_id.to_owned()),
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(self.secrets_key().seal(&seed_context(key_id), &b64().encode(seed))),
            SqlValue::Text(format!("whpk_{}", b64().encode(public.as_bytes()))),
            SqlValue::Int(now.timestamp_millis()),
        ];
        self.sql().execute(&sql, &values).await.map(drop)
    }

    /// The workspace's keys that sign now, or did (newest first): retired ones stay listed
    /// until their overlap ended.
    pub async fn signing_keys(&self, workspace_id: Uuid, now: DateTime<Utc>) -> Result<Vec<SigningKey>, StoreError> {
        self.ensure_signing_key(workspace_id, now).await?;
        let sql = self.sql().sql(
            "SELECT key_id || ' ' || public_key || ' ' || created_at_ms || ' ' || coalesce(retires_at_ms, -1)
               FROM webhook_signing_keys
              WHERE workspace_id = {1} AND (retires_at_ms IS NULL OR retires_at_ms > {2})
              ORDER BY created_at_ms DESC, key_id DESC",
        );
        let values = [SqlValue::Text(workspace_id.to_string()), SqlValue::Int(now.timestamp_millis())];
        let rows = self.sql().text_rows(&sql, &values).await?;
        rows.iter()
            .map(|row| {
                let parts: Vec<&str> = row.split(' ').collect();
                let [key_id, public_key, created, retires] = parts[..] else {
                    return Err(StoreError::Corrupt(format!("a signing key row: {row}")));
                };
                let number = |s: &str| s.parse::<i64>().map_err(|_| StoreError::Corrupt(format!("a signing key: {s}")));
                let retires = number(retires)?;
                Ok(SigningKey {
                    key_id: key_id.to_owned(),
                    public_key: public_key.to_owned(),
                    created_at: time(number(created)?),
                    retires_at: (retires >= 0).then(|| time(retires)),
                })
            })
            .collect()
    }

    /// A new current key for the workspace; the one before signs beside it for `overlap`.
    /// Refused (`SecretError::Sealed`) on a node that cannot open the workspace's keys.
    pub async fn rotate_signing_key(
        &self,
        workspace_id: Uuid,
        overlap: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKey>, SecretError> {
        self.ensure_signing_key(workspace_id, now).await?;
        self.check_keys(workspace_id).await?;
        let until = now.timestamp_millis() + i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX / 2);
        let retire = self.sql().sql(
            "UPDATE webhook_signing_keys SET retires_at_ms = {2} WHERE workspace_id = {1} AND retires_at_ms IS NULL",
        );
        self.sql().execute(&retire, &[SqlValue::Text(workspace_id.to_string()), SqlValue::Int(until)]).await?;
        self.insert_key(workspace_id, &Uuid::now_v7().to_string(), now).await?;
        Ok(self.signing_keys(workspace_id, now).await?)
    }

    /// Whether this node opens the workspace's keys that sign now.
    pub(crate) async fn check_keys(&self, workspace_id: Uuid) -> Result<(), SecretError> {
        for (_, key_id, stored) in self.stored_seeds(Some(workspace_id)).await? {
            self.open_seed(&key_id, &stored)?;
        }
        Ok(())
    }

    /// The private keys that sign now, of every workspace. One this node cannot open (sealed
    /// with another key) is left out: [`Webhooks::enabled`] leaves its workspace's endpoints
    /// out too, and reports them.
    pub(crate) async fn signing_seeds(&self) -> Result<Vec<(Uuid, ed25519_dalek::SigningKey)>, StoreError> {
        let mut seeds = Vec::new();
        for (workspace, key_id, stored) in self.stored_seeds(None).await? {
            match self.open_seed(&key_id, &stored) {
                Ok(seed) => seeds.push((workspace, ed25519_dalek::SigningKey::from_bytes(&seed))),
                Err(e) => tracing::debug!(key_id, error = %e, "a signing key this node cannot open"),
            }
        }
        Ok(seeds)
    }

    /// The keys that sign now, of one workspace or of all: (workspace, key id, sealed seed).
    pub(crate) async fn stored_seeds(
        &self,
        workspace: Option<Uuid>,
    ) -> Result<Vec<(Uuid, String, String)>, StoreError> {
        let mut sql = format!(
            "SELECT workspace_id || ' ' || key_id || ' ' || private_key FROM webhook_signing_keys WHERE {SIGNING_NOW}"
        );
        let mut values = vec![SqlValue::Int(Utc::now().timestamp_millis())];
        if let Some(workspace) = workspace {
            sql.push_str(" AND workspace_id = {2}");
            values.push(SqlValue::Text(workspace.to_string()));
        }
        let rows = self.sql().text_rows(&self.sql().sql(&sql), &values).await?;
        rows.iter()
            .map(|row| {
                let corrupt = || StoreError::Corrupt("a signing key".into());
                let mut parts = row.splitn(3, ' ');
                let (Some(workspace), Some(key_id), Some(stored)) = (parts.next(), parts.next(), parts.next()) else {
                    return Err(corrupt());
                };
                Ok((workspace.parse().map_err(|_| corrupt())?, key_id.to_owned(), stored.to_owned()))
            })
            .collect()
    }

    /// The seed of key `key_id`, opened from `stored`.
    pub(crate) fn open_seed(&self, key_id: &str, stored: &str) -> Result<[u8; 32], SealError> {
        let seed = self.secrets_key().open(&seed_context(key_id), stored)?;
        b64().decode(seed).ok().and_then(|s| s.try_into().ok()).ok_or(SealError::Malformed("not a 32-byte seed"))
    }
}
