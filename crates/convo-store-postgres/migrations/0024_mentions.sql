-- The mentions read model (projections/convo-projection-timeline, `mentions`): one row per agent
-- a private note mentions (`message_id` the note's), and per conversation and mentioned agent
-- the agent's read marker (`message_id` empty, `seq` the marker's). An agent's mentions are
-- listed newest first by the note's log position.
CREATE TABLE rm_mentions (
    conversation_id text   NOT NULL,
    message_id      text   NOT NULL,
    agent_id        text   NOT NULL,
    workspace_id    text   NOT NULL,
    seq             bigint NOT NULL,
    position        bigint NOT NULL,
    row             text   NOT NULL,
    PRIMARY KEY (conversation_id, message_id, agent_id)
);
CREATE INDEX rm_mentions_by_agent ON rm_mentions (workspace_id, agent_id, position);
