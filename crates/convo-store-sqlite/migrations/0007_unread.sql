-- Read state: per conversation its inbound count (user_id = ''), per (conversation, user) the
-- inbound messages the user has read. `count` is whichever of the two the row holds.
CREATE TABLE rm_unread (
    conversation_id TEXT   NOT NULL,
    user_id         TEXT   NOT NULL,
    kind            TEXT   NOT NULL,
    workspace_id    TEXT   NOT NULL,
    inbox_id        TEXT   NOT NULL,
    count           INTEGER NOT NULL,
    row             TEXT   NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX rm_unread_by_workspace ON rm_unread (workspace_id, user_id);
