-- Who runs each follower of the log (a read model's runner, the bus publisher): one process at
-- a time holds its lease until `expires_at_ms` (Unix milliseconds) and renews it; another takes
-- it over only once it expired, with the next `token`. Checkpoint commits are fenced by the
-- token, so a holder that stalled past its lease writes nothing (docs/decisions/0003).
CREATE TABLE follower_leases (
    name          text   PRIMARY KEY,
    holder        text   NOT NULL,
    token         integer NOT NULL,
    expires_at_ms integer NOT NULL
);
