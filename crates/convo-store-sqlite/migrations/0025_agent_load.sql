-- The agents' load read model (projections/convo-projection-inbox, `agent_load`): per
-- conversation its assignee, status, archiving, and whether the assignee has inbound messages
-- they have not read. An agent's open, pending and unread counts are their range of the index,
-- which holds every column they are summed from.
CREATE TABLE rm_agent_load (
    conversation_id TEXT    PRIMARY KEY,
    workspace_id    TEXT    NOT NULL,
    assignee        TEXT,
    status          TEXT    NOT NULL,
    archived        INTEGER NOT NULL,
    unread          INTEGER NOT NULL,
    row             TEXT    NOT NULL
);
CREATE INDEX rm_agent_load_by_assignee ON rm_agent_load (workspace_id, assignee, archived, status, unread);
