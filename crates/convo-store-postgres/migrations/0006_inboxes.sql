-- The inboxes: one row per connected channel account.
CREATE TABLE rm_inboxes (
    inbox_id     text    PRIMARY KEY,
    workspace_id text    NOT NULL,
    deleted      boolean NOT NULL,
    row          jsonb   NOT NULL
);
CREATE INDEX rm_inboxes_by_workspace ON rm_inboxes (workspace_id, inbox_id);
