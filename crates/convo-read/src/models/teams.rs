//! `rm_teams`: one row per team; `rm_team_agents`: one row per agent of each team.

use convo_projection_directory::{TeamAgentView, TeamAgentsProjection, TeamView, TeamsProjection};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_teams`: one row per team.
pub struct TeamsTable;

impl SqlTable<TeamsProjection> for TeamsTable {
    const TABLE: &'static str = "rm_teams";
    const KEY: &'static [&'static str] = &["team_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &TeamView) -> Uuid {
        row.team_id
    }

    fn columns(row: &TeamView) -> Vec<SqlValue> {
        vec![SqlValue::Text(row.workspace_id.to_string())]
    }
}

/// The teams read model on a SQL store.
pub type TeamsModel<S> = TableStore<TeamsProjection, TeamsTable, S>;

impl<S: SqlStore> TeamsModel<S> {
    /// Team `team_id` of the workspace.
    pub async fn get(&self, workspace_id: Uuid, team_id: Uuid) -> Result<Option<TeamView>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_teams WHERE team_id = {1} AND workspace_id = {2}");
        let values = [SqlValue::Text(team_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        Ok(self.select(&sql, &values).await?.pop())
    }

    /// A page of the workspace's teams by id: up to `limit` after the team `after` (keyset on
    /// `rm_teams_by_workspace`).
    pub async fn list(&self, workspace_id: Uuid, after: Option<Uuid>, limit: u32) -> Result<Vec<TeamView>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT row FROM rm_teams WHERE workspace_id = {1}");
        if let Some(after) = after {
            values.push(SqlValue::Text(after.to_string()));
            sql.push_str(&format!(" AND team_id > {{{}}}", values.len()));
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY team_id LIMIT {{{}}}", values.len()));
        self.select(&self.store.sql(&sql), &values).await
    }
}

/// `rm_team_agents`: one row per team and agent in it, keyed by both.
pub struct TeamAgentsTable;

impl SqlTable<TeamAgentsProjection> for TeamAgentsTable {
    const TABLE: &'static str = "rm_team_agents";
    const KEY: &'static [&'static str] = &["team_id", "agent_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id"];

    fn key((team_id, agent_id): &(Uuid, String)) -> Vec<SqlValue> {
        vec![SqlValue::Text(team_id.to_string()), SqlValue::Text(agent_id.clone())]
    }

    fn key_of(row: &TeamAgentView) -> (Uuid, String) {
        (row.team_id, row.agent_id.clone())
    }

    fn columns(row: &TeamAgentView) -> Vec<SqlValue> {
        vec![SqlValue::Text(row.workspace_id.to_string())]
    }
}

/// The team agents read model on a SQL store: what `AgentsModel::list` joins to list a team's
/// agents.
pub type TeamAgentsModel<S> = TableStore<TeamAgentsProjection, TeamAgentsTable, S>;
