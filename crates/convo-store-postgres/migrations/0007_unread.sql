-- Read state: per conversation its inbound count (user_id = ''), per (conversation, user) the
-- inbound messages the user has read. `count` is whichever of the two the row holds.
CREATE TABLE rm_unread (
    conversation_id text   NOT NULL,
    user_id         text   NOT NULL,
    kind            text   NOT NULL,
    workspace_id    text   NOT NULL,
    inbox_id        text   NOT NULL,
    count           bigint NOT NULL,
    row             jsonb  NOT NULL,
    PRIMARY KEY (conversation_id, user_id)
);
CREATE INDEX rm_unread_by_workspace ON rm_unread (workspace_id, user_id);
