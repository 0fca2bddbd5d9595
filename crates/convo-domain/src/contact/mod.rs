//! Contacts and their identities (issue #18, docs/decisions/0005-contacts-and-identities.md).
