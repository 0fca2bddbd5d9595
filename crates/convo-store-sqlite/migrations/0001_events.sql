-- The event log. sqlite-es reads and writes the first seven columns by name and maps a
-- primary-key violation (SQLITE_CONSTRAINT_PRIMARYKEY) to an optimistic-concurrency conflict,
-- so (aggregate_type, aggregate_id, sequence) must stay the primary key.
CREATE TABLE events (
    aggregate_type  TEXT    NOT NULL,
    aggregate_id    TEXT    NOT NULL,
    sequence        INTEGER NOT NULL CHECK (sequence > 0),
    event_type      TEXT    NOT NULL,
    event_version   TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    -- Assigned by the trigger below. SQLite has one writer at a time, so assignment order is
    -- commit order and a reader never sees a later position before an earlier one.
    global_position INTEGER,
    recorded_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    workspace_id    TEXT    GENERATED ALWAYS AS (json_extract(metadata, '$.workspace_id')) VIRTUAL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);

-- Not the rowid: VACUUM may renumber rowids of a table without an INTEGER PRIMARY KEY.
CREATE TRIGGER events_assign_global_position AFTER INSERT ON events
BEGIN
    UPDATE events
       SET global_position = (SELECT coalesce(max(global_position), 0) + 1 FROM events)
     WHERE rowid = NEW.rowid;
END;

CREATE TABLE snapshots (
    aggregate_type   TEXT    NOT NULL,
    aggregate_id     TEXT    NOT NULL,
    last_sequence    INTEGER NOT NULL,
    current_snapshot INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
