//! The committed contract, derived from the OpenAPI document: `schemas/openapi.json`, one
//! standalone JSON Schema (draft 2020-12) per event type and version and per command body, and
//! the events catalogue. `tests/it/schemas/` fails when the committed files drift from these.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use convo_domain::versions::{current_version, older_versions};
use serde_json::{Map, Value, json};

/// Where the events catalogue is committed, relative to the workspace root.
pub const EVENTS_CATALOGUE: &str = "docs/EVENTS.md";

const DRAFT: &str = "https://json-schema.org/draft/2020-12/schema";
const BASE_ID: &str = "https://convo.dev/schemas";
pub(super) const COMPONENTS: &str = "#/components/schemas/";

/// The aggregates whose events are published, with the component holding each one's events
/// (the envelope with the `type`-tagged change flattened into it: in the document, a `oneOf` of
/// one whole object per event type, `super::events_as_variants`).
pub(super) const AGGREGATES: [(&str, &str); 8] = [
    ("conversation", "ConversationEvent"),
    ("inbox", "InboxEvent"),
    ("contact", "ContactEvent"),
    ("contact_identity", "ContactIdentityEvent"),
    ("webhook_endpoint", "WebhookEndpointEvent"),
    ("agent", "AgentEvent"),
    ("team", "TeamEvent"),
    ("attribute_definition", "AttributeEvent"),
];

/// Which command (and endpoint) writes each event. Every event type must be listed, and only
/// those: [`schema_files`] panics otherwise, so the catalogue cannot silently miss one.
const PRODUCED_BY: &[(&str, &str)] = &[
    ("ConversationStarted", "`ReceiveInboundMessage` (`POST /v1/inbound-messages`), the first message of a thread"),
    ("InboundMessageReceived", "`ReceiveInboundMessage` (`POST /v1/inbound-messages`)"),
    ("MessageSent", "`SendMessage` (`POST /v1/conversations/{id}/messages`)"),
    (
        "DeliveryStatusRecorded",
        "`RecordDeliveryStatus` (`POST /v1/conversations/{id}/messages/{message_id}/status`), when the \
         report moves the status forward",
    ),
    ("ReactionSet", "`React` (`POST /v1/conversations/{id}/messages/{message_id}/reactions`) with an emoji"),
    ("ReactionRemoved", "`React` (`POST /v1/conversations/{id}/messages/{message_id}/reactions`) with an empty emoji"),
    ("MessageEdited", "`EditMessage` (`PATCH /v1/conversations/{id}/messages/{message_id}`)"),
    ("MessageDeleted", "`DeleteMessage` (`DELETE /v1/conversations/{id}/messages/{message_id}`), once"),
    ("AgentAssigned", "`AssignAgent` (`PUT /v1/conversations/{id}/assignee`), unless already assigned"),
    ("AgentUnassigned", "`UnassignAgent` (`DELETE /v1/conversations/{id}/assignee`), if one is assigned"),
    ("TeamAssigned", "`AssignTeam` (`PUT /v1/conversations/{id}/team`), unless already assigned"),
    ("TeamUnassigned", "`UnassignTeam` (`DELETE /v1/conversations/{id}/team`), if one is assigned"),
    ("ConversationArchived", "`Archive` (`POST /v1/conversations/{id}/archive`), if not archived"),
    (
        "ConversationUnarchived",
        "`Unarchive` (`POST /v1/conversations/{id}/unarchive`); `ReceiveInboundMessage` on an archived \
         conversation",
    ),
    ("ReadMarkerMoved", "`MarkRead` (`POST /v1/conversations/{id}/read`), when the marker moves forward"),
    (
        "StatusChanged",
        "`ChangeStatus` (`POST /v1/conversations/{id}/status`); `ReceiveInboundMessage` on a conversation \
         that is not open",
    ),
    ("GroupCreated", "`CreateGroup` (`POST /v1/groups`), once per group"),
    (
        "GroupMemberAdded",
        "`AddMembers` (`POST /v1/conversations/{id}/members`), per new member; `RequestToJoin` without \
         join approval; an approved join request",
    ),
    (
        "GroupMemberRemoved",
        "`RemoveMember` (`DELETE /v1/conversations/{id}/members/{member_id}`) of a current member other \
         than the inbox's own",
    ),
    ("GroupMemberRoleChanged", "`UpdateMember` (`PATCH /v1/conversations/{id}/members/{member_id}`) with a new role"),
    ("GroupMemberRenamed", "`UpdateMember` (`PATCH /v1/conversations/{id}/members/{member_id}`) with a new name"),
    (
        "GroupInfoUpdated",
        "`UpdateGroup` (`PATCH /v1/conversations/{id}/group`) changing subject, description or picture",
    ),
    ("GroupSettingsChanged", "`UpdateGroup` (`PATCH /v1/conversations/{id}/group`) changing a setting"),
    (
        "GroupJoinRequested",
        "`RequestToJoin` (`POST /v1/conversations/{id}/join-requests`) when the group approves joins",
    ),
    (
        "GroupJoinRequestResolved",
        "`ResolveJoinRequest` (`POST /v1/conversations/{id}/join-requests/{request_id}/approve` or `/reject`)",
    ),
    ("GroupInviteLinkRotated", "`RotateInviteLink` (`POST /v1/conversations/{id}/invite-link/rotate`)"),
    ("GroupLeft", "`LeaveGroup` (`POST /v1/conversations/{id}/leave`); `RemoveMember` of the inbox's own member"),
    (
        "GroupActivityRecorded",
        "`RecordActivity` (`POST /v1/conversations/{id}/activity`); `ReceiveInboundMessage` into an \
         activity-only group (its body is not kept)",
    ),
    (
        "ActivitySeen",
        "`MarkRead` (`POST /v1/conversations/{id}/read`) without a `message_id` in a group with unseen activity",
    ),
    ("InboxCreated", "`CreateInbox` (`POST /v1/inboxes`)"),
    ("InboxDeleted", "`DeleteInbox` (`DELETE /v1/inboxes/{inbox_id}`), once"),
    ("NoteAdded", "`AddNote` (`POST /v1/conversations/{id}/notes`)"),
    ("ConversationAttributeSet", "`PATCH /v1/conversations/{id}/attributes` with a value that changes the attribute"),
    ("ConversationAttributeRemoved", "`PATCH /v1/conversations/{id}/attributes` with `null` for an attribute it has"),
    ("AttributeDefined", "`POST /v1/attribute-definitions`"),
    (
        "AttributeDefinitionChanged",
        "`PATCH /v1/attribute-definitions/{model}/{key}` with a name or options that change it",
    ),
    ("AttributeDefinitionDeleted", "`DELETE /v1/attribute-definitions/{model}/{key}`, once"),
    ("LabelAdded", "`PUT /v1/conversations/{id}/labels/{label}`, when the label was not on"),
    ("LabelRemoved", "`DELETE /v1/conversations/{id}/labels/{label}`, when the label was on"),
    ("InboxTeamSet", "`PUT /v1/inboxes/{inbox_id}/team`, when the team changes"),
    ("InboxTeamCleared", "`DELETE /v1/inboxes/{inbox_id}/team`, when the inbox had one"),
    ("AgentCreated", "`POST /v1/agents`"),
    ("AgentUpdated", "`PATCH /v1/agents/{agent_id}` with a `name`, `email` or `role` that changes the profile"),
    ("AgentAvailabilityChanged", "`PATCH /v1/agents/{agent_id}` with an `availability` other than the agent's"),
    ("AgentDeactivated", "`PATCH /v1/agents/{agent_id}` with `active: false`, once"),
    ("AgentReactivated", "`PATCH /v1/agents/{agent_id}` with `active: true`, once"),
    ("TeamCreated", "`POST /v1/teams`"),
    ("TeamRenamed", "`PATCH /v1/teams/{team_id}` with another name"),
    ("TeamAgentAdded", "`PUT /v1/teams/{team_id}/agents/{agent_id}`, once per agent"),
    ("TeamAgentRemoved", "`DELETE /v1/teams/{team_id}/agents/{agent_id}`, when the agent was in the team"),
    ("ContactCreated", "`ReceiveInboundMessage` from an identity nobody holds (with its conversation on the inbox)"),
    ("ContactUpdated", "not written yet (#18: `PATCH /v1/contacts/{id}`)"),
    (
        "ContactIdentityAdded",
        "`ReceiveInboundMessage` naming more `identities` of a known sender than it holds, those nobody holds",
    ),
    ("ContactIdentityRemoved", "not written yet (#18: `DELETE /v1/contacts/{id}/identities`)"),
    ("ContactTagged", "not written yet (#18: `PATCH /v1/contacts/{id}`)"),
    ("ContactUntagged", "not written yet (#18: `PATCH /v1/contacts/{id}`)"),
    ("ContactAttributeSet", "not written yet (#18: `PATCH /v1/contacts/{id}`)"),
    ("ContactAttributeRemoved", "not written yet (#18: `PATCH /v1/contacts/{id}`)"),
    (
        "ContactConversationRecorded",
        "`ReceiveInboundMessage` from a known contact on an inbox it had no conversation on",
    ),
    ("ContactMerged", "not written yet (#18: `POST /v1/contacts/{id}/merge`)"),
    ("ContactAbsorbed", "not written yet (#18: `POST /v1/contacts/{id}/merge`)"),
    ("ContactDeleted", "not written yet (#18: `DELETE /v1/contacts/{id}`)"),
    (
        "IdentityClaimed",
        "`ReceiveInboundMessage` from an identity nobody holds, or naming more `identities` of its sender",
    ),
    ("IdentityReleased", "not written yet (#18: `DELETE /v1/contacts/{id}/identities`)"),
    (
        "WebhookEndpointDisabled",
        "the webhook sender, when the receiver answers 410 Gone or no delivery succeeded for the disable \
         period (`actor` `system`/`webhooks`); `PATCH /v1/webhooks/{webhook_id}` with `enabled: false`",
    ),
    ("WebhookEndpointEnabled", "`PATCH /v1/webhooks/{webhook_id}` with `enabled: true`"),
];

/// Every event type the log holds, by name: the catalogue's (what [`event_schemas`] generates,
/// which checks that this table lists exactly those), without generating the document.
pub fn event_types() -> impl Iterator<Item = &'static str> {
    PRODUCED_BY.iter().map(|(event_type, _)| *event_type)
}

/// One event type at one version, with its standalone schema.
#[derive(Debug, Clone)]
pub struct EventSchema {
    /// `conversation`, `inbox`, `contact`, `contact_identity` or `webhook_endpoint`: the aggregate type in the log and in NATS subjects.
    pub aggregate_type: &'static str,
    pub event_type: String,
    pub event_version: &'static str,
    /// A standalone JSON Schema of the event's payload as stored, published and served.
    pub schema: Value,
}

impl EventSchema {
    /// The schema's path, relative to the workspace root.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("schemas/events/{}.{}.json", self.event_type, self.event_version))
    }
}

/// Every generated file: its path relative to the workspace root and its exact contents.
///
/// # Panics
/// When the OpenAPI document does not have the shape this expects (a `ToSchema` change that
/// breaks the event or command schemas) or an event type is missing from the catalogue's table.
pub fn schema_files() -> Vec<(PathBuf, String)> {
    let openapi = openapi_value();
    let events = event_schemas_of(&openapi);
    let mut files = vec![(PathBuf::from("schemas/openapi.json"), pretty(&openapi))];
    files.extend(events.iter().map(|e| (e.path(), pretty(&e.schema))));
    for (name, schema) in command_schemas(&openapi) {
        files.push((PathBuf::from(format!("schemas/commands/{name}.json")), pretty(&schema)));
    }
    files.push((PathBuf::from(EVENTS_CATALOGUE), catalogue(&events)));
    files
}

/// The standalone schema of every event type, at its current version.
pub fn event_schemas() -> Vec<EventSchema> {
    event_schemas_of(&openapi_value())
}

/// The OpenAPI document as committed and served: pretty, keys sorted, a final newline.
pub(super) fn openapi_json() -> String {
    pretty(&openapi_value())
}

fn openapi_value() -> Value {
    super::openapi()
}

/// Pretty JSON with object keys sorted at every level, whatever serde_json's features, so the
/// committed files are stable.
fn pretty(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let entries: BTreeMap<&String, Value> = map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

fn component<'a>(openapi: &'a Value, name: &str) -> &'a Value {
    let schema = &openapi["components"]["schemas"][name];
    assert!(schema.is_object(), "the OpenAPI document has no component schema {name}");
    schema
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema.get("$ref")?.as_str()?.strip_prefix(COMPONENTS)
}

/// An object schema's members: properties and required names.
fn object_parts(schema: &Value, what: &str) -> (Map<String, Value>, Vec<Value>) {
    let properties = schema["properties"].as_object().cloned();
    let properties = properties.unwrap_or_else(|| panic!("{what} is not an object schema with properties: {schema}"));
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    (properties, required)
}

fn event_schemas_of(openapi: &Value) -> Vec<EventSchema> {
    let mut events = Vec::new();
    for (aggregate_type, component_name) in AGGREGATES {
        // `{occurred_at, actor, #[serde(flatten)] change}`: one object per variant of the change,
        // the envelope's fields beside its own (`super::events_as_variants`).
        let variants = component(openapi, component_name)["oneOf"].as_array().cloned().unwrap_or_default();
        assert!(!variants.is_empty(), "{component_name} is not a oneOf of its event types");
        for variant in variants {
            let (mut properties, required) = object_parts(&variant, component_name);
            let event_type = properties["type"]["enum"][0]
                .as_str()
                .unwrap_or_else(|| panic!("a variant of {component_name} has no `type` tag: {variant}"))
                .to_owned();
            // One constant name, as `const` says best.
            properties.insert("type".to_owned(), json!({"const": event_type, "description": "The event type."}));
            let mut all_required: Vec<Value> = vec![json!("type")];
            for name in &required {
                if !all_required.contains(name) {
                    all_required.push(name.clone());
                }
            }
            // The current version's; the older ones the domain reads keep their committed files.
            let event_version = current_version(&event_type);
            let mut schema = json!({
                "$schema": DRAFT,
                "$id": format!("{BASE_ID}/events/{event_type}.{event_version}.json"),
                "title": format!("{event_type} {event_version}"),
                "description": variant.get("description").cloned().unwrap_or(Value::Null),
                "type": "object",
                "properties": properties,
                "required": all_required,
            });
            if schema["description"].is_null() {
                panic!("the {event_type} variant of {component_name} needs a doc comment: the catalogue shows it");
            }
            resolve_defs(openapi, &mut schema);
            events.push(EventSchema { aggregate_type, event_type, event_version, schema });
        }
    }
    let listed: BTreeSet<&str> = PRODUCED_BY.iter().map(|(t, _)| *t).collect();
    let found: BTreeSet<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(listed, found, "PRODUCED_BY in openapi/files.rs must list exactly the event types");
    events
}

/// The request body of every command, by component name, with the endpoints that take it.
fn command_schemas(openapi: &Value) -> Vec<(String, Value)> {
    let mut bodies: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (path, item) in openapi["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            // An optional body is `oneOf: [{type: null}, {$ref}]`.
            let name = ref_name(schema)
                .or_else(|| schema["oneOf"].as_array().and_then(|items| items.iter().find_map(ref_name)));
            if let Some(name) = name {
                bodies.entry(name.to_owned()).or_default().push(format!("`{} {path}`", method.to_uppercase()));
            }
        }
    }
    bodies
        .into_iter()
        .map(|(name, endpoints)| {
            let mut schema = component(openapi, &name).clone();
            let description = schema["description"].as_str().unwrap_or_default().to_owned();
            let object = schema.as_object_mut().unwrap_or_else(|| panic!("{name} is not an object schema"));
            object.insert("$schema".into(), json!(DRAFT));
            object.insert("$id".into(), json!(format!("{BASE_ID}/commands/{name}.json")));
            object.insert("title".into(), json!(name));
            let body_of = format!("The body of {}.", endpoints.join(", "));
            let description = if description.is_empty() { body_of } else { format!("{description}\n\n{body_of}") };
            object.insert("description".into(), json!(description));
            resolve_defs(openapi, &mut schema);
            (name, schema)
        })
        .collect()
}

/// Makes `schema` standalone: every component it references, transitively, goes into its
/// `$defs`, and references point there.
fn resolve_defs(openapi: &Value, schema: &mut Value) {
    fn collect(value: &Value, names: &mut BTreeSet<String>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = ref_name(value) {
                    names.insert(name.to_owned());
                }
                map.values().for_each(|v| collect(v, names));
            }
            Value::Array(items) => items.iter().for_each(|v| collect(v, names)),
            _ => {}
        }
    }
    fn rewrite(value: &mut Value) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get_mut("$ref")
                    && let Some(name) = reference.strip_prefix(COMPONENTS)
                {
                    *reference = format!("#/$defs/{name}");
                }
                map.values_mut().for_each(rewrite);
            }
            Value::Array(items) => items.iter_mut().for_each(rewrite),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    collect(schema, &mut names);
    let mut defs = Map::new();
    while let Some(name) = names.pop_first() {
        if defs.contains_key(&name) {
            continue;
        }
        let definition = component(openapi, &name).clone();
        collect(&definition, &mut names);
        defs.insert(name, definition);
    }
    if !defs.is_empty()
        && let Some(object) = schema.as_object_mut()
    {
        object.insert("$defs".into(), Value::Object(defs));
    }
    rewrite(schema);
}

/// A schema's type in a word or two, for the catalogue.
fn type_of(schema: &Value) -> String {
    if let Some(name) = ref_name(schema).or_else(|| schema["$ref"].as_str()?.strip_prefix("#/$defs/")) {
        return format!("[`{name}`](#{})", name.to_lowercase());
    }
    if let Some(value) = schema.get("const") {
        return format!("`{value}`");
    }
    if let Some(values) = schema["enum"].as_array() {
        let values: Vec<String> = values.iter().filter(|v| !v.is_null()).map(|v| format!("`{v}`")).collect();
        return values.join(" \\| ");
    }
    if let Some(options) = schema["oneOf"].as_array() {
        let options: Vec<String> = options.iter().filter(|o| o["type"] != "null").map(type_of).collect();
        return options.join(" or ");
    }
    let kinds: Vec<&str> = match &schema["type"] {
        Value::String(kind) => vec![kind.as_str()],
        Value::Array(kinds) => kinds.iter().filter_map(Value::as_str).filter(|k| *k != "null").collect(),
        _ => vec![],
    };
    match (kinds.first().copied(), schema["format"].as_str()) {
        (Some("array"), _) => format!("array of {}", type_of(&schema["items"])),
        (Some("integer"), _) => "integer".to_owned(),
        (Some(kind), Some(format)) => format!("{kind} ({format})"),
        (Some(kind), None) => kind.to_owned(),
        (None, _) => "any".to_owned(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").replace('|', "\\|")
}

/// The events catalogue: every event type per aggregate, with its meaning, its fields and the
/// command that writes it.
fn catalogue(events: &[EventSchema]) -> String {
    let produced_by: BTreeMap<&str, &str> = PRODUCED_BY.iter().copied().collect();
    let mut doc = String::from(
        "# Events catalogue\n\n\
         <!-- Generated by convo_gateway::openapi::schema_files from the Rust types; do not edit.\n     \
         Regenerate with `CONVO_WRITE_SCHEMAS=1 cargo test -p convo-tests --test it schemas`. -->\n\n\
         Every change is an immutable event in the append-only log. An event's payload is a JSON object:\n\
         the envelope (`type`, the event type; `occurred_at`, when it happened by the engine's clock;\n\
         `actor`, who caused it) beside the fields of the change. The log (`GET /v1/events`,\n\
         `GET /v1/conversations/{id}/events`) and NATS (`convo.<workspace>.<aggregate_type>.<aggregate_id>.<event_type>`)\n\
         serve it inside a `LogEvent` with `event_type`, `event_version`, `position` and `sequence`.\n\n\
         Events are forever: a changed shape is a new `event_version` with an upcaster, and each\n\
         version keeps its JSON Schema in [`schemas/events/`](../schemas/events/), named\n\
         `<event_type>.<event_version>.json`. Types named below are defined in\n\
         [`schemas/openapi.json`](../schemas/openapi.json) (`components.schemas`) and in each event's `$defs`.\n\n\
         The log and NATS serve each event as it was stored, at the version it was written at; the\n\
         engine reads an older version through its upcaster, so its rules, read models, time travel\n\
         and exports see the current version only. How to add a version: [below](#adding-a-version).\n",
    );
    let mut aggregates: Vec<&str> = events.iter().map(|e| e.aggregate_type).collect();
    aggregates.dedup();
    for aggregate in aggregates {
        let _ = write!(doc, "\n## The `{aggregate}` aggregate\n\n| event | version | meaning |\n| --- | --- | --- |\n");
        let mine: Vec<&EventSchema> = events.iter().filter(|e| e.aggregate_type == aggregate).collect();
        for e in &mine {
            let meaning = one_line(e.schema["description"].as_str().unwrap_or_default());
            let _ = writeln!(
                doc,
                "| [{0}](#{1}) | {2} | {meaning} |",
                e.event_type,
                e.event_type.to_lowercase(),
                e.event_version
            );
        }
        for e in mine {
            let schema = &e.schema;
            let _ = write!(
                doc,
                "\n### {}\n\n{}\n\n- version: `{}`; schema: [`{}`](../{})\n",
                e.event_type,
                one_line(schema["description"].as_str().unwrap_or_default()),
                e.event_version,
                e.path().display(),
                e.path().display(),
            );
            let older: Vec<String> = older_versions(&e.event_type)
                .map(|v| format!("[`{v}`](../schemas/events/{}.{v}.json)", e.event_type))
                .collect();
            if !older.is_empty() {
                let _ = writeln!(doc, "- older versions, read through their upcasters: {}", older.join(", "));
            }
            let _ = write!(
                doc,
                "- produced by: {}\n\n",
                produced_by.get(e.event_type.as_str()).copied().unwrap_or_default()
            );
            // Required fields in declaration order, then the optional ones; the envelope is above.
            let required: Vec<&str> =
                schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let properties = schema["properties"].as_object().cloned().unwrap_or_default();
            let optional = properties.keys().map(String::as_str).filter(|name| !required.contains(name));
            let fields: Vec<&str> =
                required.iter().copied().chain(optional).filter(|name| !ENVELOPE.contains(name)).collect();
            if fields.is_empty() {
                doc.push_str("No fields beyond the envelope.\n");
                continue;
            }
            doc.push_str("| field | type | required | description |\n| --- | --- | --- | --- |\n");
            for name in fields {
                let property = &properties[name];
                let _ = writeln!(
                    doc,
                    "| `{name}` | {} | {} | {} |",
                    type_of(property),
                    if required.contains(&name) { "yes" } else { "no" },
                    one_line(property["description"].as_str().unwrap_or_default()),
                );
            }
        }
    }
    types(events, &mut doc);
    doc.push_str(ADDING_A_VERSION);
    doc
}

/// The catalogue's last section: how an event's shape changes.
const ADDING_A_VERSION: &str = "\n## Adding a version\n\n\
A change that a consumer of the current version could not read (a field renamed, removed or of\n\
another type; a new required field) is a new version of the event. An optional new field is not\n\
(consumers ignore fields they do not know), and neither is a new event type. Step by step:\n\n\
1. Change the event's variant (`convo-domain/src/conversation/event.rs`, or `inbox.rs`) to the new\n   \
shape, and follow the compiler: the rules that write it, `apply`, the projections that fold it,\n   \
the export's columns that read its fields (`convo-export/src/table.rs`).\n\
2. Beside the variant, write the upcaster: a function that rewrites a stored payload of the\n   \
previous version into the new shape, and says what is missing when it cannot.\n\
3. List it last among its event type's upcasters in `UPCASTERS` (`convo-domain/src/versions.rs`),\n   \
`from` the previous version `to` the new one (the next major version: it is a breaking change).\n   \
From then on the event is written at the new version, and every reader upcasts the older ones\n   \
on the way in (`convo_domain::decode`): aggregate loading, the log's decoding for read models,\n   \
rebuilds, verification and time travel, and the export. A version that no upcaster names and\n   \
that is not the current one (written by a newer build) is an error, never a guess.\n\
4. Test the upcaster where it lives: an old payload decodes to the new event, and equals what\n   \
the new version writes.\n\
5. Regenerate the contract (`CONVO_WRITE_SCHEMAS=1 cargo test -p convo-tests --test it schemas`):\n   \
this adds the new version's schema to `schemas/events/` and updates this catalogue. The old\n   \
version's schema stays as it was published, never regenerated; add a sample of the old version\n   \
to `older_versions` in `tests/it/schemas/`, which checks it against that schema and its upcast\n   \
against the new one.\n\
6. Show a log holding both versions reading as if all of it had been written at the new one, as\n   \
`tests/it/versions.rs` does for `AgentAssigned` 1.0.0 and 2.0.0.\n";

/// The envelope's fields, described once at the top of the catalogue.
const ENVELOPE: [&str; 3] = ["type", "occurred_at", "actor"];

/// The types the events use, each with its values or fields.
fn types(events: &[EventSchema], doc: &mut String) {
    let mut defs: BTreeMap<&String, &Value> = BTreeMap::new();
    for e in events {
        defs.extend(e.schema["$defs"].as_object().into_iter().flatten());
    }
    doc.push_str("\n## Types\n");
    for (name, def) in defs {
        let _ = write!(doc, "\n### {name}\n\n");
        if let Some(description) = def["description"].as_str() {
            let _ = write!(doc, "{}\n\n", one_line(description));
        }
        if def.get("enum").is_some() {
            let _ = writeln!(doc, "One of {}.", type_of(def));
        } else if def["type"] == "string" {
            let mut facets = vec![];
            if let Some(min) = def["minLength"].as_u64() {
                facets.push(format!("at least {min} characters"));
            }
            if let Some(max) = def["maxLength"].as_u64() {
                facets.push(format!("at most {max}"));
            }
            if def.get("pattern").is_some() {
                facets.push("matching the `pattern` of its schema".to_owned());
            }
            let _ = writeln!(doc, "A string: {}.", facets.join(", "));
        } else if let Some(variants) = def["oneOf"].as_array() {
            doc.push_str("One of, by `type`:\n\n");
            for variant in variants.iter().map(one_object) {
                let tag = type_of(&variant["properties"]["type"]);
                let _ = writeln!(doc, "- {tag}: {}", fields_in_a_line(&variant));
            }
        } else if def.get("properties").is_none() && def.get("propertyNames").is_some() {
            let mut facets = vec!["keys matching the `propertyNames` of its schema".to_owned()];
            if let Some(max) = def["maxProperties"].as_u64() {
                facets.push(format!("at most {max} of them"));
            }
            let _ = writeln!(doc, "An object of any JSON values by key: {}.", facets.join(", "));
        } else {
            let _ = writeln!(doc, "An object: {}.", fields_in_a_line(def));
        }
    }
}

/// An object schema, or the `anyOf`/`oneOf` of whole objects that says a rule between its fields
/// (`super::whole_alternatives`) as one object: every alternative's properties (the first's
/// schema of each), required when every alternative requires them.
fn one_object(schema: &Value) -> Value {
    let alternatives = schema["anyOf"].as_array().or_else(|| schema["oneOf"].as_array());
    let (Some(alternatives), None) = (alternatives, schema.get("properties")) else { return schema.clone() };
    let mut properties = Map::new();
    for alternative in alternatives {
        for (name, property) in alternative["properties"].as_object().into_iter().flatten() {
            properties.entry(name.clone()).or_insert_with(|| property.clone());
        }
    }
    let required_by = |alternative: &Value, name: &Value| {
        alternative["required"].as_array().is_some_and(|required| required.contains(name))
    };
    let required: Vec<Value> = alternatives
        .first()
        .and_then(|first| first["required"].as_array())
        .into_iter()
        .flatten()
        .filter(|name| alternatives.iter().all(|a| required_by(a, name)))
        .cloned()
        .collect();
    json!({"type": "object", "properties": properties, "required": required})
}

/// `name` (type), `optional`? (type), … in declaration order of the required ones.
fn fields_in_a_line(schema: &Value) -> String {
    let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let properties = schema["properties"].as_object().cloned().unwrap_or_default();
    let optional = properties.keys().map(String::as_str).filter(|name| !required.contains(name));
    let fields: Vec<String> = required
        .iter()
        .copied()
        .chain(optional)
        .filter(|name| *name != "type")
        .map(|name| {
            let mark = if required.contains(&name) { "" } else { "?" };
            format!("`{name}`{mark} ({})", type_of(&properties[name]))
        })
        .collect();
    fields.join(", ")
}
