//! Webhook endpoints of a workspace, their signing secrets, and the attempt log, in the SQL
//! store next to the log (`webhook_endpoints`, `webhook_attempts`; migration 0014). The secrets
//! are stored sealed with the node's secrets key (`crate::secrets`).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use convo_domain::webhook::{DisabledReason, WebhookEndpointAction};
use convo_domain::{Actor, WebhookEndpoint, WebhookEndpointCommand};
use convo_store::{AggregateStore, Backend, CommandError, SqlStore, SqlValue, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::secrets::{SealError, SecretsKey};

/// An endpoint as the API shows it: never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Endpoint {
    pub endpoint_id: Uuid,
    pub workspace_id: Uuid,
    /// Where events are POSTed.
    pub url: String,
    pub description: String,
    /// A disabled endpoint gets nothing; what it matched meanwhile is not delivered later.
    pub enabled: bool,
    /// The event types it gets (empty: every type).
    pub event_types: Vec<String>,
    /// Only events of this inbox and its conversations (none: every inbox).
    pub inbox_id: Option<Uuid>,
    /// It gets the events after this log position: those appended once it existed.
    pub after_position: i64,
    pub created_at: DateTime<Utc>,
    /// Why it was disabled by the engine (a 410 from the receiver, or no success for the
    /// disable period), if it was; the log holds it too, as a `WebhookEndpointDisabled` event.
    pub disabled_reason: Option<String>,
}

impl Endpoint {
    /// Whether this endpoint gets `event`, whose inbox is `inbox` (when known).
    pub fn matches(&self, event: &convo_store::LogEvent, inbox: Option<&str>) -> bool {
        self.enabled
            && event.position > self.after_position
            && event.workspace_id.as_deref() == Some(self.workspace_id.to_string().as_str())
            && (self.event_types.is_empty() || self.event_types.contains(&event.event_type))
            && self.inbox_id.is_none_or(|wanted| inbox == Some(wanted.to_string().as_str()))
    }
}

/// What creating an endpoint takes.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub description: String,
    pub enabled: bool,
    pub event_types: Vec<String>,
    pub inbox_id: Option<Uuid>,
}

/// What changing an endpoint changes (`None`: as it is).
#[derive(Debug, Clone, Default)]
pub struct EndpointChange {
    pub url: Option<String>,
    pub description: Option<String>,
    /// Enabling an endpoint clears why the engine disabled it.
    pub enabled: Option<bool>,
    pub event_types: Option<Vec<String>>,
    /// `Some(None)`: every inbox again.
    pub inbox_id: Option<Option<Uuid>>,
}

/// One attempt to deliver an event to an endpoint, as the attempt log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    pub endpoint_id: Uuid,
    /// The delivery's `webhook-id`: the same for every attempt of one event.
    pub webhook_id: String,
    /// The event's position in the log.
    pub position: i64,
    pub event_type: String,
    pub attempted_at: DateTime<Utc>,
    /// `scheduled` (the dispatcher), `manual` (a verify call) or `replay`.
    pub trigger: String,
    /// 1 for the first attempt of a delivery.
    pub attempt: u32,
    pub succeeded: bool,
    /// This failure was the last: the delivery is given up (the schedule is over, or the
    /// receiver answered 410 Gone).
    pub gave_up: bool,
    /// When the delivery is tried next, after a failure that is not the last.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's status code, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong without an answer (a timeout, a refused connection), or why an answer
    /// is a failure.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// The first 4 KiB of the receiver's answer.
    pub response_body: String,
}

/// An endpoint's signing secrets as stored (sealed, or in clear from before sealing),
/// space-separated, the current one first: the one before it too while its overlap after a
/// rotation lasts (`{1}`: now, in Unix milliseconds). Each is opened in Rust
/// ([`Webhooks::open_secrets`]); every delivery is signed with each.
const SECRETS: &str = "secret || CASE WHEN previous_secret IS NOT NULL AND previous_until_ms > {1}
                       THEN ' ' || previous_secret ELSE '' END";

/// How often endpoints left out for secrets this node cannot open are reported.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The store of endpoints and attempts, with the key their secrets are sealed with.
#[derive(Clone)]
pub struct Webhooks<S> {
    sql: S,
    key: SecretsKey,
    /// When endpoints left out of [`Webhooks::enabled`] were last reported.
    reported: Arc<Mutex<Option<Instant>>>,
}

/// Why a secret a caller needs could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// It is sealed with another key, or does not open.
    #[error(transparent)]
    Sealed(#[from] SealError),
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("a stored webhook row: {e}"))
}

/// What an endpoint's secret is sealed for: the endpoint (its current and its previous secret
/// alike, as a rotation moves one to the other).
fn secret_context(endpoint_id: Uuid) -> String {
    format!("webhook secret {endpoint_id}")
}

/// The enabled endpoints among `rows` (`{SECRETS} row`, the JSON row after the first ` {`).
fn endpoint_rows(rows: &[String]) -> Result<Vec<(Endpoint, &str)>, StoreError> {
    let mut enabled = Vec::new();
    for row in rows {
        let split = row.find(" {").ok_or_else(|| StoreError::Corrupt("an endpoint row".into()))?;
        let endpoint: Endpoint = serde_json::from_str(&row[split + 1..]).map_err(corrupt)?;
        if endpoint.enabled {
            enabled.push((endpoint, &row[..split]));
        }
    }
    Ok(enabled)
}

/// The enabled endpoints of every workspace, without their secrets: what the fan-out matches
/// events against (it needs no secret, so a node with another key still fans out).
pub(crate) async fn enabled_endpoints<S: SqlStore>(sql: &S) -> Result<Vec<Endpoint>, StoreError> {
    let endpoints: Vec<Endpoint> = sql.json_rows("SELECT row FROM webhook_endpoints", &[]).await?;
    Ok(endpoints.into_iter().filter(|e| e.enabled).collect())
}

impl<S: SqlStore> Webhooks<S> {
    /// The endpoints in `sql`, their secrets sealed with `key`: every node sharing the
    /// database needs the same key (`CONVO_SECRETS_KEY`).
    pub fn new(sql: S, key: SecretsKey) -> Self {
        Self { sql, key, reported: Arc::default() }
    }

    pub fn sql(&self) -> &S {
        &self.sql
    }

    /// The key secrets are sealed with.
    pub fn secrets_key(&self) -> &SecretsKey {
        &self.key
    }

    /// The secrets `stored` (space-separated, as `SECRETS` gives them) of an endpoint, opened,
    /// space-separated.
    fn open_secrets(&self, endpoint_id: Uuid, stored: &str) -> Result<String, SealError> {
        let context = secret_context(endpoint_id);
        let opened = stored.split_whitespace().map(|s| self.key.open(&context, s)).collect::<Result<Vec<_>, _>>()?;
        Ok(opened.join(" "))
    }

    /// Creates endpoint `endpoint_id` that gets the events after `after_position` (the log's head now);
    /// its signing secret (`whsec_…`) is in the answer and shown nowhere else. Refused
    /// (`SecretError::Sealed`) on a node that cannot open its workspace's signing keys: what it
    /// sealed, the nodes that sign could not open.
    pub async fn create(
        &self,
        workspace_id: Uuid,
        endpoint_id: Uuid,
        new: NewEndpoint,
        after_position: i64,
        now: DateTime<Utc>,
    ) -> Result<(Endpoint, String), SecretError> {
        let endpoint = Endpoint {
            endpoint_id,
            workspace_id,
            url: new.url,
            description: new.description,
            enabled: new.enabled,
            event_types: new.event_types,
            inbox_id: new.inbox_id,
            after_position,
            created_at: now,
            disabled_reason: None,
        };
        // Its workspace's first endpoint gives it a key for `v1a` signatures.
        self.ensure_signing_key(workspace_id, now).await?;
        self.check_keys(workspace_id).await?;
        let secret = crate::signing::new_secret();
        let sql = "INSERT INTO webhook_endpoints (endpoint_id, workspace_id, secret, row) VALUES ({1}, {2}, {3}, {4})";
        let values = [
            SqlValue::Text(endpoint.endpoint_id.to_string()),
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(self.key.seal(&secret_context(endpoint.endpoint_id), &secret)),
            SqlValue::json(&endpoint).map_err(corrupt)?,
        ];
        self.sql.execute(&self.sql.sql(sql), &values).await?;
        Ok((endpoint, secret))
    }

    /// The workspace's endpoints, oldest first.
    pub async fn list(&self, workspace_id: Uuid) -> Result<Vec<Endpoint>, StoreError> {
        let sql = self.sql.sql("SELECT row FROM webhook_endpoints WHERE workspace_id = {1} ORDER BY endpoint_id");
        self.sql.json_rows(&sql, &[SqlValue::Text(workspace_id.to_string())]).await
    }

    pub async fn get(&self, workspace_id: Uuid, endpoint_id: Uuid) -> Result<Option<Endpoint>, StoreError> {
        let sql = self.sql.sql("SELECT row FROM webhook_endpoints WHERE workspace_id = {1} AND endpoint_id = {2}");
        let values = [SqlValue::Text(workspace_id.to_string()), SqlValue::Text(endpoint_id.to_string())];
        Ok(self.sql.json_rows(&sql, &values).await?.into_iter().next())
    }

    /// Changes an endpoint of the workspace: what it gets from the events fanned out from now
    /// on. The endpoint as it is now, or `None` if the workspace has no such endpoint.
    pub async fn update(
        &self,
        workspace_id: Uuid,
        endpoint_id: Uuid,
        change: EndpointChange,
    ) -> Result<Option<Endpoint>, StoreError> {
        let Some(mut endpoint) = self.get(workspace_id, endpoint_id).await? else { return Ok(None) };
        if let Some(url) = change.url {
            endpoint.url = url;
        }
        if let Some(description) = change.description {
            endpoint.description = description;
        }
        if let Some(enabled) = change.enabled {
            endpoint.enabled = enabled;
            if enabled {
                endpoint.disabled_reason = None;
            }
        }
        if let Some(event_types) = change.event_types {
            endpoint.event_types = event_types;
        }
        if let Some(inbox_id) = change.inbox_id {
            endpoint.inbox_id = inbox_id;
        }
        // Enabled again: its failing streak starts over.
        let update = "UPDATE webhook_endpoints
                         SET row = {3}, failing_since_ms = CASE WHEN {4} THEN NULL ELSE failing_since_ms END
                       WHERE workspace_id = {1} AND endpoint_id = {2}";
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(endpoint_id.to_string()),
            SqlValue::json(&endpoint).map_err(corrupt)?,
            SqlValue::Bool(change.enabled == Some(true)),
        ];
        let sql = self.sql.sql(update);
        Ok((self.sql.execute(&sql, &values).await? == 1).then_some(endpoint))
    }

    /// Deletes an endpoint and what it has yet to be delivered (its attempts stay in the log);
    /// false if the workspace has no such endpoint.
    pub async fn delete(&self, workspace_id: Uuid, endpoint_id: Uuid) -> Result<bool, StoreError> {
        let sql = self.sql.sql("DELETE FROM webhook_endpoints WHERE workspace_id = {1} AND endpoint_id = {2}");
        let values = [SqlValue::Text(workspace_id.to_string()), SqlValue::Text(endpoint_id.to_string())];
        if self.sql.execute(&sql, &values).await? == 0 {
            return Ok(false);
        }
        let pending = self.sql.sql("DELETE FROM webhook_deliveries WHERE endpoint_id = {1} AND status = 'pending'");
        self.sql.execute(&pending, &[SqlValue::Text(endpoint_id.to_string())]).await?;
        Ok(true)
    }

    /// An endpoint's signing secrets, opened, space-separated (see `SECRETS`); `None` if there
    /// is no such endpoint. One this node cannot open is an error that names both keys
    /// ([`Webhooks::check_signing`] tells it apart from the store's errors).
    pub async fn secret(&self, endpoint_id: Uuid) -> Result<Option<String>, StoreError> {
        let Some(stored) = self.stored_secrets(endpoint_id).await? else { return Ok(None) };
        let opened = self.open_secrets(endpoint_id, &stored);
        opened.map(Some).map_err(|e| StoreError::Corrupt(format!("the secret of webhook {endpoint_id}: {e}")))
    }

    /// An endpoint's signing secrets as stored (see `SECRETS`).
    async fn stored_secrets(&self, endpoint_id: Uuid) -> Result<Option<String>, StoreError> {
        let sql = self.sql.sql(&format!("SELECT {SECRETS} FROM webhook_endpoints WHERE endpoint_id = {{2}}"));
        let values = [SqlValue::Int(Utc::now().timestamp_millis()), SqlValue::Text(endpoint_id.to_string())];
        Ok(self.sql.text_rows(&sql, &values).await?.into_iter().next())
    }

    /// Whether this node can sign deliveries to `endpoint`: its secrets, and its workspace's
    /// keys that sign now, open with this node's key. `SecretError::Sealed` names both keys.
    pub async fn check_signing(&self, endpoint: &Endpoint) -> Result<(), SecretError> {
        if let Some(stored) = self.stored_secrets(endpoint.endpoint_id).await? {
            self.open_secrets(endpoint.endpoint_id, &stored)?;
        }
        self.check_keys(endpoint.workspace_id).await
    }

    /// Every enabled endpoint of every workspace, with its signing secrets opened: what the
    /// sender sends to. An endpoint whose secrets, or whose workspace's signing keys, this node
    /// cannot open (sealed with another key) is left out, and reported at most once a minute:
    /// its deliveries wait, pending, for a node that can sign them.
    pub async fn enabled(&self) -> Result<Vec<(Endpoint, String)>, StoreError> {
        // One query: each endpoint's stored secrets (see `SECRETS`) beside its row, and the
        // keys that sign now of the workspaces that have endpoints.
        let sql = format!(
            "SELECT 'e ' || {SECRETS} || ' ' || row FROM webhook_endpoints
             UNION ALL
             SELECT 'k ' || workspace_id || ' ' || key_id || ' ' || private_key FROM webhook_signing_keys
              WHERE {} AND workspace_id IN (SELECT workspace_id FROM webhook_endpoints)",
            crate::keys::SIGNING_NOW
        );
        let now = SqlValue::Int(Utc::now().timestamp_millis());
        let rows = self.sql.text_rows(&self.sql.sql(&sql), &[now]).await?;
        let (mut endpoints, mut keys) = (Vec::new(), Vec::new());
        for row in rows {
            match row.split_at_checked(2) {
                Some(("e ", endpoint)) => endpoints.push(endpoint.to_owned()),
                Some(("k ", key)) => keys.push(key.to_owned()),
                _ => return Err(StoreError::Corrupt("an endpoint row".into())),
            }
        }
        let endpoints = endpoint_rows(&endpoints)?;
        let mut failure = None;
        let mut unsigned = HashSet::new();
        let wanted: HashSet<String> = endpoints.iter().map(|(e, _)| e.workspace_id.to_string()).collect();
        for key in &keys {
            let mut parts = key.splitn(3, ' ');
            let (Some(workspace), Some(key_id), Some(stored)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(StoreError::Corrupt("a signing key row".into()));
            };
            if wanted.contains(workspace)
                && let Err(e) = self.open_seed(key_id, stored)
            {
                unsigned.insert(workspace.to_owned());
                failure.get_or_insert(e);
            }
        }
        let (mut enabled, mut left_out) = (Vec::new(), 0);
        for (endpoint, stored) in endpoints {
            if unsigned.contains(&endpoint.workspace_id.to_string()) {
                left_out += 1;
                continue;
            }
            match self.open_secrets(endpoint.endpoint_id, stored) {
                Ok(secrets) => enabled.push((endpoint, secrets)),
                Err(e) => {
                    left_out += 1;
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(error) = failure.filter(|_| left_out > 0) {
            self.report(left_out, &error);
        }
        Ok(enabled)
    }

    /// Logs that `left_out` endpoints get nothing from this node, at most once a minute.
    fn report(&self, left_out: usize, error: &SealError) {
        let mut reported = self.reported.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if reported.is_some_and(|at| at.elapsed() < REPORT_EVERY) {
            return;
        }
        *reported = Some(Instant::now());
        tracing::error!(
            endpoints = left_out,
            error = %error,
            "webhook deliveries wait: this node cannot open the signing secrets of some endpoints; \
             their deliveries stay pending until a node with the key they were sealed with sends them"
        );
    }

    /// Seals the secrets and signing keys stored in clear (written before secrets were sealed):
    /// run at start. Nothing is sealed when stored secrets are sealed with another key than
    /// this node's (the node was given a key the others do not have): their key ids are said.
    pub async fn seal_in_clear(&self) -> Result<AtRest, StoreError> {
        // (table, its id, the column of sealed values)
        const COLUMNS: [(&str, &str, &str); 3] = [
            ("webhook_endpoints", "endpoint_id", "secret"),
            ("webhook_endpoints", "endpoint_id", "previous_secret"),
            ("webhook_signing_keys", "key_id", "private_key"),
        ];
        let mut stored = Vec::new();
        for (table, id_column, column) in COLUMNS {
            let sql = format!("SELECT {id_column} || ' ' || {column} FROM {table} WHERE {column} IS NOT NULL");
            for row in self.sql.text_rows(&sql, &[]).await? {
                let (id, value) = row.split_once(' ').ok_or_else(|| StoreError::Corrupt(format!("a {table} row")))?;
                stored.push(((table, id_column, column), id.to_owned(), value.to_owned()));
            }
        }
        let mut at_rest = AtRest::default();
        for (_, _, value) in &stored {
            if let Some(key) = crate::secrets::sealed_with(value).filter(|k| *k != self.key.id())
                && !at_rest.other_keys.iter().any(|k| k == key)
            {
                at_rest.other_keys.push(key.to_owned());
            }
        }
        if !at_rest.other_keys.is_empty() {
            return Ok(at_rest);
        }
        for ((table, id_column, column), id, value) in stored.iter().filter(|(.., v)| !crate::secrets::is_sealed(v)) {
            let context = if *table == "webhook_endpoints" {
                secret_context(id.parse().map_err(|_| StoreError::Corrupt("an endpoint id".into()))?)
            } else {
                crate::keys::seed_context(id)
            };
            let sql = format!("UPDATE {table} SET {column} = {{1}} WHERE {id_column} = {{2}} AND {column} = {{3}}");
            let values = [
                SqlValue::Text(self.key.seal(&context, value)),
                SqlValue::Text(id.clone()),
                SqlValue::Text(value.clone()),
            ];
            at_rest.sealed += self.sql.execute(&self.sql.sql(&sql), &values).await?;
        }
        Ok(at_rest)
    }

    /// A new signing secret for an endpoint of the workspace, shown in the answer only; the
    /// one before keeps signing beside it for `overlap` (sealed again with this node's key, if
    /// it was stored in clear). `None` if there is no such endpoint. Refused
    /// (`SecretError::Sealed`) on a node that cannot open the current secret; a rotation that
    /// another one overtook is a `StoreError::Conflict`.
    pub async fn rotate_secret(
        &self,
        workspace_id: Uuid,
        endpoint_id: Uuid,
        overlap: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, SecretError> {
        let (ws, id) = (SqlValue::Text(workspace_id.to_string()), SqlValue::Text(endpoint_id.to_string()));
        let current =
            self.sql.sql("SELECT secret FROM webhook_endpoints WHERE workspace_id = {1} AND endpoint_id = {2}");
        let Some(stored) = self.sql.text_rows(&current, &[ws.clone(), id.clone()]).await?.into_iter().next() else {
            return Ok(None);
        };
        let context = secret_context(endpoint_id);
        let previous = self.key.open(&context, &stored)?;
        let secret = crate::signing::new_secret();
        let until = now.timestamp_millis() + i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = self.sql.sql(
            "UPDATE webhook_endpoints SET previous_secret = {3}, previous_until_ms = {4}, secret = {5}
              WHERE workspace_id = {1} AND endpoint_id = {2} AND secret = {6}",
        );
        let values = [
            ws,
            id,
            SqlValue::Text(self.key.seal(&context, &previous)),
            SqlValue::Int(until),
            SqlValue::Text(self.key.seal(&context, &secret)),
            SqlValue::Text(stored),
        ];
        match self.sql.execute(&sql, &values).await? {
            1 => Ok(Some(secret)),
            // Rotated or deleted meanwhile.
            _ => match self.get(workspace_id, endpoint_id).await? {
                Some(_) => Err(StoreError::Conflict.into()),
                None => Ok(None),
            },
        }
    }

    /// Disables an endpoint the engine gave up on, for `reason` (`detail` in words): in the log
    /// ([`switch`]: a `WebhookEndpointDisabled` event), then in its row.
    pub async fn disable<B: Backend<Sql = S>>(
        &self,
        endpoints: &AggregateStore<WebhookEndpoint, B>,
        endpoint: &Endpoint,
        reason: DisabledReason,
        detail: &str,
    ) -> Result<(), StoreError> {
        let action = WebhookEndpointAction::Disable { reason, detail: detail.to_owned() };
        let actor = Actor::system("webhooks");
        switch(endpoints, endpoint.workspace_id, endpoint.endpoint_id, actor, action, HashMap::new()).await?;
        let disabled = Endpoint { enabled: false, disabled_reason: Some(detail.to_owned()), ..endpoint.clone() };
        let sql = self.sql.sql("UPDATE webhook_endpoints SET row = {2} WHERE endpoint_id = {1}");
        let values = [SqlValue::Text(endpoint.endpoint_id.to_string()), SqlValue::json(&disabled).map_err(corrupt)?];
        self.sql.execute(&sql, &values).await?;
        let reason = serde_json::to_value(reason).ok().and_then(|r| r.as_str().map(str::to_owned)).unwrap_or_default();
        metrics::counter!("convo_webhook_endpoints_disabled_total", "reason" => reason).increment(1);
        Ok(())
    }

    /// The statement recording `attempts`, each of its workspace, in their order.
    pub fn record(&self, attempts: &[(Uuid, &Attempt)]) -> Result<convo_store::Statement, StoreError> {
        let mut values = Vec::with_capacity(attempts.len() * 6);
        for (workspace_id, attempt) in attempts {
            values.extend([
                SqlValue::Text(workspace_id.to_string()),
                SqlValue::Text(attempt.endpoint_id.to_string()),
                SqlValue::Int(attempt.position),
                SqlValue::Text(if attempt.succeeded { "succeeded" } else { "failed" }.to_owned()),
                SqlValue::Int(attempt.attempted_at.timestamp_millis()),
                SqlValue::json(attempt).map_err(corrupt)?,
            ]);
        }
        let sql =
            "INSERT INTO webhook_attempts (workspace_id, endpoint_id, position, status, attempted_ms, row) VALUES";
        Ok((format!("{sql} {}", self.sql.tuples(attempts.len(), 6)), values))
    }

    /// The workspace's attempts, newest first: of one endpoint, one event, or succeeded or
    /// failed only, before the attempt `before` (a cursor), `limit` of them.
    pub async fn attempts(
        &self,
        workspace_id: Uuid,
        filter: &AttemptFilter,
    ) -> Result<Vec<(i64, Attempt)>, StoreError> {
        let mut sql = String::from("SELECT attempt_id || ' ' || row FROM webhook_attempts WHERE workspace_id = {1}");
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut and = |clause: &str, value: SqlValue| {
            values.push(value);
            sql.push_str(&format!(" AND {clause} {{{}}}", values.len()));
        };
        if let Some(endpoint) = filter.endpoint_id {
            and("endpoint_id =", SqlValue::Text(endpoint.to_string()));
        }
        if let Some(position) = filter.position {
            and("position =", SqlValue::Int(position));
        }
        if let Some(succeeded) = filter.succeeded {
            and("status =", SqlValue::Text(if succeeded { "succeeded" } else { "failed" }.to_owned()));
        }
        if let Some(before) = filter.before {
            and("attempt_id <", SqlValue::Int(before));
        }
        values.push(SqlValue::Int(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY attempt_id DESC LIMIT {{{}}}", values.len()));
        let rows = self.sql.text_rows(&self.sql.sql(&sql), &values).await?;
        rows.iter()
            .map(|r| {
                let (id, row) = r.split_once(' ').ok_or_else(|| StoreError::Corrupt("an attempt row".into()))?;
                let id = id.parse().map_err(|_| StoreError::Corrupt("an attempt id".into()))?;
                Ok((id, serde_json::from_str(row).map_err(corrupt)?))
            })
            .collect()
    }
}

/// What [`Webhooks::seal_in_clear`] found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AtRest {
    /// Secrets and signing keys found in clear and sealed now.
    pub sealed: u64,
    /// The ids of the keys other than this node's that stored secrets are sealed with: this
    /// node cannot open those (and sealed nothing).
    pub other_keys: Vec<String>,
}

/// Which attempts to list.
#[derive(Debug, Clone, Default)]
pub struct AttemptFilter {
    pub endpoint_id: Option<Uuid>,
    pub position: Option<i64>,
    pub succeeded: Option<bool>,
    /// Only attempts before this one (the cursor of the page before).
    pub before: Option<i64>,
    pub limit: u32,
}

/// Records in the log that an endpoint of `workspace_id` was turned off or on (`command`
/// names it in the event's metadata): the `WebhookEndpoint` aggregate writes a
/// `WebhookEndpointDisabled` or `WebhookEndpointEnabled` event, or nothing when the endpoint is
/// in that state already. Callers switch the endpoint's row after this: a crash in between
/// leaves the row as it was, and the switch made again (the next 410 or check of failing
/// endpoints, a client's retry) finds the log switched and writes only the row.
pub async fn switch<B: Backend>(
    endpoints: &AggregateStore<WebhookEndpoint, B>,
    workspace_id: Uuid,
    webhook_id: Uuid,
    actor: Actor,
    action: WebhookEndpointAction,
    mut metadata: HashMap<String, String>,
) -> Result<(), StoreError> {
    let command = match action {
        WebhookEndpointAction::Disable { .. } => "DisableWebhookEndpoint",
        WebhookEndpointAction::Enable => "EnableWebhookEndpoint",
    };
    metadata.insert("command".to_owned(), command.to_owned());
    metadata.insert("workspace_id".to_owned(), workspace_id.to_string());
    let command = WebhookEndpointCommand { workspace_id, webhook_id, actor, action };
    match endpoints.execute(&webhook_id.to_string(), command, &metadata).await {
        Ok(_) => Ok(()),
        Err(CommandError::Store(e) | CommandError::Unknown(e)) => Err(e),
        Err(CommandError::Contended { .. }) => Err(StoreError::Conflict),
        Err(other) => Err(StoreError::Database(other.to_string())), // refused: never (`Infallible`)
    }
}
