//! The gateway's machine-readable contract: the OpenAPI 3.1 document, generated from the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` types of the domain and the read models,
//! served at `GET /openapi.json` with a browsable UI at `GET /docs`; and the standalone JSON
//! Schemas and events catalogue committed under `schemas/` and `docs/` ([`schema_files`]).

mod files;

use std::collections::BTreeMap;

use axum::Router;
use axum::http::header;
use axum::routing::get;
use serde_json::{Value, json};
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, ObjectBuilder, Ref, RefOr, Required, Response, Type};
use utoipa::{Modify, OpenApi};
use utoipa_scalar::{Scalar, Servable};

pub use files::{EVENTS_CATALOGUE, event_schemas, event_types, schema_files};

use crate::Code;
use crate::{
    analytics, attributes, contacts, conversations, directory, groups, inboxes, keys, log, messages, read_state,
    webhooks,
};

/// The name of the security scheme: `Authorization: Bearer <key>`.
pub const SECURITY_SCHEME: &str = "apiKey";
/// The media type of every error.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "convo",
        description = "An event-sourced conversation engine: commands in, facts in an append-only log, \
                       read models out. Every error is `application/problem+json` with a stable `code`. \
                       No string may hold the NUL character (U+0000): in a path or query parameter, a \
                       body's value or an object's key, it is refused with 422 `validation` naming where. \
                       Command responses carry the `position` they produced; pass it to a query as \
                       `min_position` to read your own write. Event payloads are described per type and \
                       version in `schemas/events/`."
    ),
    paths(
        inboxes::create_inbox,
        inboxes::list_inboxes,
        inboxes::delete_inbox,
        contacts::create_contact,
        contacts::list_contacts,
        contacts::get_contact,
        contacts::change_contact,
        contacts::delete_contact,
        contacts::contact_conversations,
        contacts::merge_contact,
        messages::receive_inbound,
        conversations::list_conversations,
        conversations::get_conversation,
        conversations::get_window,
        messages::send_message,
        messages::list_messages,
        messages::add_note,
        analytics::response_times,
        messages::record_status,
        messages::react,
        messages::edit_message,
        messages::delete_message,
        conversations::assign_agent,
        conversations::unassign_agent,
        conversations::assign_team,
        conversations::unassign_team,
        conversations::add_label,
        conversations::remove_label,
        conversations::list_labels,
        conversations::archive,
        conversations::unarchive,
        read_state::mark_read,
        conversations::change_status,
        read_state::unread_summary,
        contacts::link_identity,
        contacts::unlink_identity,
        directory::create_agent,
        directory::list_agents,
        directory::get_agent,
        directory::change_agent,
        directory::agent_mentions,
        attributes::define_attribute,
        attributes::list_attributes,
        attributes::get_attribute,
        attributes::change_attribute,
        attributes::delete_attribute,
        attributes::set_conversation_attributes,
        directory::assignable_agents,
        directory::create_team,
        directory::list_teams,
        directory::get_team,
        directory::rename_team,
        directory::team_agents,
        directory::add_team_agent,
        directory::remove_team_agent,
        directory::set_inbox_team,
        directory::clear_inbox_team,
        log::list_events,
        log::conversation_events,
        crate::stream::stream,
        keys::create_key,
        keys::list_keys,
        keys::revoke_key,
        webhooks::create_webhook,
        webhooks::list_webhooks,
        webhooks::get_webhook,
        webhooks::delete_webhook,
        webhooks::list_attempts,
        webhooks::replay_webhook,
        webhooks::change_webhook,
        webhooks::verify_webhook,
        webhooks::rotate_secret,
        webhooks::signing_keys,
        webhooks::rotate_signing_key,
        groups::create_group,
        groups::list_members,
        groups::add_members,
        groups::update_member,
        groups::remove_member,
        groups::update_group,
        groups::request_to_join,
        groups::list_join_requests,
        groups::approve_join_request,
        groups::reject_join_request,
        groups::rotate_invite_link,
        groups::leave_group,
        groups::record_activity,
        crate::health::healthz,
        crate::health::readyz,
        crate::observe::render_metrics,
    ),
    components(schemas(
        convo_domain::ConversationEvent,
        convo_domain::InboxEvent,
        convo_domain::contact::ContactEvent,
        convo_domain::contact::ContactIdentityEvent,
        convo_domain::WebhookEndpointEvent,
        convo_domain::directory::AgentEvent,
        convo_domain::directory::TeamEvent,
        convo_domain::attribute::AttributeEvent,
        crate::ApiError
    )),
    tags(
        (name = "inboxes", description = "Connected channel accounts and their messaging policy"),
        (name = "contacts", description = "People known across channels by their identities"),
        (name = "attributes", description = "Custom attribute definitions: the keys, types and options contacts' and conversations' attributes are checked against"),
        (name = "directory", description = "Agents and teams: who works conversations, who may take one, and the conversations each holds"),
        (name = "groups", description = "Group conversations: members and roles over time, settings, join requests, the invite link, leaving, activity-only groups"),
        (name = "conversations", description = "Threads: assignment, status, archive, read state, the window"),
        (name = "messages", description = "Inbound and outbound messages, delivery, reactions, edits"),
        (name = "read state", description = "Unread counts per user"),
        (name = "log", description = "The append-only event log and its live stream"),
        (name = "keys", description = "API keys of the workspace (admin scope)"),
        (name = "webhooks", description = "Webhook endpoints of the workspace (admin scope) and the attempt log of their deliveries (read scope)"),
        (name = "operations", description = "Probes and metrics for the platform that runs the engine; no API key"),
    ),
    modifiers(&Conventions),
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the gateway, as served and committed: what the annotations
/// generate, with the rules between fields that they cannot state ([`cross_field_rules`]).
pub fn openapi() -> Value {
    // Serializing plain data structures to a `Value` cannot fail.
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    events_as_variants(&mut doc);
    cross_field_rules(&mut doc);
    as_the_engine_reads_them(&mut doc);
    webhooks(&mut doc);
    doc
}

/// OpenAPI 3.1's `webhooks`: what the engine POSTs to a webhook endpoint (docs/WEBHOOKS.md).
fn webhooks(doc: &mut Value) {
    let header = |name: &str, description: &str| json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    doc["webhooks"] = json!({
        "event": {"post": {
            "summary": "An event of the workspace that the endpoint's filter takes",
            "description": "A Standard Webhooks (1.0) delivery: the body is the event exactly as `GET /v1/events` \
                gives it (its `payload` per type and version in `schemas/events/`), or a test delivery \
                (`event_type` `WebhookVerification`, `position` 0). Verify the signature on the raw body with a \
                Standard Webhooks library before parsing it; deduplicate on `webhook-id`; answer 2xx within \
                15 s. A conversation's events arrive in log order; failures are retried on the spec's schedule.",
            "operationId": "receiveEvent",
            "tags": ["webhooks"],
            "parameters": [
                header("webhook-id", "`msg_<position>`: the event's, the same for every attempt of it"),
                header("webhook-timestamp", "This attempt's time, Unix seconds"),
                header("webhook-signature", "`v1,<base64 HMAC-SHA256 of \"{id}.{timestamp}.{body}\">` with the endpoint's secret"),
            ],
            "requestBody": {"required": true, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/LogEvent"}}}},
            "responses": {
                "2XX": {"description": "Delivered"},
                "410": {"description": "Gone: the delivery is given up and the endpoint disabled"},
                "429": {"description": "Later: the next attempt waits at least `Retry-After` seconds"},
                "503": {"description": "Later: the next attempt waits at least `Retry-After` seconds"},
                "default": {"description": "Failed: tried again on the schedule (a redirect is a failure too)"},
            },
        }},
    });
}

/// The component schema `name` of `doc`.
///
/// # Panics
/// When there is none: a renamed type must be renamed here too.
fn component<'a>(doc: &'a mut Value, name: &str) -> &'a mut serde_json::Map<String, Value> {
    doc["components"]["schemas"][name]
        .as_object_mut()
        .unwrap_or_else(|| panic!("the OpenAPI document has no component schema {name}"))
}

/// The values of the string enum `name` of `doc`, but `except`.
fn enum_values(doc: &mut Value, name: &str, except: &[&str]) -> Vec<Value> {
    let values = component(doc, name)["enum"].as_array().cloned().unwrap_or_default();
    let values: Vec<Value> = values.into_iter().filter(|v| !except.iter().any(|e| v == e)).collect();
    assert!(!values.is_empty(), "{name} is not a string enum");
    values
}

/// The rules the gateway and the domain check between the fields of a body, which derive
/// cannot say: added to the generated schemas as `oneOf`/`anyOf`/`allOf`, so that a body the
/// document takes is a body the gateway takes. (Rules on stored state or the clock, such as
/// `sent_at` not in the future, are in the descriptions.)
fn cross_field_rules(doc: &mut Value) {
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});

    // `receive_inbound`: exactly one of `contact_id` and `group_id`; a group message names its sender.
    let inbound = component(doc, "ReceiveInboundMessage");
    for field in ["contact_id", "group_id"] {
        assert_eq!(
            inbound["properties"][field]["oneOf"][0]["$ref"],
            schema("Id")["$ref"],
            "ReceiveInboundMessage.{field} changed"
        );
    }
    assert_eq!(
        inbound["properties"]["sender"]["type"],
        json!(["string", "null"]),
        "ReceiveInboundMessage.sender changed"
    );
    whole_alternatives(
        inbound,
        "oneOf",
        json!([
            {"title": "a direct message", "required": ["contact_id"],
             "properties": {"contact_id": schema("Id"), "group_id": {"type": "null"}}},
            {"title": "a group message", "required": ["group_id", "sender"],
             "properties": {"group_id": schema("Id"), "contact_id": {"type": "null"}, "sender": schema("NotBlank")}},
        ]),
    );

    // `ChangeStatus` in the domain: `snoozed` with `snoozed_until`, the others without.
    let others = enum_values(doc, "ConversationStatus", &["snoozed"]);
    let change = component(doc, "ChangeStatus");
    assert_eq!(change["properties"]["status"], schema("ConversationStatus"), "ChangeStatus.status changed");
    assert_eq!(change["properties"]["snoozed_until"]["format"], "date-time", "ChangeStatus.snoozed_until changed");
    whole_alternatives(
        change,
        "oneOf",
        json!([
            {"title": "snoozed", "required": ["snoozed_until"],
             "properties": {"status": {"type": "string", "const": "snoozed"},
                            "snoozed_until": {"type": "string", "format": "date-time"}}},
            {"title": "not snoozed",
             "properties": {"status": {"type": "string", "enum": others}, "snoozed_until": {"type": "null"}}},
        ]),
    );

    // `RecordDeliveryStatus` in the domain: `accepted` is the engine's; `failed` carries a failure,
    // the others none.
    let others = enum_values(doc, "DeliveryStatus", &["accepted", "failed"]);
    let record = component(doc, "RecordDeliveryStatus");
    assert_eq!(record["properties"]["status"], schema("DeliveryStatus"), "RecordDeliveryStatus.status changed");
    assert_eq!(
        record["properties"]["failure"]["oneOf"][0],
        schema("DeliveryFailure"),
        "RecordDeliveryStatus.failure changed"
    );
    whole_alternatives(
        record,
        "oneOf",
        json!([
            {"title": "failed", "required": ["failure"],
             "properties": {"status": {"type": "string", "const": "failed"}, "failure": schema("DeliveryFailure")}},
            {"title": "sent, delivered or read",
             "properties": {"status": {"type": "string", "enum": others}, "failure": {"type": "null"}}},
        ]),
    );

    // `MessageContent::validate`: an interactive message has buttons or a list.
    let content = component(doc, "MessageContent");
    let interactive = content["oneOf"]
        .as_array_mut()
        .and_then(|variants| variants.iter_mut().find(|v| v["properties"]["type"]["enum"][0] == "interactive"))
        .and_then(Value::as_object_mut)
        .expect("MessageContent has an interactive variant");
    let options = json!({"type": "array", "items": schema("InteractiveOption")});
    for field in ["buttons", "list"] {
        assert_eq!(interactive["properties"][field], options, "MessageContent's interactive {field} changed");
    }
    let some = json!({"type": "array", "items": schema("InteractiveOption"), "minItems": 1});
    whole_alternatives(
        interactive,
        "anyOf",
        json!([
            {"required": ["buttons"], "properties": {"buttons": some}},
            {"required": ["list"], "properties": {"list": some}},
        ]),
    );

    // `UpdateMember` in the domain: a role, a name or both.
    let update = component(doc, "UpdateMember");
    assert_eq!(update["properties"]["role"]["oneOf"][0], schema("GroupRole"), "UpdateMember.role changed");
    assert_eq!(update["properties"]["display_name"]["oneOf"][0], schema("Id"), "UpdateMember.display_name changed");
    whole_alternatives(
        update,
        "anyOf",
        json!([
            {"title": "a role", "required": ["role"], "properties": {"role": schema("GroupRole")}},
            {"title": "a name", "required": ["display_name"], "properties": {"display_name": schema("Id")}},
        ]),
    );

    // `EditMessage` in the domain: only text replaces a message's content, so its content is
    // `MessageContent`'s text variant.
    let mut text = component(doc, "MessageContent")["oneOf"]
        .as_array()
        .and_then(|variants| variants.iter().find(|v| v["properties"]["type"]["enum"][0] == "text"))
        .cloned()
        .expect("MessageContent has a text variant");
    text["description"] = json!("The new content: text only.");
    let edit = component(doc, "EditMessage");
    edit["properties"]["content"] = text;

    // `SendMessage` in the domain: only an agent or a bot sends.
    let send = component(doc, "SendMessage");
    send["properties"]["actor"] = json!({
        "description": "Who sends it: an agent or a bot (its window applies).",
        "allOf": [schema("Actor"), {"properties": {"kind": {"enum": ["agent", "bot"]}}}],
    });
}

/// Says a rule between the fields of the object schema `schema` as its `keyword` (`oneOf` or
/// `anyOf`) of whole objects, one per alternative: each is the object with the alternative's
/// properties in place of its own (with their descriptions, but for those that must be `null`),
/// its `required` and the alternative's, and its `additionalProperties`; the object keeps only
/// its other keywords (`description`, …). The same set of bodies as the object beside partial
/// alternatives, said so that generated clients read it: beside `properties`,
/// openapi-python-client takes the alternatives alone, and so loses the object's other fields.
///
/// # Panics
/// When an alternative names a property the object does not have.
fn whole_alternatives(schema: &mut serde_json::Map<String, Value>, keyword: &str, alternatives: Value) {
    let properties = schema.remove("properties").and_then(|p| p.as_object().cloned()).unwrap_or_default();
    let required = schema.remove("required").and_then(|r| r.as_array().cloned()).unwrap_or_default();
    let additional = schema.remove("additionalProperties");
    schema.remove("type");
    let Value::Array(alternatives) = alternatives else { panic!("the alternatives are an array") };
    let whole: Vec<Value> = alternatives
        .into_iter()
        .map(|alternative| {
            let mut object = serde_json::Map::new();
            if let Some(title) = alternative.get("title") {
                object.insert("title".into(), title.clone());
            }
            object.insert("type".into(), json!("object"));
            let mut all = properties.clone();
            for (name, mut property) in alternative["properties"].as_object().cloned().unwrap_or_default() {
                let base = all.get(&name).unwrap_or_else(|| panic!("no property {name} to say an alternative of"));
                let description = base
                    .get("description")
                    .or_else(|| base["oneOf"].as_array()?.iter().find_map(|s| s.get("description")))
                    .cloned();
                let described = property.get("description").is_some() || property["type"] == "null";
                if let (Some(description), false) = (description, described) {
                    property["description"] = description;
                }
                all.insert(name, property);
            }
            object.insert("properties".into(), Value::Object(all));
            let all = required_too(&required, &alternative["required"]);
            if !all.is_empty() {
                object.insert("required".into(), Value::Array(all));
            }
            if let Some(additional) = &additional {
                object.insert("additionalProperties".into(), additional.clone());
            }
            Value::Object(object)
        })
        .collect();
    schema.insert(keyword.into(), Value::Array(whole));
}

/// Each aggregate's events as a `oneOf` of whole objects, one per event type: the envelope's
/// fields beside the variant's. Derive writes the envelope with its `#[serde(flatten)]`ed
/// change as `allOf: [{$ref: <Change>}, {<envelope>}]`, the `allOf` of a `oneOf`, which
/// generated clients cannot take (openapi-python-client drops it). The `<Change>` components,
/// then referenced by nothing, go.
fn events_as_variants(doc: &mut Value) {
    for (_, name) in files::AGGREGATES {
        let event = Value::Object(component(doc, name).clone());
        let parts = event.get("allOf").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let change = parts.iter().find_map(|p| p["$ref"].as_str()?.strip_prefix(files::COMPONENTS));
        let envelope = parts.iter().find(|p| p.get("properties").is_some());
        let (Some(change), Some(envelope)) = (change, envelope) else {
            panic!("{name} is not an envelope with a flattened change: {event}");
        };
        let variants = component(doc, change)["oneOf"].as_array().cloned().unwrap_or_default();
        assert!(!variants.is_empty(), "{change} is not a oneOf of its variants");
        let envelope_properties = envelope["properties"].as_object().cloned().unwrap_or_default();
        let envelope_required = envelope["required"].as_array().cloned().unwrap_or_default();
        let variants: Vec<Value> = variants
            .into_iter()
            .map(|mut variant| {
                let mut properties = envelope_properties.clone();
                properties.extend(variant["properties"].as_object().cloned().unwrap_or_default());
                variant["required"] = Value::Array(required_too(&envelope_required, &variant["required"]));
                variant["properties"] = Value::Object(properties);
                variant
            })
            .collect();
        let mut whole = serde_json::Map::new();
        if let Some(description) = event.get("description") {
            whole.insert("description".into(), description.clone());
        }
        whole.insert("oneOf".into(), Value::Array(variants));
        let change = change.to_owned();
        *component(doc, name) = whole;
        let reference = json!(format!("{}{change}", files::COMPONENTS));
        if !refers_to(doc, &reference)
            && let Some(schemas) = doc["components"]["schemas"].as_object_mut()
        {
            schemas.remove(&change);
        }
    }
}

/// `required`, then the names of `more` (a `required` array) it lacks, in order.
fn required_too(required: &[Value], more: &Value) -> Vec<Value> {
    let mut all = required.to_vec();
    for name in more.as_array().into_iter().flatten() {
        if !all.contains(name) {
            all.push(name.clone());
        }
    }
    all
}

/// Whether `value` holds a `$ref` to `reference`, at any depth.
fn refers_to(value: &Value, reference: &Value) -> bool {
    match value {
        Value::Object(map) => map.get("$ref") == Some(reference) || map.values().any(|v| refers_to(v, reference)),
        Value::Array(items) => items.iter().any(|v| refers_to(v, reference)),
        _ => false,
    }
}

/// Fields whose derived schema says other than what the engine takes, found by schemathesis
/// once its requests reached real resources (deploy/schemathesis.sh): said here as the engine
/// reads them, so that what the document takes is what the gateway takes.
fn as_the_engine_reads_them(doc: &mut Value) {
    let id = json!({"$ref": "#/components/schemas/Id"});

    // `RecordActivity::messages` is a `u32`: derive says `int32`, whose largest is 2^31 - 1.
    let activity = component(doc, "RecordActivity");
    activity["properties"]["messages"] = json!({
        "description": "How many messages (default 1).",
        "type": ["integer", "null"], "format": "int64", "minimum": 1, "maximum": u32::MAX,
    });

    // A join request's name is the one the channel showed, recorded as reported (a member added
    // with a name, or renamed, must have a not-blank one).
    let join = component(doc, "RequestToJoin");
    assert_eq!(join["properties"]["display_name"]["oneOf"][0], id, "RequestToJoin.display_name changed");
    join["properties"]["display_name"] = json!({
        "description": "The name the channel showed, as reported.",
        "type": ["string", "null"],
    });

    // A webhook's event types are the catalogue's, by name: derive only knows strings.
    let types: Vec<Value> = files::event_types().map(Value::from).collect();
    let webhook = component(doc, "CreateWebhook");
    assert_eq!(webhook["properties"]["event_types"]["items"]["type"], "string", "CreateWebhook.event_types changed");
    webhook["properties"]["event_types"]["items"] = json!({"type": "string", "enum": types});
    let change = component(doc, "ChangeWebhook");
    change["properties"]["event_types"]["items"] = json!({"type": "string", "enum": types});

    // Members' invite code is only read when they joined through the link.
    let add = component(doc, "AddMembers");
    assert_eq!(add["properties"]["invite_code"]["oneOf"][0]["$ref"], id["$ref"], "AddMembers.invite_code changed");
    add["properties"]["invite_code"] = json!({
        "description": "With `invite_link`: the code they used; an old one (or any other) is \
                        `inviteLinkRevoked`. Not read when they were `added`.",
        "type": ["string", "null"],
    });
}

/// `GET /openapi.json` (the document exactly as committed in `schemas/openapi.json`) and
/// `GET /docs` (a browsable reference, Scalar, loaded by the browser from its CDN). Public:
/// mount them outside authentication.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let spec = files::openapi_json();
    let ui = Scalar::with_url("/docs", openapi()).to_html();
    Router::new()
        .route("/openapi.json", get(move || async move { ([(header::CONTENT_TYPE, "application/json")], spec) }))
        .route("/docs", get(move || async move { axum::response::Html(ui) }))
}

/// One problem an operation may answer: its code, and what it means there (`None`: what the
/// code means in the `Code` table).
pub(crate) type Problem = (Code, Option<&'static str>);

/// Declares sets of problems, each a type whose responses (`IntoResponses`) a handler's
/// `#[utoipa::path]` lists beside its answer: the problems that operation may answer beyond
/// those every operation of its kind may ([`Conventions`]). Each is a `Code`, optionally with
/// what it means there: `NotFound => "no such inbox in this workspace"`. Statuses come from the
/// codes, so none is written here.
macro_rules! problems {
    ($($(#[$attr:meta])* $name:ident = [$($code:ident $(=> $detail:literal)?),+ $(,)?];)+) => {$(
        $(#[$attr])*
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                $crate::openapi::problem_responses(&[$(($crate::Code::$code, None$(.or(Some($detail)))?)),+])
            }
        }
    )+};
}
pub(crate) use problems;

/// The responses of `problems`: one per status, naming each code answered with it.
pub(crate) fn problem_responses(problems: &[Problem]) -> BTreeMap<String, RefOr<Response>> {
    let mut responses = BTreeMap::new();
    add_problems(&mut responses, problems);
    responses
}

/// Adds `problems` to `responses`: each to the problem response of its code's status, created
/// when there is none, so that one response names every code answered with its status (and
/// says `Retry-After` when one of them does).
fn add_problems(responses: &mut BTreeMap<String, RefOr<Response>>, problems: &[Problem]) {
    for &(code, detail) in problems {
        let response = responses.entry(code.status().as_u16().to_string()).or_insert_with(|| {
            let mut response = Response::new("");
            response
                .content
                .insert(PROBLEM_JSON.to_owned(), Content::new(Some(Ref::from_schema_name("Problem"))).into());
            response.into()
        });
        let RefOr::T(response) = response else { continue };
        let meaning = detail.map_or_else(|| as_a_clause(code.meaning()), str::to_owned);
        if !response.description.is_empty() {
            response.description.push_str("; ");
        }
        response.description.push_str(&format!("`{}`: {meaning}", code.name()));
        if code.retries() {
            response.headers.entry("Retry-After".to_owned()).or_insert_with(|| {
                let mut retry = Header::new(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)));
                retry.description = Some("Seconds to wait before retrying".to_owned());
                retry.into()
            });
        }
    }
}

/// A code's meaning (a sentence) as a clause of a description: `The body is not JSON.` becomes
/// `the body is not JSON`.
fn as_a_clause(sentence: &str) -> String {
    let sentence = sentence.trim_end_matches('.');
    let mut chars = sentence.chars();
    chars.next().map(|first| first.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

/// What every operation of `/v1` may answer.
const EVERY_OPERATION: &[Problem] = &[
    (Code::Unauthorized, Some("no API key, or an unknown or revoked one")),
    (Code::Forbidden, Some("the key lacks the scope this operation needs")),
    (Code::Validation, Some("a path or query parameter is invalid (`field` names it)")),
    (Code::RateLimited, Some("the key is over its rate limit; retry after `Retry-After`")),
    (Code::Internal, Some("an unexpected error; it is logged, never described")),
];

/// What every command may answer.
const EVERY_COMMAND: &[Problem] = &[
    (Code::ActorNotAllowed, Some("the key may not act as the `actor` the command names")),
    (Code::IdempotencyKeyReused, Some("this `Idempotency-Key` was used with another request")),
    (Code::Conflict, Some("the conversation changed concurrently too often, retry")),
    (Code::IdempotencyKeyInFlight, Some("a request with this `Idempotency-Key` is still running")),
    (Code::Unavailable, Some("the event store is unreachable")),
    (
        Code::Timeout,
        Some(
            "the request took too long (it either committed or wrote nothing: retry with the same \
             `Idempotency-Key` to know)",
        ),
    ),
];

/// What a command with a body may answer.
const A_BODY: &[Problem] = &[
    (Code::MalformedRequest, Some("the body is not JSON")),
    (Code::Validation, Some("a field of the body is invalid (`errors` points at it)")),
    (Code::PayloadTooLarge, Some("the body is larger than the gateway's limit")),
];

/// What a command whose body is required may answer.
const A_REQUIRED_BODY: &[Problem] = &[(Code::UnsupportedMediaType, Some("the body is not `application/json`"))];

/// What a query with a consistency token may answer, beyond any query.
const A_CONSISTENCY_TOKEN: &[Problem] = &[
    (Code::Validation, Some("`min_position` is beyond the log's head: no command answered it")),
    (
        Code::NotYetConsistent,
        Some("a read model has not reached `min_position` within the wait, retry after `Retry-After`"),
    ),
    (Code::ReadModelStopped, Some("a read model stopped on an event (see /readyz)")),
];

/// What every query may answer.
const EVERY_QUERY: &[Problem] =
    &[(Code::Unavailable, Some("the store is unreachable")), (Code::Timeout, Some("the request took too long"))];

/// What every operation shares, added in one place rather than on each handler: the security
/// scheme, the `Idempotency-Key` header, a list's `Link` header, and the problems any request of
/// its kind can meet (authentication, rate limit, malformed body, contention, store outage).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SECURITY_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <key>`. A key belongs to one workspace, which scopes every \
                         command and query, and carries scopes: `read` (queries), `write` (commands as an \
                         agent, a bot or the API; includes read), `connector` (channel-side facts: inbound \
                         messages, delivery reports, group activity and join requests, and what a contact did \
                         in a group or to a message; includes read), `admin` (key and webhook management; \
                         includes all). A command acts as its `actor` if the key may claim it (a `contact` \
                         needs `connector`, any other kind `write`: else 403 `actorNotAllowed`), by default as \
                         the key's: `system`/`api` for a write key, `system`/`channel` for a connector key.",
                    ))
                    .build(),
            ),
        );
        // The table of error codes, from the one `Code` table.
        if let Some(RefOr::T(utoipa::openapi::schema::Schema::Object(code))) = components.schemas.get_mut("Code") {
            let rows: String = Code::ALL
                .iter()
                .map(|c| format!("\n| `{}` | {} | {} |", c.name(), c.status().as_u16(), c.meaning()))
                .collect();
            code.description = Some(format!(
                "The stable, machine-readable error code of a problem; `type` is \
                 `https://convo.dev/problems/<code>`.\n\n| code | status | meaning |\n| --- | ---: | --- |{rows}"
            ));
        }
        // The probes and metrics are open, outside `/v1`: none of the API's conventions.
        for item in openapi.paths.paths.iter_mut().filter(|(path, _)| path.starts_with("/v1")).map(|(_, item)| item) {
            for (read, op) in operations(item) {
                add_problems(&mut op.responses.responses, EVERY_OPERATION);
                if read {
                    conventions_of_a_query(op);
                } else {
                    conventions_of_a_command(op);
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (bool, &mut Operation)> {
    [(true, &mut item.get), (false, &mut item.post), (false, &mut item.put), (false, &mut item.patch)]
        .into_iter()
        .chain([(false, &mut item.delete)])
        .filter_map(|(read, op)| op.as_mut().map(|op| (read, op)))
}

fn conventions_of_a_command(op: &mut Operation) {
    // 1 to 255 of `u8::is_ascii_graphic`, as `idempotency::idempotent` checks.
    let key = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"));
    let key = ParameterBuilder::new()
        .name(crate::IDEMPOTENCY_KEY_HEADER)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the command safe to retry (1 to 255 visible ASCII characters, per workspace, kept 24 \
             hours): the same key with the same request answers the first response again, marked \
             `Idempotent-Replayed`, without writing; with another request it is 422 \
             `idempotencyKeyReused`; while the first runs, 409 `idempotencyKeyInFlight`.",
        ))
        .schema(Some(key))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(key.into());
    if let Some(body) = op.request_body.as_ref() {
        let required = matches!(body, RefOr::T(b) if b.required == Some(Required::True));
        add_problems(&mut op.responses.responses, A_BODY);
        if required {
            add_problems(&mut op.responses.responses, A_REQUIRED_BODY);
        }
    }
    add_problems(&mut op.responses.responses, EVERY_COMMAND);
}

fn conventions_of_a_query(op: &mut Operation) {
    let takes = |name: &str| op.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.name == name));
    let (pages, token) = (takes("cursor"), takes(crate::consistency::MIN_POSITION_HEADER));
    if let (true, Some(RefOr::T(ok))) = (pages, op.responses.responses.get_mut("200")) {
        let mut link = Header::new(ObjectBuilder::new().schema_type(Type::String));
        link.description = Some(
            "`<…>; rel=\"next\"` (RFC 8288) when another page follows: this request with `cursor` set to \
             `next_cursor`, as a URL relative to it."
                .to_owned(),
        );
        ok.headers.insert("Link".to_owned(), link.into());
    }
    if token {
        add_problems(&mut op.responses.responses, A_CONSISTENCY_TOKEN);
    }
    add_problems(&mut op.responses.responses, EVERY_QUERY);
}
