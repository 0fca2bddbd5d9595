-- One workspace's slice of the global log, in log order (GET /v1/events, the live stream).
CREATE INDEX events_workspace_position ON events (workspace_id, global_position);
