//! Custom attributes: each key defined for the workspace's conversations
//! (`crate::attribute`), each value of its definition's type; `null` removes one. At most
//! [`MAX_ATTRIBUTES`] on a conversation.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Context, Conversation, ConversationChange as C, ConversationError};
use crate::attribute::{AttributeModel, valid_key};
use crate::contact::MAX_ATTRIBUTES;

impl Conversation {
    /// `SetAttributes`.
    pub(super) async fn set_attributes(
        &self,
        cx: &Context<'_>,
        attributes: BTreeMap<String, Value>,
    ) -> Result<Vec<C>, ConversationError> {
        self.started(cx.workspace_id)?;
        let mut changes = Vec::new();
        let mut count = self.attributes.len();
        for (key, value) in attributes {
            let field = format!("attributes.{key}");
            valid_key(&key).map_err(|reason| ConversationError::validation(&field, reason))?;
            let current = self.attributes.get(&key);
            if value.is_null() {
                if current.is_some() {
                    count -= 1;
                    changes.push(C::AttributeRemoved { key });
                }
                continue;
            }
            let lookup = cx.services.attributes.definition(cx.workspace_id, AttributeModel::Conversation, &key);
            let definition = lookup.await.map_err(ConversationError::Lookup)?.ok_or_else(|| {
                ConversationError::validation(&field, "no conversation attribute is defined with this key")
            })?;
            definition.check(&value).map_err(|reason| ConversationError::validation(&field, reason))?;
            if current == Some(&value) {
                continue;
            }
            if current.is_none() {
                count += 1;
            }
            changes.push(C::AttributeSet { key, value });
        }
        if count > MAX_ATTRIBUTES {
            return Err(ConversationError::validation(
                "attributes",
                format!("a conversation has at most {MAX_ATTRIBUTES} attributes"),
            ));
        }
        Ok(changes)
    }
}
