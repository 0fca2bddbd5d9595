-- Workspaces (the tenants) and their API keys. A key's secret is never stored: only the
-- SHA-256 of the whole token. `row` holds the record as the API shows it.
CREATE TABLE workspaces (
    workspace_id text  PRIMARY KEY,
    row          jsonb NOT NULL
);

CREATE TABLE api_keys (
    key_id       text   PRIMARY KEY,
    workspace_id text   NOT NULL REFERENCES workspaces (workspace_id),
    secret_hash  text   NOT NULL,
    revoked_at   text,
    row          jsonb  NOT NULL
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id, key_id);

-- Idempotency keys of commands, per workspace: the request's hash, a lease while the first
-- request runs, then its response. Kept at least 24 hours (`created_at`, Unix milliseconds).
CREATE TABLE idempotency_keys (
    workspace_id  text   NOT NULL,
    key           text   NOT NULL,
    request_hash  text   NOT NULL,
    created_at    bigint NOT NULL,
    locked_until  bigint NOT NULL,
    response      jsonb,
    PRIMARY KEY (workspace_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
