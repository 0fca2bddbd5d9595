-- The labels read model (projections/convo-projection-inbox, `conversation_labels`): one row per
-- label on a conversation, for the conversation list's label filter and the labels in use.
-- `label` is compared byte-wise (SQLite's BINARY collation), as on PostgreSQL, so that the
-- labels list pages in the same order on both.
CREATE TABLE rm_conversation_labels (
    conversation_id TEXT NOT NULL,
    label           TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    row             TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
-- The conversations carrying a label, and the workspace's labels in order.
CREATE INDEX rm_conversation_labels_by_label ON rm_conversation_labels (workspace_id, label, conversation_id);
