-- The group read model (projections/convo-projection-groups): per group its owner row, each
-- member's current span, past spans (role changes and departures) and pending join requests.
CREATE TABLE rm_groups (
    conversation_id TEXT   NOT NULL,
    kind            TEXT   NOT NULL,  -- group | member | past | request
    entry_id        TEXT   NOT NULL,  -- the member id, the request id, or '' for the group
    span            INTEGER NOT NULL,  -- a past span's start position, else 0
    workspace_id    TEXT   NOT NULL,
    self_rank       INTEGER NOT NULL,  -- 0 for the inbox's own member, else 1: listed first
    role_rank       INTEGER NOT NULL,  -- 0 admin, 1 member: admins next
    joined_at_us    INTEGER NOT NULL,
    since_pos       INTEGER NOT NULL,
    until_pos       INTEGER NOT NULL,  -- where a past span ended; open spans: the largest integer
    row             TEXT  NOT NULL,
    PRIMARY KEY (conversation_id, kind, entry_id, span)
);
CREATE INDEX rm_groups_members ON rm_groups (conversation_id, kind, self_rank, role_rank, joined_at_us, entry_id);

-- Activity-only groups: a conversation's latest activity, and how far each user has seen it
-- (an unread dot while the first is later), in microseconds.
ALTER TABLE rm_unread ADD COLUMN activity_us INTEGER NOT NULL DEFAULT 0;
