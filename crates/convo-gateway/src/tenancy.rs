//! Workspaces and their API keys. A key is `cvk_<key id>_<secret>`: the key id is public (it
//! names the key in lists and logs), the secret is 244 random bits from the OS, and only the
//! SHA-256 of the whole token is stored. Verified keys are cached briefly so a request costs no
//! round trip; a revocation through the same [`Tenancy`] takes effect at once, elsewhere within
//! [`KEY_CACHE_TTL`].

use std::fmt::Write as _;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lru::LruCache;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use convo_store::{SqlStore, SqlValue, StoreError};

/// How long a verified (or unknown) key is trusted without asking the database again.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(10);
/// The prefix that makes a convo key recognisable (in secret scanners, in logs).
pub const KEY_PREFIX: &str = "cvk_";

/// What a key may do. `admin` includes `write`, which includes `read`; `connector` (channel-side
/// facts: inbound messages, delivery reports, what a contact did) includes `read`, and `admin`
/// includes it too. `write` and `connector` do not include each other: an agent desktop cannot
/// report what a contact said, a connector cannot act as an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
    Connector,
}

impl Scope {
    /// Its name, as in JSON and on the command line.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
            Self::Connector => "connector",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            "connector" => Ok(Self::Connector),
            other => Err(format!("unknown scope {other:?}: read, write, admin or connector")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    pub workspace_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// An API key as lists show it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub key_id: String,
    pub workspace_id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
}

impl ApiKey {
    /// Whether the key grants `needed` (see [`Scope`] for which scope includes which).
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|&s| s == needed || s == Scope::Admin || (needed == Scope::Read && s != Scope::Read))
    }
}

/// A key just created: the token is shown this once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IssuedKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// `Authorization: Bearer <token>`. Shown only in this answer: only its hash is stored.
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    #[error("no such workspace")]
    UnknownWorkspace,
    #[error("{field}: {reason}")]
    Validation { field: &'static str, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// When a key was verified, the hash it was verified with, and the key.
type CachedKey = (Instant, String, ApiKey);

/// Workspaces and keys in the backend's database.
pub struct Tenancy<S: SqlStore> {
    sql: S,
    cache: Mutex<LruCache<String, CachedKey>>,
}

impl<S: SqlStore> Tenancy<S> {
    pub fn new(sql: S) -> Self {
        Self { sql, cache: Mutex::new(LruCache::new(NonZeroUsize::new(10_000).expect("non-zero"))) }
    }

    pub async fn create_workspace(&self, name: &str) -> Result<Workspace, TenancyError> {
        self.create_workspace_with_id(Uuid::now_v7(), name).await
    }

    /// A workspace with a chosen id (imports, fixtures).
    pub async fn create_workspace_with_id(&self, workspace_id: Uuid, name: &str) -> Result<Workspace, TenancyError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(TenancyError::Validation { field: "name", reason: "1 to 200 characters".into() });
        }
        let workspace = Workspace { workspace_id, name: name.to_owned(), created_at: Utc::now() };
        self.sql
            .execute(
                &self.sql.sql("INSERT INTO workspaces (workspace_id, row) VALUES ({1}, {2})"),
                &[SqlValue::Text(workspace.workspace_id.to_string()), json(&workspace)?],
            )
            .await?;
        Ok(workspace)
    }

    pub async fn workspaces(&self) -> Result<Vec<Workspace>, TenancyError> {
        let rows = self.sql.json_rows("SELECT row FROM workspaces ORDER BY workspace_id", &[]).await?;
        rows.into_iter().map(|r| serde_json::from_value(r).map_err(|e| StoreError::from(e).into())).collect()
    }

    pub async fn workspace(&self, workspace_id: Uuid) -> Result<Option<Workspace>, TenancyError> {
        let sql = self.sql.sql("SELECT row FROM workspaces WHERE workspace_id = {1}");
        let rows = self.sql.json_rows(&sql, &[SqlValue::Text(workspace_id.to_string())]).await?;
        rows.into_iter().next().map(|r| serde_json::from_value(r).map_err(|e| StoreError::from(e).into())).transpose()
    }

    /// A new key for `workspace_id` with `scopes`; its token is in the answer and nowhere else.
    pub async fn create_key(
        &self,
        workspace_id: Uuid,
        name: &str,
        scopes: &[Scope],
    ) -> Result<IssuedKey, TenancyError> {
        if scopes.is_empty() {
            return Err(TenancyError::Validation { field: "scopes", reason: "at least one scope".into() });
        }
        if self.workspace(workspace_id).await?.is_none() {
            return Err(TenancyError::UnknownWorkspace);
        }
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let key_id = Uuid::new_v4().simple().to_string()[..16].to_owned();
        // Two v4 UUIDs: 244 bits from the OS's generator.
        let secret = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let token = format!("{KEY_PREFIX}{key_id}_{secret}");
        let name = if name.trim().is_empty() { key_id.clone() } else { name.trim().to_owned() };
        let key = ApiKey { key_id: key_id.clone(), workspace_id, name, scopes, created_at: Utc::now() };
        self.sql
            .execute(
                &self
                    .sql
                    .sql("INSERT INTO api_keys (key_id, workspace_id, secret_hash, row) VALUES ({1}, {2}, {3}, {4})"),
                &[
                    SqlValue::Text(key_id),
                    SqlValue::Text(workspace_id.to_string()),
                    SqlValue::Text(sha256(&token)),
                    json(&key)?,
                ],
            )
            .await?;
        Ok(IssuedKey { key, token })
    }

    /// A page of the live (not revoked) keys of a workspace by id: up to `limit` after the key
    /// `after` (keyset on `api_keys_by_workspace`).
    pub async fn keys(&self, workspace_id: Uuid, after: Option<&str>, limit: u32) -> Result<Vec<ApiKey>, TenancyError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT row FROM api_keys WHERE workspace_id = {1} AND revoked_at IS NULL");
        if let Some(after) = after {
            values.push(SqlValue::Text(after.to_owned()));
            sql.push_str(" AND key_id > {2}");
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY key_id LIMIT {{{}}}", values.len()));
        let rows = self.sql.json_rows(&self.sql.sql(&sql), &values).await?;
        rows.into_iter().map(|r| serde_json::from_value(r).map_err(|e| StoreError::from(e).into())).collect()
    }

    /// Revokes a key of `workspace_id` (of any workspace with `None`); false if there was no
    /// such live key.
    pub async fn revoke(&self, workspace_id: Option<Uuid>, key_id: &str) -> Result<bool, TenancyError> {
        let now = SqlValue::Text(Utc::now().to_rfc3339());
        let done = match workspace_id {
            Some(ws) => {
                let sql = "UPDATE api_keys SET revoked_at = {1} WHERE key_id = {2} AND workspace_id = {3} \
                           AND revoked_at IS NULL";
                let values = [now, SqlValue::Text(key_id.to_owned()), SqlValue::Text(ws.to_string())];
                self.sql.execute(&self.sql.sql(sql), &values).await?
            }
            None => {
                let sql = "UPDATE api_keys SET revoked_at = {1} WHERE key_id = {2} AND revoked_at IS NULL";
                self.sql.execute(&self.sql.sql(sql), &[now, SqlValue::Text(key_id.to_owned())]).await?
            }
        };
        self.cache.lock().expect("key cache").pop(key_id);
        Ok(done == 1)
    }

    /// The live key a bearer token belongs to, if any.
    pub async fn authenticate(&self, token: &str) -> Result<Option<ApiKey>, StoreError> {
        let Some((key_id, _secret)) = token.strip_prefix(KEY_PREFIX).and_then(|rest| rest.split_once('_')) else {
            return Ok(None);
        };
        let hash = sha256(token);
        if let Some((at, cached_hash, key)) = self.cache.lock().expect("key cache").get(key_id)
            && at.elapsed() < KEY_CACHE_TTL
            && *cached_hash == hash
        {
            return Ok(Some(key.clone()));
        }
        let sql =
            self.sql.sql("SELECT row FROM api_keys WHERE key_id = {1} AND secret_hash = {2} AND revoked_at IS NULL");
        let rows = self.sql.json_rows(&sql, &[SqlValue::Text(key_id.to_owned()), SqlValue::Text(hash.clone())]).await?;
        let key: Option<ApiKey> = rows.into_iter().next().map(serde_json::from_value).transpose()?;
        if let Some(key) = &key {
            self.cache.lock().expect("key cache").put(key_id.to_owned(), (Instant::now(), hash, key.clone()));
        }
        Ok(key)
    }
}

fn json<T: Serialize>(value: &T) -> Result<SqlValue, StoreError> {
    Ok(SqlValue::json(value)?)
}

/// Lower-case hex SHA-256.
pub fn sha256(data: &str) -> String {
    Sha256::digest(data.as_bytes()).iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
