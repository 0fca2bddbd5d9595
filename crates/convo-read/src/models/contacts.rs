//! `rm_contacts`: one row per contact; `rm_contact_identities`: one row per identity stream,
//! with the contact holding the identity now.

use convo_domain::Identity;
use convo_projection_contacts::{ContactIdentitiesProjection, ContactIdentityView, ContactView, ContactsProjection};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_contacts`: one row per contact, merged and deleted ones included.
pub struct ContactsTable;

impl SqlTable<ContactsProjection> for ContactsTable {
    const TABLE: &'static str = "rm_contacts";
    const KEY: &'static [&'static str] = &["contact_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "name_key", "tags", "merged", "deleted"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &ContactView) -> Uuid {
        row.contact_id
    }

    fn columns(row: &ContactView) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            row.name.as_deref().map(str::to_lowercase).into(),
            SqlValue::Text(tags_column(&row.tags)),
            SqlValue::Bool(row.merged_into.is_some()),
            SqlValue::Bool(row.deleted),
        ]
    }
}

/// The tags as the `tags` column holds them: each followed by a space, after a leading one
/// (` vip billing `), so `LIKE '% vip %'` finds one tag whole. Tags have no spaces.
fn tags_column(tags: &[String]) -> String {
    let mut column = String::from(" ");
    for tag in tags {
        column.push_str(tag);
        column.push(' ');
    }
    column
}

/// `LIKE`'s wildcards (and its escape character) in `text` escaped with `\`, for
/// `LIKE … ESCAPE '\'`: a tag may hold `_` or `%`, which must match only themselves.
fn like_escaped(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The least string greater than every string starting with `prefix` (in code point order,
/// which is byte order in UTF-8): `prefix` with its last character that can be incremented
/// incremented, and what follows it dropped. `None` when there is none (an empty prefix, or
/// one of only the largest character), so only the lower bound applies.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // The next scalar value, skipping the surrogates, which are not characters.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// What a contact list is narrowed to; every part is optional, and they combine with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactFilter {
    /// Contacts whose name starts with this, case-insensitively (contacts without a name are
    /// left out once it is given).
    pub name_prefix: Option<String>,
    /// Contacts with this tag (compared in its canonical spelling: lower case).
    pub tag: Option<String>,
    /// The contact holding this identity now.
    pub identity: Option<Identity>,
}

/// The contacts read model on a SQL store.
pub type ContactsModel<S> = TableStore<ContactsProjection, ContactsTable, S>;

impl<S: SqlStore> ContactsModel<S> {
    /// A contact of the workspace in any state, merged (see `merged_into`) and deleted ones
    /// included: the caller decides what to answer for those.
    pub async fn get(&self, workspace_id: Uuid, contact_id: Uuid) -> Result<Option<ContactView>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_contacts WHERE contact_id = {1} AND workspace_id = {2}");
        let values = [SqlValue::Text(contact_id.to_string()), SqlValue::Text(workspace_id.to_string())];
        Ok(self.select(&sql, &values).await?.pop())
    }

    /// A page of the workspace's contacts by id, neither merged nor deleted, narrowed by
    /// `filter`: up to `limit` after the contact `after` (keyset). The name prefix is a range
    /// on `rm_contacts_by_name`, the identity a join on `rm_contact_identities_by_identity`.
    pub async fn list(
        &self,
        workspace_id: Uuid,
        filter: &ContactFilter,
        after: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<ContactView>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT c.row FROM rm_contacts c");
        if let Some(identity) = &filter.identity {
            // One identity stream per identity and workspace: at most one row joins.
            values.push(SqlValue::Text(identity.key()));
            sql.push_str(&format!(
                " JOIN rm_contact_identities i ON i.workspace_id = c.workspace_id \
                 AND i.contact_id = c.contact_id AND i.identity = {{{}}}",
                values.len()
            ));
        }
        values.extend([SqlValue::Bool(false), SqlValue::Bool(false)]);
        sql.push_str(&format!(
            " WHERE c.workspace_id = {{1}} AND c.merged = {{{}}} AND c.deleted = {{{}}}",
            values.len() - 1,
            values.len()
        ));
        if let Some(prefix) = &filter.name_prefix {
            // A range rather than LIKE, so the index serves it on both backends.
            let prefix = prefix.to_lowercase();
            let end = prefix_end(&prefix);
            values.push(SqlValue::Text(prefix));
            sql.push_str(&format!(" AND c.name_key >= {{{}}}", values.len()));
            if let Some(end) = end {
                values.push(SqlValue::Text(end));
                sql.push_str(&format!(" AND c.name_key < {{{}}}", values.len()));
            }
        }
        if let Some(tag) = &filter.tag {
            values.push(SqlValue::Text(format!("% {} %", like_escaped(&tag.to_lowercase()))));
            sql.push_str(&format!(" AND c.tags LIKE {{{}}} ESCAPE '\\'", values.len()));
        }
        if let Some(after) = after {
            values.push(SqlValue::Text(after.to_string()));
            sql.push_str(&format!(" AND c.contact_id > {{{}}}", values.len()));
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY c.contact_id LIMIT {{{}}}", values.len()));
        self.select(&self.store.sql(&sql), &values).await
    }
}

/// `rm_contact_identities`: one row per identity stream, keyed by its id (`Identity::id`).
pub struct ContactIdentitiesTable;

impl SqlTable<ContactIdentitiesProjection> for ContactIdentitiesTable {
    const TABLE: &'static str = "rm_contact_identities";
    const KEY: &'static [&'static str] = &["identity_id"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "identity", "contact_id"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &ContactIdentityView) -> Uuid {
        row.identity_id
    }

    fn columns(row: &ContactIdentityView) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            SqlValue::Text(row.identity.key()),
            row.contact_id.map(|c| c.to_string()).into(),
        ]
    }
}

/// The identity holders' read model on a SQL store.
pub type ContactIdentitiesModel<S> = TableStore<ContactIdentitiesProjection, ContactIdentitiesTable, S>;

impl<S: SqlStore> ContactIdentitiesModel<S> {
    /// The contact of the workspace holding `identity` now; `None` when nobody does (never
    /// claimed, or released).
    pub async fn holder(&self, workspace_id: Uuid, identity: &Identity) -> Result<Option<Uuid>, StoreError> {
        let sql = self.store.sql("SELECT row FROM rm_contact_identities WHERE workspace_id = {1} AND identity = {2}");
        let values = [SqlValue::Text(workspace_id.to_string()), SqlValue::Text(identity.key())];
        let rows: Vec<ContactIdentityView> = self.select(&sql, &values).await?;
        Ok(rows.into_iter().find_map(|row| row.contact_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_ends_before_the_next_string_that_does_not_start_with_it() {
        assert_eq!(prefix_end("ada").as_deref(), Some("adb"));
        assert_eq!(prefix_end("é").as_deref(), Some("ê"));
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}"), None);
        assert_eq!(prefix_end(""), None);
    }

    #[test]
    fn tags_are_spaced_and_like_patterns_match_only_themselves() {
        assert_eq!(tags_column(&["billing".into(), "vip".into()]), " billing vip ");
        assert_eq!(tags_column(&[]), " ");
        assert_eq!(like_escaped(r"50%_off\x"), r"50\%\_off\\x");
    }
}
