-- How many replays were asked for a delivery. A replay of a delivery whose attempt is under way
-- (sent, not yet recorded) bumps it; that attempt's record expects the count it was read with,
-- so it leaves the delivery pending and the replay is sent after it, not lost.
ALTER TABLE webhook_deliveries ADD COLUMN replays integer NOT NULL DEFAULT 0;
