-- The contacts read models (projections/convo-projection-contacts, decision 0005): one row per
-- contact, and one per identity stream saying which contact holds the identity now.
-- `name_key` is the name in lower case (NULL without one), compared byte-wise (COLLATE "C") so
-- that a name prefix is a range the index serves whatever the database's collation; `tags` is
-- ' tag1 tag2 ' so that LIKE '% tag %' finds one.
CREATE TABLE rm_contacts (
    contact_id   text    PRIMARY KEY,
    workspace_id text    NOT NULL,
    name_key     text    COLLATE "C",
    tags         text    NOT NULL,
    merged       boolean NOT NULL,
    deleted      boolean NOT NULL,
    row          text    NOT NULL
);
CREATE INDEX rm_contacts_by_workspace ON rm_contacts (workspace_id, contact_id);
CREATE INDEX rm_contacts_by_name ON rm_contacts (workspace_id, name_key, contact_id);

-- `identity` is `kind:value`; `contact_id` is NULL while nobody holds it. One stream per
-- identity and workspace, so at most one row per (workspace_id, identity).
CREATE TABLE rm_contact_identities (
    identity_id  text PRIMARY KEY,
    workspace_id text NOT NULL,
    identity     text NOT NULL,
    contact_id   text,
    row          text NOT NULL
);
CREATE INDEX rm_contact_identities_by_identity ON rm_contact_identities (workspace_id, identity);
