-- The directory's read models (projections/convo-projection-directory, issue #18): one row per
-- agent, keyed by their stream id; one per team; and one per agent of each team.
-- `agent_id` is compared byte-wise (COLLATE "C"), so that lists keyed by it page in the same
-- order as on SQLite, whatever the database's collation, and the indexes serve that order.
CREATE TABLE rm_agents (
    agent_key    text    PRIMARY KEY,
    workspace_id text    NOT NULL,
    agent_id     text    COLLATE "C" NOT NULL,
    active       boolean NOT NULL,
    availability text    NOT NULL,
    row          text    NOT NULL
);
CREATE UNIQUE INDEX rm_agents_by_agent ON rm_agents (workspace_id, agent_id);

CREATE TABLE rm_teams (
    team_id      text PRIMARY KEY,
    workspace_id text NOT NULL,
    row          text NOT NULL
);
CREATE INDEX rm_teams_by_workspace ON rm_teams (workspace_id, team_id);

CREATE TABLE rm_team_agents (
    team_id      text NOT NULL,
    agent_id     text COLLATE "C" NOT NULL,
    workspace_id text NOT NULL,
    row          text NOT NULL,
    PRIMARY KEY (team_id, agent_id)
);

-- Per-agent counts of the conversations assigned to them, by status.
CREATE INDEX rm_inbox_by_assignee ON rm_inbox (workspace_id, assignee, status);
