-- A conversation's own row in the labels model (`label` empty) is read by its primary key only:
-- the sort indexes hold the label rows alone, so starting a conversation writes one index
-- entry there, not four (the new-contact path of #18 point 8). Queries on them state
-- `label <> ''` as written here, so that both planners may use them.
DROP INDEX rm_conversation_labels_by_last_message;
DROP INDEX rm_conversation_labels_by_last_activity;
DROP INDEX rm_conversation_labels_by_created;
CREATE INDEX rm_conversation_labels_by_last_message ON rm_conversation_labels (workspace_id, label, last_message_at_us, conversation_id) WHERE label <> '';
CREATE INDEX rm_conversation_labels_by_last_activity ON rm_conversation_labels (workspace_id, label, last_activity_at_us, conversation_id) WHERE label <> '';
CREATE INDEX rm_conversation_labels_by_created ON rm_conversation_labels (workspace_id, label, created_at_us, conversation_id) WHERE label <> '';
