-- Each workspace's ed25519 keys for the `v1a` signatures of its webhook deliveries. Anyone may
-- have the public halves (GET /v1/webhooks/signing-keys); a rotated key keeps signing beside
-- the new one until `retires_at_ms` (Unix milliseconds; NULL: the current key).
CREATE TABLE webhook_signing_keys (
    key_id        text   PRIMARY KEY,
    workspace_id  text   NOT NULL,
    private_key   text   NOT NULL, -- the 32-byte seed, base64
    public_key    text   NOT NULL, -- whpk_ and the 32-byte key, base64
    created_at_ms bigint NOT NULL,
    retires_at_ms bigint
);
CREATE INDEX webhook_signing_keys_by_workspace ON webhook_signing_keys (workspace_id);
