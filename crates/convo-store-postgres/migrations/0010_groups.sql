-- The group read model (projections/convo-projection-groups): per group its owner row, each
-- member's current span, past spans (role changes and departures) and pending join requests.
CREATE TABLE rm_groups (
    conversation_id text   NOT NULL,
    kind            text   NOT NULL,  -- group | member | past | request
    entry_id        text   NOT NULL,  -- the member id, the request id, or '' for the group
    span            bigint NOT NULL,  -- a past span's start position, else 0
    workspace_id    text   NOT NULL,
    self_rank       bigint NOT NULL,  -- 0 for the inbox's own member, else 1: listed first
    role_rank       bigint NOT NULL,  -- 0 admin, 1 member: admins next
    joined_at_us    bigint NOT NULL,
    since_pos       bigint NOT NULL,
    until_pos       bigint NOT NULL,  -- where a past span ended; open spans: the largest integer
    row             jsonb  NOT NULL,
    PRIMARY KEY (conversation_id, kind, entry_id, span)
);
CREATE INDEX rm_groups_members ON rm_groups (conversation_id, kind, self_rank, role_rank, joined_at_us, entry_id);

-- Activity-only groups: a conversation's latest activity, and how far each user has seen it
-- (an unread dot while the first is later), in microseconds.
ALTER TABLE rm_unread ADD COLUMN activity_us bigint NOT NULL DEFAULT 0;
