//! Workspaces and API keys over HTTP, on both backends: a key of another workspace gets 404 on
//! every route that names one of our resources (exactly as for an id that exists nowhere) and
//! finds nothing of ours in any list; requests without a valid key are 401; scopes limit what a
//! key may do; a token is shown once and stored only as its SHA-256.
//! By topic: isolation between workspaces, keys and scopes, channel facts; the route table and
//! the helpers are shared.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use convo_gateway::Scope;
use convo_store::{Backend, SqlStore, SqlValue};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use uuid::Uuid;

use crate::support::{
    API_WS, api_key, app, authed, call, engine, on_both_backends, read_models, test_config, whole_log,
};

mod channel_facts;
mod isolation;
mod keys;

/// The other workspace.
const THEIRS: Uuid = Uuid::from_u128(0xb0b);

/// What a route does with the workspace of the key that calls it.
#[derive(Debug, Clone, Copy)]
enum Reach {
    /// Served without a key.
    Open,
    /// Creates something in the caller's workspace.
    Creates,
    /// Lists the caller's workspace; `query` is added to the path.
    Lists { query: &'static str },
    /// The caller's workspace's live stream.
    Streams,
    /// Names a resource by id; `query` and `body` make a well-formed request about [`Ids`].
    ById { query: &'static str, body: fn(&Ids) -> Option<Value> },
}

#[derive(Debug)]
struct Route {
    method: &'static str,
    path: &'static str,
    reach: Reach,
}

const fn route(method: &'static str, path: &'static str, reach: Reach) -> Route {
    Route { method, path, reach }
}

const fn by_id(query: &'static str, body: fn(&Ids) -> Option<Value>) -> Reach {
    Reach::ById { query, body }
}

fn agent() -> Value {
    json!({"kind": "agent", "id": "ada"})
}

/// An identity linked to our contact and unlinked again by the walk.
fn our_identity() -> Value {
    json!({"kind": "email", "value": "our-identity@example.com"})
}

/// Every route of the gateway (`the_tenancy_table_lists_every_route_the_gateway_serves` keeps
/// it complete). The by-id routes are walked in this order: reads first, destructive last.
const ROUTES: &[Route] = &[
    route("GET", "/healthz", Reach::Open),
    route("GET", "/readyz", Reach::Open),
    route("GET", "/metrics", Reach::Open),
    route("POST", "/v1/keys", Reach::Creates),
    route("POST", "/v1/inboxes", Reach::Creates),
    route("POST", "/v1/inbound-messages", Reach::Creates),
    route("POST", "/v1/groups", Reach::Creates),
    route("POST", "/v1/webhooks", Reach::Creates),
    route("POST", "/v1/contacts", Reach::Creates),
    route("POST", "/v1/agents", Reach::Creates),
    route("POST", "/v1/teams", Reach::Creates),
    route("POST", "/v1/attribute-definitions", Reach::Creates),
    route("POST", "/v1/webhooks/signing-keys/rotate", Reach::Creates),
    route("GET", "/v1/keys", Reach::Lists { query: "" }),
    route("GET", "/v1/inboxes", Reach::Lists { query: "?include_deleted=true" }),
    route("GET", "/v1/conversations", Reach::Lists { query: "?archived=any&limit=200" }),
    route("GET", "/v1/events", Reach::Lists { query: "?after=0&limit=1000" }),
    route("GET", "/v1/users/{user_id}/unread-summary", Reach::Lists { query: "" }),
    route("GET", "/v1/webhooks", Reach::Lists { query: "" }),
    route("GET", "/v1/contacts", Reach::Lists { query: "" }),
    route("GET", "/v1/agents", Reach::Lists { query: "" }),
    route("GET", "/v1/teams", Reach::Lists { query: "" }),
    route("GET", "/v1/labels", Reach::Lists { query: "" }),
    route("GET", "/v1/attribute-definitions", Reach::Lists { query: "" }),
    route("GET", "/v1/webhooks/attempts", Reach::Lists { query: "" }),
    route("GET", "/v1/webhooks/signing-keys", Reach::Lists { query: "" }),
    route("GET", "/v1/stream", Reach::Streams),
    route("GET", "/v1/conversations/{conversation_id}", by_id("", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/messages", by_id("?order=desc", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/window", by_id("?actor=BOT", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/events", by_id("?after=0", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/response-times", by_id("", |_| None)),
    route("GET", "/v1/webhooks/{webhook_id}", by_id("", |_| None)),
    route("GET", "/v1/contacts/{contact_id}", by_id("", |_| None)),
    route("GET", "/v1/contacts/{contact_id}/conversations", by_id("", |_| None)),
    route("GET", "/v1/agents/{agent_id}", by_id("", |_| None)),
    route("GET", "/v1/agents/{agent_id}/mentions", by_id("", |_| None)),
    route("GET", "/v1/attribute-definitions/{model}/{key}", by_id("", |_| None)),
    route("GET", "/v1/teams/{team_id}", by_id("", |_| None)),
    route("GET", "/v1/teams/{team_id}/agents", by_id("?limit=5", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/assignable-agents", by_id("", |_| None)),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/messages",
        by_id("", |_| Some(json!({"actor": agent(), "content": {"type": "text", "body": "hello from outside"}}))),
    ),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/messages/{message_id}/status",
        by_id("", |_| Some(json!({"status": "delivered"}))),
    ),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/messages/{message_id}/reactions",
        by_id("", |_| Some(json!({"actor": agent(), "emoji": "👍"}))),
    ),
    route(
        "PATCH",
        "/v1/conversations/{conversation_id}/messages/{message_id}",
        by_id("", |_| Some(json!({"actor": agent(), "content": {"type": "text", "body": "edited"}}))),
    ),
    route("PUT", "/v1/conversations/{conversation_id}/assignee", by_id("", |ids| Some(json!({"agent_id": ids.agent})))),
    route("DELETE", "/v1/conversations/{conversation_id}/assignee", by_id("", |_| None)),
    route("PUT", "/v1/conversations/{conversation_id}/team", by_id("", |ids| Some(json!({"team_id": ids.team})))),
    route("DELETE", "/v1/conversations/{conversation_id}/team", by_id("", |_| None)),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/notes",
        by_id("", |ids| Some(json!({"actor": agent(), "body": "theirs now", "mentions": [ids.agent]}))),
    ),
    route("PUT", "/v1/conversations/{conversation_id}/labels/{label}", by_id("", |_| None)),
    route("DELETE", "/v1/conversations/{conversation_id}/labels/{label}", by_id("", |_| None)),
    route("POST", "/v1/conversations/{conversation_id}/archive", by_id("", |_| None)),
    route("POST", "/v1/conversations/{conversation_id}/unarchive", by_id("", |_| Some(json!({"actor": agent()})))),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/read",
        by_id("", |ids| Some(json!({"user_id": "ada", "message_id": ids.inbound}))),
    ),
    route("POST", "/v1/conversations/{conversation_id}/status", by_id("", |_| Some(json!({"status": "pending"})))),
    route("DELETE", "/v1/conversations/{conversation_id}/messages/{message_id}", by_id("", |_| None)),
    // Group routes name our group conversation (`Ids::uri`).
    route("GET", "/v1/conversations/{conversation_id}/members", by_id("?limit=5", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/join-requests", by_id("", |_| None)),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/members",
        by_id("", |_| Some(json!({"members": [{"member_id": "+4915100013"}]}))),
    ),
    route(
        "PATCH",
        "/v1/conversations/{conversation_id}/members/{member_id}",
        by_id("", |_| Some(json!({"display_name": "Renamed"}))),
    ),
    route(
        "PATCH",
        "/v1/conversations/{conversation_id}/group",
        by_id("", |_| Some(json!({"subject": "Renamed group"}))),
    ),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/join-requests",
        by_id("", |_| Some(json!({"member_id": "+4915100014"}))),
    ),
    route("POST", "/v1/conversations/{conversation_id}/join-requests/{request_id}/approve", by_id("", |_| None)),
    route("POST", "/v1/conversations/{conversation_id}/join-requests/{request_id}/reject", by_id("", |_| None)),
    route("POST", "/v1/conversations/{conversation_id}/invite-link/rotate", by_id("", |_| None)),
    route(
        "POST",
        "/v1/conversations/{conversation_id}/activity",
        by_id("", |_| Some(json!({"at": "2026-01-01T00:00:00Z", "messages": 2}))),
    ),
    route("DELETE", "/v1/conversations/{conversation_id}/members/{member_id}", by_id("", |_| None)),
    route("POST", "/v1/conversations/{conversation_id}/leave", by_id("", |_| None)),
    route("PATCH", "/v1/webhooks/{webhook_id}", by_id("", |_| Some(json!({"description": "theirs now"})))),
    route("PATCH", "/v1/agents/{agent_id}", by_id("", |_| Some(json!({"name": "theirs now", "availability": "busy"})))),
    route("PATCH", "/v1/teams/{team_id}", by_id("", |_| Some(json!({"name": "theirs now"})))),
    route("PATCH", "/v1/attribute-definitions/{model}/{key}", by_id("", |_| Some(json!({"name": "theirs now"})))),
    route(
        "PATCH",
        "/v1/conversations/{conversation_id}/attributes",
        by_id("", |ids| Some(json!({"attributes": {(ids.attribute.clone()): "theirs now"}}))),
    ),
    route("PUT", "/v1/teams/{team_id}/agents/{agent_id}", by_id("", |_| None)),
    route("PUT", "/v1/inboxes/{inbox_id}/team", by_id("", |ids| Some(json!({"team_id": ids.team})))),
    route("DELETE", "/v1/inboxes/{inbox_id}/team", by_id("", |_| None)),
    route("DELETE", "/v1/teams/{team_id}/agents/{agent_id}", by_id("", |_| None)),
    route("PATCH", "/v1/contacts/{contact_id}", by_id("", |_| Some(json!({"name": "theirs now", "tags": ["x"]})))),
    route("POST", "/v1/contacts/{contact_id}/identities", by_id("", |_| Some(our_identity()))),
    route("DELETE", "/v1/contacts/{contact_id}/identities", by_id("", |_| Some(our_identity()))),
    route("POST", "/v1/contacts/{contact_id}/merge", by_id("", |ids| Some(json!({"contact_id": ids.other_contact})))),
    route("POST", "/v1/webhooks/{webhook_id}/replay", by_id("", |_| Some(json!({"since_position": 0})))),
    route("POST", "/v1/webhooks/{webhook_id}/verify", by_id("", |_| None)),
    route("POST", "/v1/webhooks/{webhook_id}/secret/rotate", by_id("", |_| None)),
    route("DELETE", "/v1/webhooks/{webhook_id}", by_id("", |_| None)),
    route("DELETE", "/v1/attribute-definitions/{model}/{key}", by_id("", |_| None)),
    route("DELETE", "/v1/contacts/{contact_id}", by_id("", |_| None)),
    route("DELETE", "/v1/inboxes/{inbox_id}", by_id("", |_| None)),
    route("DELETE", "/v1/keys/{key_id}", by_id("", |_| None)),
];

/// The ids a by-id request names: a conversation, its inbound and outbound message (the one
/// `{message_id}` stands for), its inbox, a key, a webhook endpoint, an agent and a team.
#[derive(Debug, Clone)]
struct Ids {
    conversation: String,
    inbound: String,
    outbound: String,
    inbox: String,
    key: String,
    webhook: String,
    /// The contact of the conversation's sender, and another, to merge into it.
    contact: String,
    other_contact: String,
    /// A group conversation, a member of it, and two pending join requests (one approved, one
    /// rejected by the walk).
    group: String,
    member: String,
    approved: String,
    rejected: String,
    /// A conversation attribute's key (defined for text), deleted at the walk's end.
    attribute: String,
    /// An agent of the directory (active: the one assigned), and a team.
    agent: String,
    team: String,
}

/// The group routes: they name `Ids::group` as `{conversation_id}`.
const GROUP_ROUTES: [&str; 7] =
    ["/members", "/group", "/join-requests", "/invite-link", "/leave", "/activity", "/groups"];

impl Ids {
    /// Ids that exist nowhere.
    fn ghost() -> Self {
        Self {
            conversation: Uuid::now_v7().to_string(),
            inbound: Uuid::now_v7().to_string(),
            outbound: Uuid::now_v7().to_string(),
            inbox: Uuid::now_v7().to_string(),
            key: Uuid::new_v4().simple().to_string()[..16].to_owned(),
            webhook: Uuid::now_v7().to_string(),
            contact: Uuid::now_v7().to_string(),
            other_contact: Uuid::now_v7().to_string(),
            group: Uuid::now_v7().to_string(),
            member: "+4915100999".into(),
            approved: Uuid::now_v7().to_string(),
            rejected: Uuid::now_v7().to_string(),
            attribute: "ghost_attribute".into(),
            agent: "ghost-agent".into(),
            team: Uuid::now_v7().to_string(),
        }
    }

    fn uri(&self, path: &str, query: &str) -> String {
        let conversation = if GROUP_ROUTES.iter().any(|r| path.contains(r)) { &self.group } else { &self.conversation };
        let request = if path.ends_with("/reject") { &self.rejected } else { &self.approved };
        let uri = path
            .replace("{conversation_id}", conversation)
            .replace("{member_id}", &self.member)
            .replace("{request_id}", request)
            .replace("{message_id}", &self.outbound)
            .replace("{inbox_id}", &self.inbox)
            .replace("{key_id}", &self.key)
            .replace("{webhook_id}", &self.webhook)
            .replace("{contact_id}", &self.contact)
            .replace("{agent_id}", &self.agent)
            .replace("{label}", "vip")
            .replace("{model}", "conversation")
            .replace("{key}", &self.attribute)
            .replace("{team_id}", &self.team)
            .replace("{user_id}", "bob");
        assert!(!uri.contains('{'), "the walk cannot fill {path}: teach Ids::uri its parameter");
        format!("{uri}{query}")
    }

    /// `text` with each id replaced by its role, to compare answers about different ids.
    fn redact(&self, text: &str) -> String {
        [
            (&self.conversation, "<conversation>"),
            (&self.inbound, "<inbound>"),
            (&self.outbound, "<outbound>"),
            (&self.inbox, "<inbox>"),
            (&self.key, "<key>"),
            (&self.webhook, "<webhook>"),
            (&self.contact, "<contact>"),
            (&self.other_contact, "<other contact>"),
            (&self.group, "<group>"),
            (&self.member, "<member>"),
            (&self.approved, "<approved>"),
            (&self.rejected, "<rejected>"),
            (&self.agent, "<agent>"),
            (&self.team, "<team>"),
            (&self.attribute, "<attribute>"),
        ]
        .into_iter()
        .fold(text.to_owned(), |text, (id, role)| text.replace(id.as_str(), role))
    }
}

/// Every (method, path) the router in convo-gateway's lib.rs serves, read from its source: the
/// `.route(path, handlers)` calls, with paths written as literals, as `let` bindings or as
/// `format!` of those bindings.
fn served_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../../crates/convo-gateway/src/lib.rs");
    let bindings: HashMap<&str, &str> = source
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_prefix("let ")?.split_once(" = \"")?;
            Some((name.trim(), value.strip_suffix("\";")?))
        })
        .collect();
    let resolve = |argument: &str| -> String {
        let argument = argument.trim().trim_start_matches('&');
        let template = if let Some(literal) = argument.strip_prefix("format!(") {
            literal.strip_suffix(')').unwrap_or(literal)
        } else {
            argument
        };
        match template.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            Some(literal) => {
                bindings.iter().fold(literal.to_owned(), |s, (name, value)| s.replace(&format!("{{{name}}}"), value))
            }
            None => match bindings.get(template) {
                Some(value) => (*value).to_owned(),
                None => panic!("a route path this check cannot read: {argument}"),
            },
        }
    };
    let mut routes = BTreeSet::new();
    for (at, _) in source.match_indices(".route(") {
        let call = &source[at + ".route(".len()..];
        // The call's arguments, up to its closing parenthesis.
        let (mut depth, mut end, mut comma) = (0_i32, call.len(), None);
        for (i, c) in call.char_indices() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' if depth == 0 => {
                    end = i;
                    break;
                }
                ')' | ']' | '}' => depth -= 1,
                ',' if depth == 0 && comma.is_none() => comma = Some(i),
                _ => {}
            }
        }
        let comma = comma.unwrap_or_else(|| panic!("a .route( call this check cannot read: {}", &call[..end]));
        let path = resolve(&call[..comma]);
        let handlers = &call[comma + 1..end];
        let mut methods = 0;
        for method in ["get", "post", "put", "patch", "delete", "head", "options", "trace", "any", "on"] {
            for (i, _) in handlers.match_indices(&format!("{method}(")) {
                let before = handlers[..i].chars().next_back();
                if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                    assert!(!matches!(method, "any" | "on"), "{method}( on {path}: name its methods for this check");
                    routes.insert((method.to_uppercase(), path.clone()));
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no method found for {path} in {handlers}");
    }
    routes
}

/// An HTTP answer with its headers.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(app: &Router, method: &str, uri: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Answer {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = match body {
        Some(b) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = app.clone().oneshot(request.body(body).expect("a request")).await.expect("the router answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    Answer { status, headers, body }
}

#[track_caller]
fn assert_problem(answer: &Answer, status: StatusCode, code: &str, what: &str) {
    assert_eq!((answer.status, answer.body["code"].as_str()), (status, Some(code)), "{what}: {}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/problem+json"), "{what}");
}

/// A command's body, after asserting it is 201 Created.
async fn created(app: &Router, uri: &str, body: Value) -> Value {
    let reply = call(app, "POST", uri, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "POST {uri}: {}", reply.body);
    reply.body
}

fn position(body: &Value) -> i64 {
    body["position"].as_i64().unwrap_or_else(|| panic!("a position in {body}"))
}

/// The key id in a `cvk_<key id>_<secret>` token.
fn key_id(token: &str) -> &str {
    token.strip_prefix("cvk_").and_then(|rest| rest.split_once('_')).map(|(id, _)| id).expect("a cvk_ token")
}

/// A live stream's body, open.
async fn open_stream(app: &Router, uri: &str) -> Body {
    let request = Request::get(uri).body(Body::empty()).expect("a request");
    let response = app.clone().oneshot(request).await.expect("the router answers");
    assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
    response.into_body()
}

/// What a stream sends until a line equal to `line` (10 s at most).
async fn read_stream_until(stream: &mut Body, line: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.lines().any(|l| l == line) {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    seen.push_str(&String::from_utf8_lossy(data));
                }
            }
            Ok(Some(Err(e))) => panic!("the stream failed: {e}; so far: {seen}"),
            Ok(None) => panic!("the stream ended before {line:?}: {seen}"),
            Err(_) => panic!("{line:?} never came on the stream: {seen}"),
        }
    }
    seen
}

/// Who may do what, as the brief says it (not read from the gateway): channel-side facts need a
/// `connector` key, agent, bot and system actions a `write` key; a change either side may make
/// (a reaction, an edit, a group's members and settings) takes a contact actor from a connector
/// and any other from a write key.
const CHANNEL_FACTS: [&str; 4] = [
    "POST /v1/inbound-messages",
    "POST /v1/conversations/{conversation_id}/messages/{message_id}/status",
    "POST /v1/conversations/{conversation_id}/activity",
    "POST /v1/conversations/{conversation_id}/join-requests",
];
/// Let through for a connector key and a write key alike: a contact's identities, which a
/// connector links when it learns a new id of a known person (docs/CONNECTORS.md) and an agent
/// links or unlinks by hand.
const EITHER_KEY: [&str; 2] =
    ["POST /v1/contacts/{contact_id}/identities", "DELETE /v1/contacts/{contact_id}/identities"];
const EITHER_SIDE: [&str; 11] = [
    "POST /v1/groups",
    "POST /v1/conversations/{conversation_id}/messages/{message_id}/reactions",
    "PATCH /v1/conversations/{conversation_id}/messages/{message_id}",
    "DELETE /v1/conversations/{conversation_id}/messages/{message_id}",
    "POST /v1/conversations/{conversation_id}/members",
    "PATCH /v1/conversations/{conversation_id}/members/{member_id}",
    "DELETE /v1/conversations/{conversation_id}/members/{member_id}",
    "PATCH /v1/conversations/{conversation_id}/group",
    "POST /v1/conversations/{conversation_id}/join-requests/{request_id}/approve",
    "POST /v1/conversations/{conversation_id}/join-requests/{request_id}/reject",
    "POST /v1/conversations/{conversation_id}/invite-link/rotate",
];
