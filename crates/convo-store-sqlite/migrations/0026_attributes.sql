-- Custom attributes (issue #18): the live definitions of each workspace
-- (projections/convo-projection-directory, `attribute_definitions`), listed by model and key;
-- and the attributes set on conversations (projections/convo-projection-inbox,
-- `conversation_attributes`), one row per conversation and key, `value` as the conversation
-- list's `attribute=key:value` filter names it.
CREATE TABLE rm_attribute_definitions (
    definition_key TEXT PRIMARY KEY,
    workspace_id   TEXT NOT NULL,
    model          TEXT NOT NULL,
    key            TEXT NOT NULL,
    row            TEXT NOT NULL
);
CREATE UNIQUE INDEX rm_attribute_definitions_by_key ON rm_attribute_definitions (workspace_id, model, key);

CREATE TABLE rm_conversation_attributes (
    conversation_id TEXT NOT NULL,
    key             TEXT NOT NULL,
    workspace_id    TEXT NOT NULL,
    value           TEXT NOT NULL,
    row             TEXT NOT NULL,
    PRIMARY KEY (conversation_id, key)
);
CREATE INDEX rm_conversation_attributes_by_value ON rm_conversation_attributes (workspace_id, key, value, conversation_id);
