-- The agents' load read model (projections/convo-projection-inbox, `agent_load`): per
-- conversation its assignee, status, archiving, and whether the assignee has inbound messages
-- they have not read. An agent's open, pending and unread counts are their range of the index,
-- which holds every column they are summed from.
CREATE TABLE rm_agent_load (
    conversation_id text    PRIMARY KEY,
    workspace_id    text    NOT NULL,
    assignee        text,
    status          text    NOT NULL,
    archived        boolean NOT NULL,
    unread          boolean NOT NULL,
    row             text    NOT NULL
);
CREATE INDEX rm_agent_load_by_assignee ON rm_agent_load (workspace_id, assignee, archived, status, unread);
