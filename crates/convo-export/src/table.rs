//! The Parquet layout: [`COLUMNS`] is the one list of the file's columns, each with its type,
//! its meaning and how it is read from an event; docs/EXPORT.md describes the same list.

use std::io::Write;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use convo_store::LogEvent;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde_json::Value;

/// Rows per row group: large enough for good compression and fast scans, small enough that
/// the writer's buffers stay a few tens of megabytes.
pub const ROW_GROUP_ROWS: usize = 65_536;

/// One event with what several columns need, computed once.
pub struct Row<'a> {
    pub event: &'a LogEvent,
    /// The payload as JSON text.
    pub payload: String,
    /// The metadata as JSON text.
    pub metadata: String,
}

impl Row<'_> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.event.payload.get(name)
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(Value::as_str)
    }

    fn is_conversation(&self) -> bool {
        self.event.aggregate_type == "conversation"
    }

    fn is_inbox(&self) -> bool {
        self.event.aggregate_type == "inbox"
    }
}

/// The id of an assignee (`AgentAssigned`) that is an agent.
fn agent_id(assignee: &Value) -> Option<&str> {
    (assignee.get("kind")? == "agent").then(|| assignee.get("id")?.as_str()).flatten()
}

/// Microseconds since the epoch of an RFC 3339 payload field.
fn micros(value: Option<&Value>) -> Option<i64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(value?.as_str()?).ok()?;
    Some(parsed.timestamp_micros())
}

/// How a column's value is read from a row; the variant fixes the column's type.
pub enum Read {
    /// `int64`.
    Int(fn(&Row<'_>) -> Option<i64>),
    /// `string` (UTF-8).
    Text(for<'a> fn(&'a Row<'a>) -> Option<&'a str>),
    /// `timestamp[us, tz=UTC]`.
    Micros(fn(&Row<'_>) -> Option<i64>),
}

pub struct Column {
    pub name: &'static str,
    pub nullable: bool,
    pub doc: &'static str,
    pub value: Read,
}

const fn column(name: &'static str, nullable: bool, value: Read, doc: &'static str) -> Column {
    Column { name, nullable, doc, value }
}

use Read::{Int, Micros, Text};

/// The columns of an exported Parquet file, in order.
pub const COLUMNS: &[Column] = &[
    column(
        "position",
        false,
        Int(|r| Some(r.event.position)),
        "Position in the global log (commit order; unique, not dense).",
    ),
    column(
        "recorded_at",
        false,
        Micros(|r| Some(r.event.recorded_at.timestamp_micros())),
        "When the store recorded the event (the database's clock).",
    ),
    column("workspace_id", true, Text(|r| r.event.workspace_id.as_deref()), "The workspace (tenant)."),
    column(
        "aggregate_type",
        false,
        Text(|r| Some(&r.event.aggregate_type)),
        "`conversation`, `inbox`, `contact`, `contact_identity`, `webhook_endpoint`, `agent`, `team` or `attribute_definition`.",
    ),
    column(
        "aggregate_id",
        false,
        Text(|r| Some(&r.event.aggregate_id)),
        "The conversation's, inbox's, contact's, identity's, endpoint's, agent's (its stream id), team's or attribute definition's (its stream id) id.",
    ),
    column("sequence", false, Int(|r| Some(r.event.sequence)), "The aggregate's version after this event (1-based)."),
    column("event_type", false, Text(|r| Some(&r.event.event_type)), "e.g. `MessageSent` (docs/EVENTS.md)."),
    column(
        "event_version",
        false,
        Text(|r| Some(&r.event.event_version)),
        "The payload's schema version: its type's current one, e.g. `1.0.0`.",
    ),
    column(
        "actor_kind",
        true,
        Text(|r| r.field("actor").and_then(|a| a.get("kind")).and_then(Value::as_str)),
        "Who caused it: `agent`, `bot`, `contact` or `system` (payload `actor.kind`).",
    ),
    column(
        "actor_id",
        true,
        Text(|r| r.field("actor").and_then(|a| a.get("id")).and_then(Value::as_str)),
        "The agent's, bot's or contact's id (payload `actor.id`).",
    ),
    column(
        "occurred_at",
        true,
        Micros(|r| micros(r.field("occurred_at"))),
        "When it happened by the engine's clock (payload `occurred_at`, truncated to microseconds).",
    ),
    column(
        "conversation_id",
        true,
        Text(|r| r.is_conversation().then_some(r.event.aggregate_id.as_str())),
        "The conversation (the aggregate id of conversation events; null for the others).",
    ),
    column(
        "inbox_id",
        true,
        Text(|r| if r.is_inbox() { Some(&r.event.aggregate_id) } else { r.text("inbox_id") }),
        "The inbox: on `ConversationStarted` and on inbox events only (join on conversation_id for the others).",
    ),
    column("channel", true, Text(|r| r.text("channel")), "The channel type (`ConversationStarted`, `InboxCreated`)."),
    column("message_id", true, Text(|r| r.text("message_id")), "The message an event is about (message events)."),
    column(
        "message_seq",
        true,
        Int(|r| r.field("seq").and_then(Value::as_i64)),
        "The message's (or note's) 1-based place in its conversation (`InboundMessageReceived`, `MessageSent`, `NoteAdded`, `ReadMarkerMoved`).",
    ),
    column(
        "direction",
        true,
        Text(|r| match r.event.event_type.as_str() {
            "InboundMessageReceived" => Some("inbound"),
            "MessageSent" => Some("outbound"),
            "NoteAdded" => Some("note"),
            _ => None,
        }),
        "`inbound` for `InboundMessageReceived`, `outbound` for `MessageSent`, `note` for `NoteAdded`, else null.",
    ),
    column(
        "content_type",
        true,
        Text(|r| r.field("content").and_then(|c| c.get("type")).and_then(Value::as_str)),
        "`text`, `media`, `template` or `interactive` (messages sent, received or edited).",
    ),
    column(
        "delivery_status",
        true,
        Text(|r| if r.event.event_type == "DeliveryStatusRecorded" { r.text("status") } else { None }),
        "The delivery status recorded (`DeliveryStatusRecorded`).",
    ),
    column(
        "conversation_status",
        true,
        Text(|r| if r.event.event_type == "StatusChanged" { r.text("to") } else { None }),
        "The conversation's new status (`StatusChanged`).",
    ),
    column(
        "agent_id",
        true,
        Text(|r| r.text("agent_id").or_else(|| r.field("assignee").and_then(agent_id))),
        "The agent assigned or unassigned, or the agent an agent or team event is about.",
    ),
    column(
        "team_id",
        true,
        Text(|r| r.text("team_id")),
        "The team assigned, unassigned or set on an inbox, or the team a team event is about.",
    ),
    column("user_id", true, Text(|r| r.text("user_id")), "The user whose read marker moved (`ReadMarkerMoved`)."),
    column(
        "payload",
        false,
        Text(|r| Some(&r.payload)),
        "The whole event at its type's current version, as JSON text.",
    ),
    column("metadata", false, Text(|r| Some(&r.metadata)), "The command's metadata, as JSON text."),
];

pub fn schema() -> SchemaRef {
    let fields = COLUMNS.iter().map(|c| {
        let data_type = match c.value {
            Int(_) => DataType::Int64,
            Text(_) => DataType::Utf8,
            Micros(_) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        };
        Field::new(c.name, data_type, c.nullable)
    });
    Arc::new(Schema::new(fields.collect::<Vec<_>>()))
}

/// zstd: payloads are JSON text, which zstd packs far tighter than snappy at a similar
/// decoding speed, and pandas (pyarrow), Polars and DuckDB all read it.
fn properties() -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS));
    // Values that are (nearly) all distinct gain nothing from a dictionary.
    for unique in ["payload", "metadata", "message_id"] {
        builder = builder.set_column_dictionary_enabled(ColumnPath::from(unique), false);
    }
    builder.build()
}

enum Builder {
    Int(Int64Builder),
    Text(StringBuilder),
    Micros(TimestampMicrosecondBuilder),
}

/// Writes pages of events as Parquet; the writer cuts row groups of [`ROW_GROUP_ROWS`].
pub struct ParquetSink<W: Write + Send> {
    writer: ArrowWriter<W>,
    schema: SchemaRef,
}

impl<W: Write + Send> ParquetSink<W> {
    pub fn new(out: W) -> parquet::errors::Result<Self> {
        let schema = schema();
        Ok(Self { writer: ArrowWriter::try_new(out, schema.clone(), Some(properties()))?, schema })
    }

    pub fn write(&mut self, events: &[LogEvent]) -> Result<(), crate::ExportError> {
        let mut builders: Vec<Builder> = COLUMNS
            .iter()
            .map(|c| match c.value {
                Int(_) => Builder::Int(Int64Builder::with_capacity(events.len())),
                Text(_) => Builder::Text(StringBuilder::new()),
                Micros(_) => Builder::Micros(TimestampMicrosecondBuilder::with_capacity(events.len())),
            })
            .collect();
        for event in events {
            let event = event.upcast()?;
            let row = Row {
                event: &event,
                payload: serde_json::to_string(&event.payload)?,
                metadata: serde_json::to_string(&event.metadata)?,
            };
            for (column, builder) in COLUMNS.iter().zip(&mut builders) {
                match (&column.value, builder) {
                    (Int(f), Builder::Int(b)) => b.append_option(f(&row)),
                    (Text(f), Builder::Text(b)) => b.append_option(f(&row)),
                    (Micros(f), Builder::Micros(b)) => b.append_option(f(&row)),
                    _ => unreachable!("each builder is made from its column's kind"),
                }
            }
        }
        let arrays: Vec<ArrayRef> = builders
            .into_iter()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::Int(mut b) => Arc::new(b.finish()),
                    Builder::Text(mut b) => Arc::new(b.finish()),
                    Builder::Micros(mut b) => Arc::new(b.finish().with_timezone("UTC")),
                }
            })
            .collect();
        self.writer.write(&RecordBatch::try_new(self.schema.clone(), arrays)?)?;
        Ok(())
    }

    /// Writes the footer and gives the output back.
    pub fn finish(self) -> parquet::errors::Result<W> {
        self.writer.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_name(read: &Read) -> &'static str {
        match read {
            Int(_) => "int64",
            Text(_) => "string",
            Micros(_) => "timestamp[us, UTC]",
        }
    }

    #[test]
    fn docs_list_every_column_as_the_code_does() {
        let table: String = COLUMNS
            .iter()
            .map(|c| {
                let nullable = if c.nullable { "yes" } else { "no" };
                format!("| `{}` | {} | {nullable} | {} |\n", c.name, type_name(&c.value), c.doc)
            })
            .collect();
        let docs = include_str!("../../../docs/EXPORT.md");
        assert!(docs.contains(&table), "docs/EXPORT.md should hold this table:\n{table}");
    }

    #[test]
    fn column_names_are_unique() {
        let names: std::collections::HashSet<_> = COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), COLUMNS.len());
    }
}
