//! Webhook endpoints of a workspace, their signing secrets, and the attempt log, in the SQL
//! store next to the log (`webhook_endpoints`, `webhook_attempts`; migration 0014).

use chrono::{DateTime, Utc};
use convo_store::{SqlStore, SqlValue, StoreError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
    /// Why it was disabled by the engine (a 410 from the receiver), if it was.
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

/// An endpoint's signing secrets, space-separated, the current one first: the one before it
/// too while its overlap after a rotation lasts (`{1}`: now, in Unix milliseconds). Every
/// delivery is signed with each.
const SECRETS: &str = "secret || CASE WHEN previous_secret IS NOT NULL AND previous_until_ms > {1}
                       THEN ' ' || previous_secret ELSE '' END";

/// The store of endpoints and attempts.
#[derive(Clone)]
pub struct Webhooks<S> {
    sql: S,
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("a stored webhook row: {e}"))
}

impl<S: SqlStore> Webhooks<S> {
    pub fn new(sql: S) -> Self {
        Self { sql }
    }

    pub fn sql(&self) -> &S {
        &self.sql
    }

    /// Creates an endpoint that gets the events after `after_position` (the log's head now);
    /// its signing secret (`whsec_…`) is in the answer and shown nowhere else.
    pub async fn create(
        &self,
        workspace_id: Uuid,
        new: NewEndpoint,
        after_position: i64,
        now: DateTime<Utc>,
    ) -> Result<(Endpoint, String), StoreError> {
        let endpoint = Endpoint {
            endpoint_id: Uuid::now_v7(),
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
        let secret = crate::signing::new_secret();
        let sql = "INSERT INTO webhook_endpoints (endpoint_id, workspace_id, secret, row) VALUES ({1}, {2}, {3}, {4})";
        let values = [
            SqlValue::Text(endpoint.endpoint_id.to_string()),
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(secret.clone()),
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
        let sql = self.sql.sql("UPDATE webhook_endpoints SET row = {3} WHERE workspace_id = {1} AND endpoint_id = {2}");
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(endpoint_id.to_string()),
            SqlValue::json(&endpoint).map_err(corrupt)?,
        ];
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

    /// An endpoint's signing secrets (see `SECRETS`).
    pub async fn secret(&self, endpoint_id: Uuid) -> Result<Option<String>, StoreError> {
        let sql = self.sql.sql(&format!("SELECT {SECRETS} FROM webhook_endpoints WHERE endpoint_id = {{2}}"));
        let values = [SqlValue::Int(Utc::now().timestamp_millis()), SqlValue::Text(endpoint_id.to_string())];
        Ok(self.sql.text_rows(&sql, &values).await?.into_iter().next())
    }

    /// Every enabled endpoint of every workspace, with its signing secrets: what the sender
    /// sends to.
    pub async fn enabled(&self) -> Result<Vec<(Endpoint, String)>, StoreError> {
        // One query: the signing secrets (see `SECRETS`) and the row, side by side.
        let sql = format!("SELECT {SECRETS} || ' ' || row FROM webhook_endpoints");
        let now = SqlValue::Int(Utc::now().timestamp_millis());
        let mut enabled = Vec::new();
        for row in self.sql.text_rows(&self.sql.sql(&sql), &[now]).await? {
            let split = row.find(" {").ok_or_else(|| StoreError::Corrupt("an endpoint row".into()))?;
            let endpoint: Endpoint = serde_json::from_str(&row[split + 1..]).map_err(corrupt)?;
            if endpoint.enabled {
                enabled.push((endpoint, row[..split].to_owned()));
            }
        }
        Ok(enabled)
    }

    /// A new signing secret for an endpoint of the workspace, shown in the answer only; the
    /// one before keeps signing beside it for `overlap`. `None` if there is no such endpoint.
    pub async fn rotate_secret(
        &self,
        workspace_id: Uuid,
        endpoint_id: Uuid,
        overlap: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        let secret = crate::signing::new_secret();
        let until = now.timestamp_millis() + i64::try_from(overlap.as_millis()).unwrap_or(i64::MAX / 2);
        let sql = self.sql.sql(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until_ms = {3}, secret = {4}
              WHERE workspace_id = {1} AND endpoint_id = {2}",
        );
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(endpoint_id.to_string()),
            SqlValue::Int(until),
            SqlValue::Text(secret.clone()),
        ];
        Ok((self.sql.execute(&sql, &values).await? == 1).then_some(secret))
    }

    /// Disables an endpoint for `reason` (the receiver answered 410 Gone).
    pub async fn disable(&self, endpoint: &Endpoint, reason: &str) -> Result<(), StoreError> {
        let disabled = Endpoint { enabled: false, disabled_reason: Some(reason.to_owned()), ..endpoint.clone() };
        let sql = self.sql.sql("UPDATE webhook_endpoints SET row = {2} WHERE endpoint_id = {1}");
        let values = [SqlValue::Text(endpoint.endpoint_id.to_string()), SqlValue::json(&disabled).map_err(corrupt)?];
        self.sql.execute(&sql, &values).await.map(drop)
    }

    /// The statement recording `attempt` of `workspace_id`.
    pub fn record(&self, workspace_id: Uuid, attempt: &Attempt) -> Result<convo_store::Statement, StoreError> {
        let sql = "INSERT INTO webhook_attempts (workspace_id, endpoint_id, position, status, attempted_ms, row)
                   VALUES ({1}, {2}, {3}, {4}, {5}, {6})";
        let values = vec![
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(attempt.endpoint_id.to_string()),
            SqlValue::Int(attempt.position),
            SqlValue::Text(if attempt.succeeded { "succeeded" } else { "failed" }.to_owned()),
            SqlValue::Int(attempt.attempted_at.timestamp_millis()),
            SqlValue::json(attempt).map_err(corrupt)?,
        ];
        Ok((self.sql.sql(sql), values))
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
