-- Read models follow the global log with their own checkpoints, written in the same
-- transaction as the rows they cover.
CREATE TABLE projection_checkpoints (
    name     TEXT   PRIMARY KEY,
    position INTEGER NOT NULL
);

-- The inbox: one row per conversation. `row` holds the whole summary; the other columns are
-- what lists filter and sort on (times as microseconds since the epoch).
CREATE TABLE rm_inbox (
    conversation_id     TEXT    PRIMARY KEY,
    workspace_id        TEXT    NOT NULL,
    inbox_id            TEXT    NOT NULL,
    channel             TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    archived            INTEGER NOT NULL,
    assignee            text,
    team                text,
    last_message_at_us  INTEGER  NOT NULL,
    last_activity_at_us INTEGER  NOT NULL,
    created_at_us       INTEGER  NOT NULL,
    row                 TEXT    NOT NULL
);
CREATE INDEX rm_inbox_by_last_message ON rm_inbox (workspace_id, last_message_at_us, conversation_id);
CREATE INDEX rm_inbox_by_last_activity ON rm_inbox (workspace_id, last_activity_at_us, conversation_id);
CREATE INDEX rm_inbox_by_created ON rm_inbox (workspace_id, created_at_us, conversation_id);
