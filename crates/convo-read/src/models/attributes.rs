//! `rm_attribute_definitions` (the workspace's live attribute definitions) and
//! `rm_conversation_attributes` (the attributes set on conversations, which the conversation
//! list filters by).

use convo_domain::attribute::{AttributeModel, attribute_stream_id};
use convo_projection_directory::{AttributeDefinitionView, AttributeDefinitionsProjection};
use convo_projection_inbox::{ConversationAttributeRow, ConversationAttributesProjection, canonical_value};
use uuid::Uuid;

use crate::table::{SqlTable, TableStore};
use convo_store::{SqlStore, SqlValue, StoreError};

/// `rm_attribute_definitions`: one row per live definition, keyed by its stream id.
pub struct AttributeDefinitionsTable;

impl SqlTable<AttributeDefinitionsProjection> for AttributeDefinitionsTable {
    const TABLE: &'static str = "rm_attribute_definitions";
    const KEY: &'static [&'static str] = &["definition_key"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "model", "key"];

    fn key(key: &Uuid) -> Vec<SqlValue> {
        vec![SqlValue::Text(key.to_string())]
    }

    fn key_of(row: &AttributeDefinitionView) -> Uuid {
        attribute_stream_id(row.workspace_id, row.model, &row.key)
    }

    fn columns(row: &AttributeDefinitionView) -> Vec<SqlValue> {
        vec![
            SqlValue::Text(row.workspace_id.to_string()),
            SqlValue::Text(row.model.name().to_owned()),
            SqlValue::Text(row.key.clone()),
        ]
    }
}

/// The attribute definitions read model on a SQL store.
pub type AttributeDefinitionsModel<S> = TableStore<AttributeDefinitionsProjection, AttributeDefinitionsTable, S>;

impl<S: SqlStore> AttributeDefinitionsModel<S> {
    /// The live definition of `key` for `model` in the workspace.
    pub async fn get(
        &self,
        workspace_id: Uuid,
        model: AttributeModel,
        key: &str,
    ) -> Result<Option<AttributeDefinitionView>, StoreError> {
        let sql = self
            .store
            .sql("SELECT row FROM rm_attribute_definitions WHERE workspace_id = {1} AND model = {2} AND key = {3}");
        let values = [
            SqlValue::Text(workspace_id.to_string()),
            SqlValue::Text(model.name().to_owned()),
            SqlValue::Text(key.to_owned()),
        ];
        Ok(self.select(&sql, &values).await?.pop())
    }

    /// A page of the workspace's live definitions by model, then key (byte order): those of
    /// `model` only when given, up to `limit` after (model, key) `after` (keyset on
    /// `rm_attribute_definitions_by_key`).
    pub async fn list(
        &self,
        workspace_id: Uuid,
        model: Option<AttributeModel>,
        after: Option<(AttributeModel, String)>,
        limit: u32,
    ) -> Result<Vec<AttributeDefinitionView>, StoreError> {
        let mut values = vec![SqlValue::Text(workspace_id.to_string())];
        let mut sql = String::from("SELECT row FROM rm_attribute_definitions WHERE workspace_id = {1}");
        if let Some(model) = model {
            values.push(SqlValue::Text(model.name().to_owned()));
            sql.push_str(&format!(" AND model = {{{}}}", values.len()));
        }
        if let Some((model, key)) = after {
            values.push(SqlValue::Text(model.name().to_owned()));
            values.push(SqlValue::Text(key));
            let (m, k) = (values.len() - 1, values.len());
            sql.push_str(&format!(" AND (model > {{{m}}} OR (model = {{{m}}} AND key > {{{k}}}))"));
        }
        values.push(SqlValue::Int(i64::from(limit)));
        sql.push_str(&format!(" ORDER BY model, key LIMIT {{{}}}", values.len()));
        self.select(&self.store.sql(&sql), &values).await
    }
}

/// `rm_conversation_attributes`: one row per conversation and attribute key set on it.
pub struct ConversationAttributesTable;

impl SqlTable<ConversationAttributesProjection> for ConversationAttributesTable {
    const TABLE: &'static str = "rm_conversation_attributes";
    const KEY: &'static [&'static str] = &["conversation_id", "key"];
    const COLUMNS: &'static [&'static str] = &["workspace_id", "value"];

    fn key((conversation_id, key): &(Uuid, String)) -> Vec<SqlValue> {
        vec![SqlValue::Text(conversation_id.to_string()), SqlValue::Text(key.clone())]
    }

    fn key_of(row: &ConversationAttributeRow) -> (Uuid, String) {
        (row.conversation_id, row.key.clone())
    }

    fn columns(row: &ConversationAttributeRow) -> Vec<SqlValue> {
        vec![SqlValue::Text(row.workspace_id.to_string()), SqlValue::Text(canonical_value(&row.value))]
    }
}

/// The conversation attributes read model on a SQL store: what `InboxModel::list` filters an
/// attribute by.
pub type ConversationAttributesModel<S> = TableStore<ConversationAttributesProjection, ConversationAttributesTable, S>;
