-- A rotated endpoint secret keeps signing beside the new one until `previous_until_ms` (Unix
-- milliseconds): receivers switch over without missing a delivery.
ALTER TABLE webhook_endpoints ADD COLUMN previous_secret text;
ALTER TABLE webhook_endpoints ADD COLUMN previous_until_ms bigint;
