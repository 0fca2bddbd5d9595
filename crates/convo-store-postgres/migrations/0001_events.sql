-- The event log. postgres-es reads and writes the first seven columns by name; the others are
-- ours, filled by defaults or derived, so postgres-es never needs to know about them.

-- A position that is increasing in the order readers must follow, and that a reader can know
-- to be final: (writing transaction's xid8 << 16) | (ordinal of the event in that transaction).
-- Every row below (pg_snapshot_xmin(pg_current_snapshot()) << 16) belongs to a transaction
-- that has ended, so nothing can ever appear below a position a reader has passed.
-- See docs/decisions/0002-global-log-order.md.
CREATE FUNCTION convo_next_position() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    ordinal integer := coalesce(nullif(current_setting('convo.position_ordinal', true), '')::integer, 0);
BEGIN
    IF ordinal >= 65536 THEN
        RAISE EXCEPTION 'one transaction may append at most 65536 events';
    END IF;
    PERFORM set_config('convo.position_ordinal', (ordinal + 1)::text, true);
    RETURN (pg_current_xact_id()::text::bigint << 16) | ordinal;
END
$$;

CREATE TABLE events (
    aggregate_type  text        NOT NULL,
    aggregate_id    text        NOT NULL,
    sequence        bigint      NOT NULL CHECK (sequence > 0),
    event_type      text        NOT NULL,
    event_version   text        NOT NULL,
    payload         jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    global_position bigint      NOT NULL DEFAULT convo_next_position(),
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    workspace_id    text        GENERATED ALWAYS AS (metadata ->> 'workspace_id') STORED,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE UNIQUE INDEX events_global_position ON events (global_position);

-- postgres-es's snapshot mode is not used (it applies events twice, see
-- docs/decisions/0001-aggregate-cache.md), but its repository may name the table.
CREATE TABLE snapshots (
    aggregate_type   text   NOT NULL,
    aggregate_id     text   NOT NULL,
    last_sequence    bigint NOT NULL,
    current_snapshot bigint NOT NULL,
    payload          jsonb  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);
