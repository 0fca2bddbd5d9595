-- Since when an endpoint's deliveries have failed with no success in between (Unix
-- milliseconds; NULL while its last attempt succeeded): the sender disables an endpoint that
-- has failed for `CONVO_WEBHOOK_DISABLE_AFTER_DAYS` (5 by default).
ALTER TABLE webhook_endpoints ADD COLUMN failing_since_ms bigint;
