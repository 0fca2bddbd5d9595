-- The inboxes: one row per connected channel account.
CREATE TABLE rm_inboxes (
    inbox_id     TEXT    PRIMARY KEY,
    workspace_id TEXT    NOT NULL,
    deleted      INTEGER NOT NULL,
    row          TEXT    NOT NULL
);
CREATE INDEX rm_inboxes_by_workspace ON rm_inboxes (workspace_id, inbox_id);
