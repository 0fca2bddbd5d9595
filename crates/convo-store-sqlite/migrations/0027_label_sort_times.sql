-- The labels read model keeps each labelled conversation's sort times in its label rows, so a
-- list filtered by a label reads the label's rows in the order it shows them, a page at a time:
-- one row per conversation (`label` empty: its labels and times) and one per label on it. Its
-- rows are rebuilt from the log: the table is made anew and its checkpoint forgotten.
DROP TABLE rm_conversation_labels;
DELETE FROM projection_checkpoints WHERE name = 'conversation_labels';
CREATE TABLE rm_conversation_labels (
    conversation_id     TEXT NOT NULL,
    label               TEXT NOT NULL,
    workspace_id        TEXT NOT NULL,
    last_message_at_us  INTEGER NOT NULL,
    last_activity_at_us INTEGER NOT NULL,
    created_at_us       INTEGER NOT NULL,
    row                 TEXT NOT NULL,
    PRIMARY KEY (conversation_id, label)
);
-- A label's conversations in each sort order (and the workspace's labels in order).
CREATE INDEX rm_conversation_labels_by_last_message ON rm_conversation_labels (workspace_id, label, last_message_at_us, conversation_id);
CREATE INDEX rm_conversation_labels_by_last_activity ON rm_conversation_labels (workspace_id, label, last_activity_at_us, conversation_id);
CREATE INDEX rm_conversation_labels_by_created ON rm_conversation_labels (workspace_id, label, created_at_us, conversation_id);
