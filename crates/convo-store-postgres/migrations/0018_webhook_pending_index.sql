-- The sender reads each endpoint's pending deliveries a page at a time in log order (the first
-- of each aggregate is the one it may send), and the lag is the first of them: one index,
-- (endpoint, position) over pending rows only, replaces the due and by-stream indexes.
DROP INDEX webhook_deliveries_due;
DROP INDEX webhook_deliveries_by_stream;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, position) WHERE status = 'pending';
