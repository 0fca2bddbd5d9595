-- The timeline: one row per message, paged by its position in the conversation.
CREATE TABLE rm_timeline (
    conversation_id text   NOT NULL,
    message_id      text   NOT NULL,
    workspace_id    text   NOT NULL,
    seq             bigint NOT NULL,
    row             jsonb  NOT NULL,
    PRIMARY KEY (conversation_id, message_id)
);
CREATE UNIQUE INDEX rm_timeline_by_seq ON rm_timeline (conversation_id, seq);
