-- The timeline: one row per message, paged by its position in the conversation.
CREATE TABLE rm_timeline (
    conversation_id TEXT    NOT NULL,
    message_id      TEXT    NOT NULL,
    workspace_id    TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    row             TEXT    NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);
CREATE UNIQUE INDEX rm_timeline_by_seq ON rm_timeline (conversation_id, seq);
