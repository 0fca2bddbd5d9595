-- Read-model rows (and the gateway's own records) as JSON text, not jsonb. Nothing queries
-- inside them: what queries filter and sort on has columns of its own. jsonb parsed and
-- key-sorted every row written and re-serialized every row read, which was half the time
-- PostgreSQL took to write the timeline's rows and two thirds of reading them back
-- (docs/BENCHMARKS.md). For ad-hoc SQL, `row::jsonb ->> 'field'` still works.
ALTER TABLE rm_inbox ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE rm_timeline ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE rm_inboxes ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE rm_unread ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE rm_groups ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE rm_response_times ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE workspaces ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE api_keys ALTER COLUMN row TYPE text USING row::text;
ALTER TABLE idempotency_keys ALTER COLUMN response TYPE text USING response::text;
