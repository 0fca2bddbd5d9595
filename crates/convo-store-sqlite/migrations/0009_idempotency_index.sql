-- Finds what a command with an idempotency key committed, when the request that ran it died
-- before storing its response (only events written with a key are indexed).
CREATE INDEX events_idempotency_key
    ON events (workspace_id, json_extract(metadata, '$.idempotency_key'))
    WHERE json_extract(metadata, '$.idempotency_key') IS NOT NULL;
