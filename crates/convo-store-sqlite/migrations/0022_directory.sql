-- The directory's read models (projections/convo-projection-directory, issue #18): one row per
-- agent, keyed by their stream id; one per team; and one per agent of each team.
-- `agent_id` is compared byte-wise (SQLite's BINARY collation), as on PostgreSQL, so that lists
-- keyed by it page in the same order on both.
CREATE TABLE rm_agents (
    agent_key    TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL,
    agent_id     TEXT    NOT NULL,
    active       INTEGER NOT NULL,
    availability TEXT    NOT NULL,
    row          TEXT    NOT NULL
);
CREATE UNIQUE INDEX rm_agents_by_agent ON rm_agents (workspace_id, agent_id);

CREATE TABLE rm_teams (
    team_id      TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL,
    row          TEXT NOT NULL
);
CREATE INDEX rm_teams_by_workspace ON rm_teams (workspace_id, team_id);

CREATE TABLE rm_team_agents (
    team_id      TEXT NOT NULL,
    agent_id     TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    row          TEXT NOT NULL,
    PRIMARY KEY (team_id, agent_id)
);

-- Per-agent counts of the conversations assigned to them, by status.
CREATE INDEX rm_inbox_by_assignee ON rm_inbox (workspace_id, assignee, status);
