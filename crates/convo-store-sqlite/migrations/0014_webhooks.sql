-- Webhooks (docs/WEBHOOKS.md, docs/decisions/0004): endpoints of a workspace, one delivery per
-- event an endpoint's filter matched (written by the dispatcher with its checkpoint, so none is
-- ever skipped), and every attempt to send one. `row` holds each record as the API shows it.
CREATE TABLE webhook_endpoints (
    endpoint_id  text   PRIMARY KEY,
    workspace_id text   NOT NULL,
    -- The signing secret (whsec_…): needed to sign, so kept, and never shown after creation.
    secret       text   NOT NULL,
    row          text   NOT NULL
);
CREATE INDEX webhook_endpoints_by_workspace ON webhook_endpoints (workspace_id, endpoint_id);

-- One per (endpoint, event): `stream` is the event's aggregate, whose events an endpoint gets
-- in log order (the next is not attempted before the one before succeeded or was given up).
CREATE TABLE webhook_deliveries (
    endpoint_id     text    NOT NULL,
    position        bigint  NOT NULL,
    stream          text    NOT NULL,
    status          text    NOT NULL, -- pending, delivered, given_up
    attempts        integer NOT NULL,
    next_attempt_ms bigint  NOT NULL,
    PRIMARY KEY (endpoint_id, position)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_stream ON webhook_deliveries (endpoint_id, stream, position) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    attempt_id   INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id text   NOT NULL,
    endpoint_id  text   NOT NULL,
    position     bigint NOT NULL,
    status       text   NOT NULL, -- succeeded, failed
    attempted_ms bigint NOT NULL,
    row          text   NOT NULL
);
CREATE INDEX webhook_attempts_by_workspace ON webhook_attempts (workspace_id, attempt_id);
CREATE INDEX webhook_attempts_by_age ON webhook_attempts (attempted_ms);
