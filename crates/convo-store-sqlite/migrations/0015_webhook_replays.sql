-- What made a delivery pending: the fan-out (`scheduled`) or a replay (`replay`); its
-- attempts carry it into the attempt log.
ALTER TABLE webhook_deliveries ADD COLUMN trigger text NOT NULL DEFAULT 'scheduled';
