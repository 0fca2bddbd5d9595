-- The labels read model (projections/convo-projection-inbox, `conversation_labels`): one row per
-- label on a conversation, for the conversation list's label filter and the labels in use.
-- `label` is compared byte-wise (COLLATE "C"), so that the labels list pages in the same order
-- as on SQLite, whatever the database's collation, and the indexes serve that order.
CREATE TABLE rm_conversation_labels (
    conversation_id text NOT NULL,
    label           text COLLATE "C" NOT NULL,
    workspace_id    text NOT NULL,
    row             text NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
-- The conversations carrying a label, and the workspace's labels in order.
CREATE INDEX rm_conversation_labels_by_label ON rm_conversation_labels (workspace_id, label, conversation_id);
