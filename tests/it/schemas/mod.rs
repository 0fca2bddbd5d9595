//! The committed contract (`schemas/openapi.json`, `schemas/events/`, `schemas/commands/`,
//! `docs/EVENTS.md`) against the code: byte for byte what the code generates, and honest: every
//! event the domain writes validates against its event schema, and every answer the gateway
//! gives against the OpenAPI document. `CONVO_WRITE_SCHEMAS=1` rewrites the files instead.
//! By topic: the schema files (`files`) and the OpenAPI document (`openapi`); the samples and
//! helpers are shared.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Duration, Utc};
use convo_domain::contact::{
    ContactChange, ContactConversation, ContactEvent, ContactIdentityChange, ContactIdentityEvent,
};
use convo_domain::conversation::{
    Assignee, ConversationChange, ConversationKind, ConversationStatus, DeliveryFailure, GroupRole, GroupSettings,
    InitialMember, JoinRequestOutcome, JoinedVia, LeftReason, MemberAddMode,
};
use convo_domain::directory::{AgentChange, AgentEvent, AgentRole, Availability, TeamChange, TeamEvent};
use convo_domain::inbox::InboxChange;
use convo_domain::message::InteractiveOption;
use convo_domain::webhook::{DisabledReason, WebhookEndpointChange, WebhookEndpointEvent};
use convo_domain::{Actor, ChannelType, ConversationEvent, DeliveryStatus, InboxEvent, MessageContent, WindowActor};
use convo_domain::{Identity, IdentityKind};
use convo_gateway::openapi::{EVENTS_CATALOGUE, event_schemas, schema_files};
use cqrs_es::DomainEvent;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::{TestSqlite, app, call, engine, raw};

mod files;
mod openapi;

/// Folders whose every file is generated: a file there that the code does not generate is stale,
/// but for the schemas of the older event versions the domain still reads, frozen as published.
const GENERATED_DIRS: [&str; 2] = ["schemas/events", "schemas/commands"];

/// A payload of each older event version the domain reads, as an old build stored it.
fn older_versions() -> Vec<(&'static str, &'static str, Value)> {
    let envelope = json!({"occurred_at": at(2), "actor": {"kind": "agent", "id": "lead"}});
    let with = |fields: Value| {
        let mut payload = envelope.clone();
        payload.as_object_mut().expect("an object").extend(fields.as_object().cloned().unwrap_or_default());
        payload
    };
    vec![
        ("AgentAssigned", "1.0.0", with(json!({"type": "AgentAssigned", "agent_id": "ada", "previous": "bob"}))),
        ("AgentAssigned", "1.0.0", with(json!({"type": "AgentAssigned", "agent_id": "ada"}))),
    ]
}

/// The committed schema files of the older event versions the domain reads.
fn frozen_schemas() -> BTreeSet<PathBuf> {
    event_schemas()
        .iter()
        .flat_map(|e| {
            convo_domain::versions::older_versions(&e.event_type)
                .map(|v| PathBuf::from(format!("schemas/events/{}.{v}.json", e.event_type)))
        })
        .collect()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn validator(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|e| panic!("a valid JSON Schema: {e}\n{schema}"))
}

fn errors(validator: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    validator.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

fn at(hour: i64) -> DateTime<Utc> {
    crate::support::t0() + Duration::hours(hour)
}

/// One event of every type the domain writes, most with every optional field set, and the
/// message content in each of its shapes.
fn sample_events() -> Vec<Value> {
    let (id, m) = (Uuid::from_u128(1), Uuid::from_u128(2));
    let team = Uuid::from_u128(7);
    let text = MessageContent::Text { body: "hi".into() };
    let option = |id: &str| InteractiveOption { id: id.into(), title: id.to_uppercase() };
    use ConversationChange as C;
    let changes = [
        C::Started {
            contact_id: None,
            conversation_id: id,
            workspace_id: Uuid::nil(),
            inbox_id: Uuid::from_u128(3),
            channel: ChannelType::Whatsapp,
            kind: ConversationKind::Group,
            thread_key: "group-1".into(),
            display_name: Some("Team".into()),
        },
        C::Started {
            contact_id: None,
            conversation_id: id,
            workspace_id: Uuid::nil(),
            inbox_id: Uuid::from_u128(3),
            channel: ChannelType::Sms,
            kind: ConversationKind::Direct,
            thread_key: "+4915100100".into(),
            display_name: None,
        },
        C::InboundMessageReceived {
            mentions: vec![],
            message_id: m,
            seq: 1,
            inbound_count: 1,
            channel_message_id: Some("wamid.1".into()),
            sent_at: at(0),
            content: MessageContent::Media {
                url: "https://example.com/a.jpg".into(),
                mime_type: "image/jpeg".into(),
                caption: Some("a".into()),
            },
            sender: Some("+4915100101".into()),
            sender_contact_id: Some(Uuid::from_u128(5)),
        },
        C::InboundMessageReceived {
            mentions: vec![],
            message_id: m,
            seq: 1,
            inbound_count: 1,
            channel_message_id: None,
            sent_at: at(0),
            content: text.clone(),
            sender: None,
            sender_contact_id: None,
        },
        C::MessageSent {
            mentions: vec![],
            message_id: m,
            seq: 2,
            inbound_count: 1,
            content: MessageContent::Template {
                name: "hello".into(),
                language: "en".into(),
                parameters: vec!["x".into()],
            },
        },
        C::MessageSent {
            mentions: vec![],
            message_id: m,
            seq: 3,
            inbound_count: 1,
            content: MessageContent::Interactive {
                body: "pick".into(),
                buttons: vec![option("yes"), option("no")],
                list: vec![option("later")],
            },
        },
        C::DeliveryStatusRecorded {
            message_id: m,
            status: DeliveryStatus::Failed,
            failure: Some(DeliveryFailure { code: "131047".into(), reason: Some("re-engagement".into()) }),
            reported_at: at(1),
        },
        C::DeliveryStatusRecorded { message_id: m, status: DeliveryStatus::Read, failure: None, reported_at: at(1) },
        C::ReactionSet { message_id: m, emoji: "👍".into() },
        C::ReactionRemoved { message_id: m },
        C::MessageEdited { message_id: m, content: text.clone() },
        C::MessageDeleted { message_id: m },
        C::AgentAssigned { assignee: Assignee::agent("ada"), previous: Some(Assignee::agent("bob")) },
        C::AgentAssigned { assignee: Assignee::agent("ada"), previous: None },
        C::AgentUnassigned { agent_id: "ada".into() },
        C::TeamAssigned { team_id: team.to_string(), previous: Some(Uuid::from_u128(8).to_string()) },
        C::TeamAssigned { team_id: team.to_string(), previous: None },
        C::TeamUnassigned { team_id: team.to_string() },
        C::NoteAdded {
            message_id: Uuid::from_u128(0xe001),
            seq: 3,
            inbound_count: 1,
            body: "refund approved, @ada please confirm".into(),
            mentions: vec!["agent-ada".into()],
        },
        C::AttributeSet { key: "plan".into(), value: json!("gold") },
        C::AttributeSet { key: "seats".into(), value: json!(12) },
        C::AttributeRemoved { key: "plan".into() },
        C::LabelAdded { label: "billing".into() },
        C::LabelRemoved { label: "billing".into() },
        C::Archived {},
        C::Unarchived {},
        C::ReadMarkerMoved { user_id: "ada".into(), message_id: m, seq: 1, inbound_read: 1 },
        C::StatusChanged {
            from: ConversationStatus::Open,
            to: ConversationStatus::Snoozed,
            snoozed_until: Some(at(5)),
        },
        C::StatusChanged { from: ConversationStatus::Snoozed, to: ConversationStatus::Closed, snoozed_until: None },
        C::GroupCreated {
            group_id: "120363@g.us".into(),
            subject: "Launch crew".into(),
            description: Some("Everything launch".into()),
            picture_url: Some("https://example.com/g.jpg".into()),
            creator: "+1555".into(),
            self_member: "+1556".into(),
            members: vec![
                InitialMember {
                    member_id: "+1555".into(),
                    role: GroupRole::Admin,
                    display_name: None,
                    via: JoinedVia::Created,
                },
                InitialMember {
                    member_id: "+1556".into(),
                    role: GroupRole::Member,
                    display_name: Some("Support".into()),
                    via: JoinedVia::Added,
                },
            ],
            settings: GroupSettings {
                announce: true,
                join_approval: true,
                member_add_mode: MemberAddMode::Everyone,
                activity_only: false,
            },
            invite_code: Some("abc".into()),
        },
        C::GroupMemberAdded {
            member_id: "+1557".into(),
            role: GroupRole::Member,
            display_name: Some("Bob".into()),
            via: JoinedVia::InviteLink,
        },
        C::GroupMemberRemoved { member_id: "+1557".into(), reason: LeftReason::Left },
        C::GroupMemberRoleChanged { member_id: "+1556".into(), from: GroupRole::Member, to: GroupRole::Admin },
        C::GroupMemberRenamed { member_id: "+1556".into(), display_name: "Help desk".into() },
        C::GroupInfoUpdated { subject: Some("Crew".into()), description: Some(String::new()), picture_url: None },
        C::GroupSettingsChanged { settings: GroupSettings::default() },
        C::GroupJoinRequested { request_id: id, member_id: "+1558".into(), display_name: Some("Cy".into()) },
        C::GroupJoinRequestResolved {
            request_id: id,
            member_id: "+1558".into(),
            outcome: JoinRequestOutcome::Rejected,
        },
        C::GroupInviteLinkRotated { invite_code: "def".into() },
        C::GroupLeft { member_id: Some("+1556".into()), reason: LeftReason::Removed },
        C::GroupLeft { member_id: None, reason: LeftReason::Left },
        C::GroupActivityRecorded { at: at(1), messages: 3 },
        C::ActivitySeen { user_id: "ada".into(), at: at(1) },
        C::MessageSent {
            mentions: vec!["+1555".into()],
            message_id: m,
            seq: 4,
            inbound_count: 1,
            content: text.clone(),
        },
    ];
    let mut events: Vec<(String, String, Value)> = changes
        .into_iter()
        .map(|change| {
            let e = ConversationEvent { occurred_at: at(2), actor: Actor::agent("ada"), change };
            (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
        })
        .collect();
    let inbox_changes = [
        InboxChange::Created {
            inbox_id: Uuid::from_u128(3),
            workspace_id: Uuid::nil(),
            name: "Support".into(),
            channel: ChannelType::Messenger,
            policy: Some(ChannelType::Messenger.default_policy()),
        },
        InboxChange::Created {
            inbox_id: Uuid::from_u128(3),
            workspace_id: Uuid::nil(),
            name: "SMS".into(),
            channel: ChannelType::Sms,
            policy: None,
        },
        InboxChange::TeamSet { team_id: team },
        InboxChange::TeamCleared { team_id: team },
        InboxChange::Deleted {},
    ];
    events.extend(inbox_changes.into_iter().map(|change| {
        let e = InboxEvent { occurred_at: at(2), actor: Actor::system("api"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    let webhook_changes = [
        WebhookEndpointChange::Disabled {
            webhook_id: Uuid::from_u128(4),
            reason: DisabledReason::Gone,
            detail: "the receiver answered 410 Gone".into(),
        },
        WebhookEndpointChange::Disabled {
            webhook_id: Uuid::from_u128(4),
            reason: DisabledReason::Failing,
            detail: "no delivery succeeded since 2026-01-01T00:00:00Z (for longer than 5 days)".into(),
        },
        WebhookEndpointChange::Enabled { webhook_id: Uuid::from_u128(4) },
    ];
    events.extend(webhook_changes.into_iter().map(|change| {
        let e = WebhookEndpointEvent { occurred_at: at(2), actor: Actor::system("webhooks"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    let agent_changes = [
        AgentChange::Created {
            agent_id: "ada".into(),
            workspace_id: Uuid::nil(),
            name: "Ada Lovelace".into(),
            email: Some("ada@example.com".into()),
            role: AgentRole::Administrator,
        },
        AgentChange::Created {
            agent_id: "bob".into(),
            workspace_id: Uuid::nil(),
            name: "Bob".into(),
            email: None,
            role: AgentRole::Agent,
        },
        AgentChange::Updated {
            agent_id: "ada".into(),
            name: "Ada King".into(),
            email: Some("ada@example.org".into()),
            role: AgentRole::Agent,
        },
        AgentChange::Updated {
            agent_id: "ada".into(),
            name: "Ada".into(),
            email: None,
            role: AgentRole::Administrator,
        },
        AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability: Availability::Online },
        AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability: Availability::Busy },
        AgentChange::AvailabilityChanged { agent_id: "ada".into(), availability: Availability::Offline },
        AgentChange::Deactivated { agent_id: "ada".into() },
        AgentChange::Reactivated { agent_id: "ada".into() },
    ];
    events.extend(agent_changes.into_iter().map(|change| {
        let e = AgentEvent { occurred_at: at(2), actor: Actor::agent("lead"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    let team_changes = [
        TeamChange::Created { team_id: team, workspace_id: Uuid::nil(), name: "Billing".into() },
        TeamChange::Renamed { team_id: team, name: "Billing EMEA".into() },
        TeamChange::AgentAdded { team_id: team, agent_id: "ada".into() },
        TeamChange::AgentRemoved { team_id: team, agent_id: "ada".into() },
    ];
    events.extend(team_changes.into_iter().map(|change| {
        let e = TeamEvent { occurred_at: at(2), actor: Actor::agent("lead"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    use convo_domain::attribute::{AttributeChange, AttributeEvent, AttributeModel, AttributeType};
    let attribute_changes = [
        AttributeChange::Defined {
            workspace_id: Uuid::nil(),
            model: AttributeModel::Conversation,
            key: "plan".into(),
            name: "Plan".into(),
            attribute_type: AttributeType::List,
            options: vec!["free".into(), "gold".into()],
        },
        AttributeChange::Defined {
            workspace_id: Uuid::nil(),
            model: AttributeModel::Contact,
            key: "seats".into(),
            name: "Seats".into(),
            attribute_type: AttributeType::Number,
            options: vec![],
        },
        AttributeChange::Changed { name: Some("Plan 2026".into()), options: Some(vec!["free".into(), "gold".into()]) },
        AttributeChange::Changed { name: None, options: None },
        AttributeChange::Deleted {},
    ];
    events.extend(attribute_changes.into_iter().map(|change| {
        let e = AttributeEvent { occurred_at: at(2), actor: Actor::agent("lead"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    let phone = Identity::new(IdentityKind::Phone, "+4917300001").expect("a phone");
    let bsuid = Identity::new(IdentityKind::WhatsappBsuid, "US.13491208655302741918").expect("a bsuid");
    let (contact, other, inbox, conversation) =
        (Uuid::from_u128(5), Uuid::from_u128(6), Uuid::from_u128(3), Uuid::from_u128(1));
    let here = vec![ContactConversation { inbox_id: inbox, conversation_id: conversation }];
    let contact_changes = [
        ContactChange::Created {
            contact_id: contact,
            workspace_id: Uuid::nil(),
            name: Some("Ada".into()),
            avatar_url: Some("https://example.com/ada.png".into()),
            identities: vec![phone.clone()],
            tags: vec!["vip".into()],
            attributes: [("plan".to_owned(), json!("gold"))].into(),
            conversations: here.clone(),
        },
        ContactChange::Created {
            contact_id: contact,
            workspace_id: Uuid::nil(),
            name: None,
            avatar_url: None,
            identities: vec![phone.clone()],
            tags: vec![],
            attributes: Default::default(),
            conversations: vec![],
        },
        ContactChange::Updated { name: Some(Some("Ada L.".into())), avatar_url: Some(None) },
        ContactChange::IdentityAdded { identity: bsuid.clone() },
        ContactChange::IdentityRemoved { identity: phone.clone() },
        ContactChange::Tagged { tag: "vip".into() },
        ContactChange::Untagged { tag: "vip".into() },
        ContactChange::AttributeSet { key: "plan".into(), value: json!(3) },
        ContactChange::AttributeRemoved { key: "plan".into() },
        ContactChange::ConversationRecorded { inbox_id: inbox, conversation_id: conversation },
        ContactChange::Merged { into: other },
        ContactChange::Absorbed {
            merged_id: other,
            identities: vec![bsuid.clone()],
            tags: vec!["lead".into()],
            attributes: [("since".to_owned(), json!("2026-01-01"))].into(),
            conversations: here,
        },
        ContactChange::Deleted {},
    ];
    events.extend(contact_changes.into_iter().map(|change| {
        let e = ContactEvent { occurred_at: at(2), actor: Actor::contact("+4917300001"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    let identity_changes = [
        ContactIdentityChange::Claimed {
            workspace_id: Uuid::nil(),
            identity: phone.clone(),
            contact_id: contact,
            previous: None,
        },
        ContactIdentityChange::Claimed {
            workspace_id: Uuid::nil(),
            identity: bsuid,
            contact_id: contact,
            previous: Some(other),
        },
        ContactIdentityChange::Released { identity: phone, contact_id: contact },
    ];
    events.extend(identity_changes.into_iter().map(|change| {
        let e = ContactIdentityEvent { occurred_at: at(2), actor: Actor::contact("+4917300001"), change };
        (e.event_type(), e.event_version(), serde_json::to_value(&e).expect("an event serializes"))
    }));
    // The file name comes from the event's own type and version, as the log stores them.
    events
        .into_iter()
        .map(|(event_type, version, mut json)| {
            json["__schema"] = json!(format!("schemas/events/{event_type}.{version}.json"));
            json
        })
        .collect()
}

/// The OpenAPI document with its components as `$defs`, so a fragment of it validates alone.
struct Contract {
    doc: Value,
}

impl Contract {
    fn committed() -> Self {
        let text = read(Path::new("schemas/openapi.json")).replace("#/components/schemas/", "#/$defs/");
        Self { doc: serde_json::from_str(&text).expect("openapi.json is JSON") }
    }

    fn standalone(&self, fragment: &Value) -> Value {
        let mut schema = fragment.clone();
        schema["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
        schema["$defs"] = self.doc["components"]["schemas"].clone();
        schema
    }

    fn operation(&self, method: &str, template: &str) -> &Value {
        let op = &self.doc["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        op
    }

    /// The problems of a request's parameters (path, query and headers) for the document, each
    /// value read as its schema's type would be written in a URL.
    fn parameter_errors(&self, method: &str, template: &str, uri: &str, headers: &[(&str, &str)]) -> Vec<String> {
        let op = self.operation(method, template);
        let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
        let mut values: Vec<(String, &str, String)> = Vec::new();
        for (name, segment) in template.split('/').zip(path.split('/')) {
            if let Some(name) = name.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                values.push((name.to_owned(), "path", percent_decode(segment)));
            }
        }
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            values.push((name.to_owned(), "query", percent_decode(&value.replace('+', " "))));
        }
        values.extend(headers.iter().map(|(name, value)| (name.to_lowercase(), "header", (*value).to_owned())));
        let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
        let mut problems = Vec::new();
        for (name, location, value) in values {
            let Some(parameter) = parameters
                .iter()
                .find(|p| p["name"].as_str().map(str::to_lowercase) == Some(name.clone()) && p["in"] == location)
            else {
                problems.push(format!("{location} parameter {name} is not documented"));
                continue;
            };
            let schema = self.standalone(&parameter["schema"]);
            let resolved = match schema["$ref"].as_str().and_then(|r| r.strip_prefix("#/$defs/")) {
                Some(name) => &self.doc["components"]["schemas"][name],
                None => &schema,
            };
            let instance = match resolved["type"].as_str() {
                Some("integer" | "number" | "boolean") => serde_json::from_str(&value).unwrap_or(Value::String(value)),
                _ => Value::String(value),
            };
            problems.extend(errors(&validator(&schema), &instance).into_iter().map(|e| format!("{name}: {e}")));
        }
        problems
    }

    /// Checks a request body and the answer to it against the operation's documentation: the
    /// status must be documented, and the body valid for it. A request the gateway refuses as
    /// `validation` must be one the document refuses too; any other, one it takes.
    fn check(
        &self,
        method: &str,
        template: &str,
        request: Option<&Value>,
        status: StatusCode,
        content_type: &str,
        body: &Value,
    ) {
        let op = self.operation(method, template);
        if let Some(request) = request {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{method} {template} documents no JSON body");
            let errors = errors(&validator(&self.standalone(schema)), request);
            if body["code"] == "validation" {
                assert!(!errors.is_empty(), "{method} {template}: the refused {request} is valid for the document");
            } else {
                assert!(errors.is_empty(), "{method} {template}: the request {request} is not documented: {errors:?}");
            }
        }
        let response = &op["responses"][status.as_str()];
        assert!(response.is_object(), "{method} {template} answered {status}, which it does not document: {body}");
        let schema = &response["content"][content_type]["schema"];
        assert!(schema.is_object(), "{method} {template} {status} does not document {content_type}");
        let errors = errors(&validator(&self.standalone(schema)), body);
        assert!(errors.is_empty(), "{method} {template} {status}: {body}\ndoes not match the document: {errors:?}");
    }
}

/// Calls `uri` (the template with its parameters filled in) and checks the exchange against
/// the committed OpenAPI document; returns the answer's body.
async fn exchange(
    app: &axum::Router,
    contract: &Contract,
    method: &str,
    (template, uri): (&str, String),
    body: Option<Value>,
    expected: StatusCode,
) -> Value {
    let reply = call(app, method, &uri, body.clone()).await;
    assert_eq!(reply.status, expected, "{method} {uri}: {}", reply.body);
    contract.check(method, template, body.as_ref(), reply.status, &reply.content_type, &reply.body);
    if let Some(link) = &reply.link {
        let documented = &contract.operation(method, template)["responses"][reply.status.as_str()]["headers"]["Link"];
        assert!(documented.is_object(), "{method} {template} answers a Link header it does not document: {link}");
    }
    reply.body
}

/// Request headers: names and values.
type Headers<'a> = &'a [(&'a str, &'a str)];

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
