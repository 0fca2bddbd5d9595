//! `rm_agents`: one row per agent, keyed by their stream id.

use convo_domain::directory::{Availability, agent_stream_id};
use convo_projection_directory::{AgentView, AgentsProjection};
use uuid::Uuid;

use super::name;
use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_agents`: one row per agent, deactivated ones included.
pub struct AgentsTable;

impl SqlTable<AgentsProjection> for AgentsTable {
    const TABLE: &'static str = "rm_agents";
    const KEY: &'static [&'static str] = &["agent_key"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "agent_id", "active", "availability"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &AgentView) -> Uuid {
        agent_stream_id(row.workspace_id, &row.agent_id)
    }

    fn columns(row: &AgentView) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            SqlValue::Text(row.agent_id.clone()),
            SqlValue::Bool(row.active),
            SqlValue::Text(name(&row.availability)),
        ]
    }
}

/// What an agent list is narrowed to; every part is optional, and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentFilter {
    /// Only active agents (`true`) or only deactivated ones (`false`).
    pub active: Option<bool>,
    /// Only agents with this availability.
    pub availability: Option<Availability>,
    /// Only the agents of this team (none when it is not the workspace's).
    pub team_id: Option<Uuid>,
}

/// The agents read model on a SQL store.
pub type AgentsModel<S> = TableStore<AgentsProjection, AgentsTable, S>;

impl<S: SqlStore> AgentsModel<S> {
    /// Agent `agent_id` of the workspace, active or not (`rm_agents_by_agent`).
    pub async fn get(&self, workspace_id: Uuid, agent_id: &str) -> Result<Option<AgentView>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_agents WHERE workspace_id = {1} AND agent_id = {2}");
        let values = [SqlValue::Text(workspace_id.to_string()), SqlValue::Text(agent_id.to_owned())];
        Ok(self.select(&sql, &values).await?.pop())
    }

    /// The names of those of `agent_ids` who are agents of the workspace (`rm_agents_by_agent`).
    pub async fn names(&self, workspace_id: Uuid, agent_ids: &[String]) -> Result<Vec<(String, String)>, StoreError> {
        let mut names = Vec::with_capacity(agent_ids.len());
        for chunk in agent_ids.chunks(500) {
            let ids: Vec<String> = (0..chunk.len()).map(|i| format!("{{{}}}", i + 2)).collect();
            let sql = self.store.sql(&format!(
                "SELECT row FROM rm_agents WHERE workspace_id = {{1}} AND agent_id IN ({})",
                ids.join(", ")
            ));
            let mut values = vec![SqlValue::Text(workspace_id.to_string())];
            values.extend(chunk.iter().map(|id| SqlValue::Text(id.clone())));
            names.extend(self.select(&sql, &values).await?.into_iter().map(|a| (a.agent_id, a.name)));
        }
        Ok(names)
    }

    /// A page of the workspace's agents by `agent_id` in byte order, narrowed by `filter`: up
    /// to `limit` after the agent `after` (keyset). Without a team, a range of
    /// `rm_agents_by_agent`; with one, the team's range of `rm_team_agents`' primary key, each
    /// agent found by `rm_agents_by_agent`.
    pub async fn list(
        &self,
        workspace_id: Uuid,
        filter: &AgentFilter,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AgentView>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        // The column the keyset runs on: the team's membership when it drives the query.
        let (mut sql, key) = match filter.team_id {
            Some(team_id) => {
                values.push(SqlValue::Text(team_id.to_string()));
                (
                    String::from(
                        "SELECT a.row FROM rm_team_agents t \
                         JOIN rm_agents a ON a.workspace_id = t.workspace_id AND a.agent_id = t.agent_id \
                         WHERE t.team_id = {2} AND t.workspace_id = {1}",
                    ),
                    "t.agent_id",
                )
            }
            None => (String::from("SELECT a.row FROM rm_agents a WHERE a.workspace_id = {1}"), "a.agent_id"),
        };
        if let Some(active) = filter.active {
            values.push(SqlValue::Bool(active));
            sql.push_str(&format!(" AND a.active = {{{}}}", values.len()));
        }
        if let Some(availability) = &filter.availability {
            values.push(SqlValue::Text(name(availability)));
            sql.push_str(&format!(" AND a.availability = {{{}}}", values.len()));
        }
        if let Some(after) = after {
            values.push(SqlValue::Text(after.to_owned()));
            sql.push_str(&format!(" AND {key} > {{{}}}", values.len()));
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY {key} LIMIT {{{}}}", values.len()));
        self.select(&self.store.sql(&sql), &values).await
    }
}
