//! Each workspace's ed25519 keys for `v1a` signatures (Standard Webhooks' asymmetric scheme):
//! receivers verify with a public key that anyone may fetch, so they hold no secret. A
//! workspace gets its first key with its first endpoint; a rotation retires the current key
//! after an overlap, during which both sign.

use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use convo_store::{SqlStore, SqlValue, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::Webhooks;

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
            SqlValue::Text(b64().encode(seed)),
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
    pub async fn rotate_signing_key(
        &self,
        workspace_id: Uuid,
        overlap: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<SigningKey>, StoreError> {
        self.ensure_signing_key(workspace_id, now).await?;
        let until = now.timestamp_millis() + i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX / 2);
        let retire = self.sql().sql(
            "UPDATE webhook_signing_keys SET retires_at_ms = {2} WHERE workspace_id = {1} AND retires_at_ms IS NULL",
        );
        self.sql().execute(&retire, &[SqlValue::Text(workspace_id.to_string()), SqlValue::Int(until)]).await?;
        self.insert_key(workspace_id, &Uuid::now_v7().to_string(), now).await?;
        self.signing_keys(workspace_id, now).await
    }

    /// The private keys that sign now, of every workspace.
    pub(crate) async fn signing_seeds(&self) -> Result<Vec<(Uuid, ed25519_dalek::SigningKey)>, StoreError> {
        let sql = self.sql().sql(
            "SELECT workspace_id || ' ' || private_key FROM webhook_signing_keys
              WHERE retires_at_ms IS NULL OR retires_at_ms > {1}",
        );
        let rows = self.sql().text_rows(&sql, &[SqlValue::Int(Utc::now().timestamp_millis())]).await?;
        rows.iter()
            .map(|row| {
                let corrupt = || StoreError::Corrupt("a signing key".into());
                let (workspace, seed) = row.split_once(' ').ok_or_else(corrupt)?;
                let seed: [u8; 32] = b64().decode(seed).ok().and_then(|s| s.try_into().ok()).ok_or_else(corrupt)?;
                Ok((workspace.parse().map_err(|_| corrupt())?, ed25519_dalek::SigningKey::from_bytes(&seed)))
            })
            .collect()
    }
}
