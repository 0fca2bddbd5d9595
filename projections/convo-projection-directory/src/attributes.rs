//! The attribute definitions read model: one row per live definition of a workspace.

use chrono::{DateTime, Utc};
use convo_domain::LogEvent;
use convo_domain::attribute::{AttributeChange, AttributeModel, AttributeType};
use convo_projection::{Projection, Rows};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A custom attribute definition as the read model keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttributeDefinitionView {
    pub workspace_id: Uuid,
    /// What it is defined for: `contact` or `conversation`.
    pub model: AttributeModel,
    /// The key values are set under (`a-z`, `0-9` and `_`).
    pub key: String,
    /// Its name, for people.
    pub name: String,
    /// The type of its values.
    #[serde(rename = "type")]
    pub attribute_type: AttributeType,
    /// A list's options, in order; empty for the other types.
    pub options: Vec<String>,
    /// When it was defined.
    pub defined_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The definition's version: the sequence of its latest event.
    pub version: i64,
    /// The global log position of its latest event.
    pub position: i64,
}

/// Folds attribute definition events (aggregate type `attribute_definition`) into one
/// [`AttributeDefinitionView`] per live definition, keyed by its stream id; a deletion removes it.
#[derive(Debug, Default, Clone, Copy)]
pub struct AttributeDefinitionsProjection;

impl Projection for AttributeDefinitionsProjection {
    const NAME: &'static str = "attribute_definitions";
    type Event = (Uuid, convo_domain::attribute::AttributeEvent);
    type Key = Uuid;
    type Row = AttributeDefinitionView;

    fn decode(&self, event: &LogEvent) -> Result<Option<Self::Event>, String> {
        let Some(decoded) = event.attribute_event() else { return Ok(None) };
        let id = Uuid::parse_str(&event.aggregate_id).map_err(|e| format!("attribute definition id: {e}"))?;
        Ok(Some((id, decoded.map_err(str::to_owned)?.clone())))
    }

    fn keys(&self, _: &LogEvent, (id, _): &Self::Event, into: &mut Vec<Uuid>) {
        into.push(*id);
    }

    fn apply(
        &self,
        log: &LogEvent,
        (id, event): Self::Event,
        rows: &mut Rows<Uuid, AttributeDefinitionView>,
    ) -> Result<(), String> {
        let at = event.occurred_at;
        match event.change {
            AttributeChange::Defined { workspace_id, model, key, name, attribute_type, options } => {
                let row = AttributeDefinitionView {
                    workspace_id,
                    model,
                    key,
                    name,
                    attribute_type,
                    options,
                    defined_at: at,
                    updated_at: at,
                    version: log.sequence,
                    position: log.position,
                };
                rows.put(id, row);
            }
            AttributeChange::Changed { name, options } => {
                let row = rows.get_mut(&id).ok_or_else(|| format!("definition {id} changed before it was defined"))?;
                if let Some(name) = name {
                    row.name = name;
                }
                if let Some(options) = options {
                    row.options = options;
                }
                row.updated_at = at;
                row.version = log.sequence;
                row.position = log.position;
            }
            AttributeChange::Deleted {} => rows.remove(&id),
        }
        Ok(())
    }
}
