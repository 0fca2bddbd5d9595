//! Workspaces and API keys over HTTP, on both backends: a key of another workspace gets 404 on
//! every route that names one of our resources (exactly as for an id that exists nowhere) and
//! finds nothing of ours in any list; requests without a valid key are 401; scopes limit what a
//! key may do; a token is shown once and stored only as its SHA-256.

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

on_both_backends!(
    a_key_of_another_workspace_sees_and_changes_nothing_of_this_one,
    requests_without_a_valid_key_are_401_and_write_nothing,
    scopes_limit_what_a_key_may_do,
    a_connector_key_reports_channel_facts_and_a_write_key_acts_on_every_route,
);

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
    route("GET", "/v1/keys", Reach::Lists { query: "" }),
    route("GET", "/v1/inboxes", Reach::Lists { query: "?include_deleted=true" }),
    route("GET", "/v1/conversations", Reach::Lists { query: "?archived=any&limit=200" }),
    route("GET", "/v1/events", Reach::Lists { query: "?after=0&limit=1000" }),
    route("GET", "/v1/users/{user_id}/unread-summary", Reach::Lists { query: "" }),
    route("GET", "/v1/stream", Reach::Streams),
    route("GET", "/v1/conversations/{conversation_id}", by_id("", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/messages", by_id("?order=desc", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/window", by_id("?actor=BOT", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/events", by_id("?after=0", |_| None)),
    route("GET", "/v1/conversations/{conversation_id}/response-times", by_id("", |_| None)),
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
    route("PUT", "/v1/conversations/{conversation_id}/assignee", by_id("", |_| Some(json!({"agent_id": "ada"})))),
    route("DELETE", "/v1/conversations/{conversation_id}/assignee", by_id("", |_| None)),
    route("PUT", "/v1/conversations/{conversation_id}/team", by_id("", |_| Some(json!({"team_id": "billing"})))),
    route("DELETE", "/v1/conversations/{conversation_id}/team", by_id("", |_| None)),
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
    route("DELETE", "/v1/inboxes/{inbox_id}", by_id("", |_| None)),
    route("DELETE", "/v1/keys/{key_id}", by_id("", |_| None)),
];

/// The ids a by-id request names: a conversation, its inbound and outbound message (the one
/// `{message_id}` stands for), its inbox, and a key.
#[derive(Debug, Clone)]
struct Ids {
    conversation: String,
    inbound: String,
    outbound: String,
    inbox: String,
    key: String,
    /// A group conversation, a member of it, and two pending join requests (one approved, one
    /// rejected by the walk).
    group: String,
    member: String,
    approved: String,
    rejected: String,
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
            group: Uuid::now_v7().to_string(),
            member: "+4915100999".into(),
            approved: Uuid::now_v7().to_string(),
            rejected: Uuid::now_v7().to_string(),
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
            (&self.group, "<group>"),
            (&self.member, "<member>"),
            (&self.approved, "<approved>"),
            (&self.rejected, "<rejected>"),
        ]
        .into_iter()
        .fold(text.to_owned(), |text, (id, role)| text.replace(id.as_str(), role))
    }
}

/// Every (method, path) the router in convo-gateway's lib.rs serves, read from its source: the
/// `.route(path, handlers)` calls, with paths written as literals, as `let` bindings or as
/// `format!` of those bindings.
fn served_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../crates/convo-gateway/src/lib.rs");
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

#[test]
fn the_tenancy_table_lists_every_route_the_gateway_serves() {
    let served = served_routes();
    let table: BTreeSet<(String, String)> = ROUTES.iter().map(|r| (r.method.to_owned(), r.path.to_owned())).collect();
    assert_eq!(table.len(), ROUTES.len(), "a route is in the table twice");
    let unwalked: Vec<_> = served.difference(&table).collect();
    assert!(unwalked.is_empty(), "routes the gateway serves that the tenancy walk does not cover: {unwalked:?}");
    let stale: Vec<_> = table.difference(&served).collect();
    assert!(stale.is_empty(), "routes in the tenancy table the gateway no longer serves: {stale:?}");
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

async fn a_key_of_another_workspace_sees_and_changes_nothing_of_this_one<B: Backend>(backend: B) {
    let t = engine(backend);
    let ours = app(&t).await;
    let their_token = api_key(&t, THEIRS, &[Scope::Admin]).await;
    let their_key = key_id(&their_token).to_owned();
    let theirs = authed(ours.clone(), their_token);
    // The stream's follower of the log starts with its first client: start it now, so a
    // stream opened later carries every event written after it opened.
    drop(open_stream(&ours, "/v1/stream").await);
    let now = t.clock_now();

    // Our workspace: an inbox, a conversation with an inbound and an outbound message, a second key.
    let inbox = created(&ours, "/v1/inboxes", json!({"name": "Our support", "channel_type": "sms"})).await;
    let our_inbox = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let inbound = json!({"inbox_id": our_inbox, "contact_id": "+4915100001", "display_name": "Our contact",
                         "sent_at": now, "content": {"type": "text", "body": "our secret question"}});
    let inbound = created(&ours, "/v1/inbound-messages", inbound).await;
    let our_conversation = inbound["conversation_id"].as_str().expect("a conversation id").to_owned();
    let c = format!("/v1/conversations/{our_conversation}");
    let sent = created(
        &ours,
        &format!("{c}/messages"),
        json!({"actor": agent(), "content": {"type": "text", "body": "our secret answer"}}),
    )
    .await;
    let deploy = created(&ours, "/v1/keys", json!({"name": "deploy", "scopes": ["write"]})).await;
    // An activity-only group that approves joins, with a member and two pending requests.
    let group = json!({"inbox_id": our_inbox, "group_id": "our-group", "subject": "Our group",
                       "self_member": "+4915100009", "members": [{"member_id": "+4915100010"}],
                       "settings": {"join_approval": true, "activity_only": true}});
    let group = created(&ours, "/v1/groups", group).await["conversation_id"].as_str().expect("a group").to_owned();
    let (approved, rejected) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    let mut group_head = 0;
    for (member, request) in [("+4915100011", &approved), ("+4915100012", &rejected)] {
        let ask = json!({"member_id": member, "request_id": request});
        group_head = position(&created(&ours, &format!("/v1/conversations/{group}/join-requests"), ask).await);
    }
    let ids = Ids {
        group,
        member: "+4915100010".into(),
        approved,
        rejected,
        conversation: our_conversation.clone(),
        inbound: inbound["message_id"].as_str().expect("a message id").to_owned(),
        outbound: sent["message_id"].as_str().expect("a message id").to_owned(),
        inbox: our_inbox.clone(),
        key: deploy["key_id"].as_str().expect("a key id").to_owned(),
    };
    let mut our_version = sent["version"].as_i64().expect("a version");
    let mut head = position(&sent).max(group_head);
    let our_keys = call(&ours, "GET", "/v1/keys", None).await.body["items"].clone();
    // Whatever names or shows something of ours.
    let mut ours_marks: Vec<String> = vec![
        API_WS.to_string(),
        ids.conversation.clone(),
        ids.inbound.clone(),
        ids.outbound.clone(),
        ids.inbox.clone(),
        "+4915100001".into(),
        "our secret".into(),
        "Our support".into(),
    ];
    ours_marks
        .extend(our_keys.as_array().into_iter().flatten().filter_map(|k| k["key_id"].as_str()).map(str::to_owned));
    assert_eq!(ours_marks.len(), 8 + 2, "our two keys: {our_keys}");

    // Their workspace has its own inbox and conversation.
    let their_inbox =
        created(&theirs, "/v1/inboxes", json!({"name": "Their desk", "channel_type": "sms"})).await["inbox_id"].clone();
    let their_inbox = their_inbox.as_str().expect("an inbox id").to_owned();
    let theirs_inbound = json!({"inbox_id": their_inbox, "contact_id": "+4915100002", "sent_at": now,
                                "content": {"type": "text", "body": "their hello"}});
    let their_conversation = created(&theirs, "/v1/inbound-messages", theirs_inbound).await["conversation_id"].clone();
    let their_conversation = their_conversation.as_str().expect("a conversation id").to_owned();

    // Creating in their workspace cannot reach into ours. An inbound message naming our inbox is
    // answered exactly as one naming an inbox that exists nowhere.
    let before = whole_log(&t.engine).await.len();
    let ghost_inbox = Uuid::now_v7().to_string();
    let naming = |inbox: &str| json!({"inbox_id": inbox, "contact_id": "+4915100001", "sent_at": now, "content": {"type": "text", "body": "x"}});
    let into_ours = send(&theirs, "POST", "/v1/inbound-messages", &[], Some(&naming(&our_inbox))).await;
    let into_nothing = send(&theirs, "POST", "/v1/inbound-messages", &[], Some(&naming(&ghost_inbox))).await;
    assert!(!into_ours.status.is_success(), "an inbound message on our inbox from their key: {}", into_ours.body);
    assert_eq!(
        (into_ours.status, into_ours.body.to_string().replace(&our_inbox, "<inbox>")),
        (into_nothing.status, into_nothing.body.to_string().replace(&ghost_inbox, "<inbox>")),
        "our inbox looks to them like one that does not exist"
    );
    // So does a group on our inbox.
    let group_on =
        |inbox: &str| json!({"inbox_id": inbox, "group_id": "our-group", "subject": "x", "self_member": "+1"});
    let group_on_ours = send(&theirs, "POST", "/v1/groups", &[], Some(&group_on(&our_inbox))).await;
    let group_on_nothing = send(&theirs, "POST", "/v1/groups", &[], Some(&group_on(&ghost_inbox))).await;
    assert!(!group_on_ours.status.is_success(), "a group on our inbox from their key: {}", group_on_ours.body);
    assert_eq!(
        (group_on_ours.status, group_on_ours.body.to_string().replace(&our_inbox, "<inbox>")),
        (group_on_nothing.status, group_on_nothing.body.to_string().replace(&ghost_inbox, "<inbox>")),
        "a group on our inbox looks to them like one on an inbox that does not exist"
    );
    // An inbox with our inbox's id does not replace or rename ours.
    let hijack = json!({"inbox_id": our_inbox, "name": "Hijacked", "channel_type": "whatsapp"});
    let hijack = send(&theirs, "POST", "/v1/inboxes", &[], Some(&hijack)).await;
    // Inbox ids are minted by the engine: naming one is a validation error whoever owns it.
    assert_problem(&hijack, StatusCode::UNPROCESSABLE_ENTITY, "validation", "an inbox_id in a create");
    // A key cannot be made for our workspace.
    let foreign_key = json!({"name": "x", "scopes": ["admin"], "workspace_id": API_WS});
    let foreign_key = send(&theirs, "POST", "/v1/keys", &[], Some(&foreign_key)).await;
    assert_problem(&foreign_key, StatusCode::UNPROCESSABLE_ENTITY, "validation", "a key for another workspace");
    let their_new = created(&theirs, "/v1/keys", json!({"name": "theirs", "scopes": ["read"]})).await;
    assert_eq!(their_new["workspace_id"], THEIRS.to_string(), "their admin's keys are theirs");
    assert_eq!(call(&ours, "GET", "/v1/keys", None).await.body["items"], our_keys, "our keys are as they were");
    assert_eq!(whole_log(&t.engine).await.len(), before, "their attempts on our inbox wrote nothing");
    let our_inboxes = call(&ours, "GET", &format!("/v1/inboxes?min_position={head}"), None).await.body;
    assert_eq!(
        (our_inboxes["items"][0]["name"].as_str(), our_inboxes["items"][0]["channel"].as_str()),
        (Some("Our support"), Some("sms")),
        "{our_inboxes}"
    );

    // Every route that names one of our resources: their key gets 404 notFound, exactly as for
    // ids that exist nowhere, and writes nothing; the same request with our key succeeds (so it
    // was well-formed and the resource was there), and their key repeating it with the
    // Idempotency-Key we used does not replay our answer.
    let ghost = Ids::ghost();
    let mut walked = 0;
    for (i, route) in ROUTES.iter().enumerate() {
        let Reach::ById { query, body: body_for } = route.reach else { continue };
        walked += 1;
        let what = format!("{} {}", route.method, route.path);
        let (uri, body) = (ids.uri(route.path, query), body_for(&ids));
        // Reads wait until the read models have everything we wrote so far.
        let min = head.to_string();
        let at = ("x-convo-min-position", min.as_str());
        let before = whole_log(&t.engine).await.len();
        let answer = send(&theirs, route.method, &uri, &[at], body.as_ref()).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "notFound", &format!("{what} with their key"));
        let nowhere =
            send(&theirs, route.method, &ghost.uri(route.path, query), &[at], body_for(&ghost).as_ref()).await;
        assert_eq!(
            (answer.status, ids.redact(&answer.body.to_string())),
            (nowhere.status, ghost.redact(&nowhere.body.to_string())),
            "{what}: ours looks to them like nothing"
        );
        assert_eq!(whole_log(&t.engine).await.len(), before, "{what} with their key wrote nothing");

        let key = format!("tenancy-walk-{i}");
        let own = send(&ours, route.method, &uri, &[at, ("idempotency-key", &key)], body.as_ref()).await;
        assert!(own.status.is_success(), "{what} with our key: {} {}", own.status, own.body);
        if own.body["conversation_id"] == ids.conversation.as_str() {
            our_version = own.body["version"].as_i64().expect("a version");
        }
        head = head.max(own.body["position"].as_i64().unwrap_or(0));
        if route.method != "GET" {
            let before = whole_log(&t.engine).await.len();
            let replay = send(&theirs, route.method, &uri, &[at, ("idempotency-key", &key)], body.as_ref()).await;
            assert_problem(&replay, StatusCode::NOT_FOUND, "notFound", &format!("{what} with their key and ours"));
            assert_eq!(replay.header("idempotent-replayed"), None, "{what}: our answer is not theirs to replay");
            assert_eq!(whole_log(&t.engine).await.len(), before, "{what} with their key and ours wrote nothing");
        }
    }
    assert_eq!(walked, 32, "every by-id route of DOMAIN.md's table is walked");

    // Their lists hold their things and nothing of ours.
    let min = head.to_string();
    for route in ROUTES {
        let Reach::Lists { query } = route.reach else { continue };
        let uri = format!("{}{query}", route.path.replace("{user_id}", "bob"));
        let theirs_mark = if route.path == "/v1/keys" { &their_key } else { &their_inbox };
        // The log on PostgreSQL can lag behind other databases' open transactions: poll.
        let mut answer = send(&theirs, "GET", &uri, &[("x-convo-min-position", &min)], None).await;
        for _ in 0..250 {
            if answer.status != StatusCode::OK || answer.body.to_string().contains(theirs_mark.as_str()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            answer = send(&theirs, "GET", &uri, &[("x-convo-min-position", &min)], None).await;
        }
        assert_eq!(answer.status, StatusCode::OK, "GET {uri} with their key: {}", answer.body);
        let text = answer.body.to_string();
        assert!(text.contains(theirs_mark.as_str()), "GET {uri} shows them their own: {text}");
        for mark in &ours_marks {
            assert!(!text.contains(mark.as_str()), "GET {uri} shows them our {mark}: {text}");
        }
    }
    let filtered = format!("/v1/conversations?archived=any&inbox_id={our_inbox}&min_position={head}");
    let filtered = call(&theirs, "GET", &filtered, None).await;
    assert_eq!(filtered.body["items"], json!([]), "filtering by our inbox finds them nothing");

    // Their live stream, from the start of the log: a write of ours made while it is open does
    // not come before theirs, nor does anything of ours from before.
    assert!(ROUTES.iter().any(|r| matches!(r.reach, Reach::Streams)));
    let mut stream = open_stream(&theirs, "/v1/stream?after=0").await;
    let archived = call(&ours, "POST", &format!("{c}/archive"), None).await;
    assert_eq!(archived.status, StatusCode::OK, "{}", archived.body);
    assert!(archived.body["version"].as_i64() > Some(our_version), "our archive wrote an event");
    our_version = archived.body["version"].as_i64().expect("a version");
    let theirs_now = call(&theirs, "POST", &format!("/v1/conversations/{their_conversation}/archive"), None).await;
    assert_eq!(theirs_now.status, StatusCode::OK, "{}", theirs_now.body);
    head = position(&theirs_now.body);
    let seen = read_stream_until(&mut stream, &format!("id: {head}")).await;
    for mark in &ours_marks {
        assert!(!seen.contains(mark.as_str()), "their stream shows them our {mark}: {seen}");
    }

    // Our log holds only what we did; theirs only their inbox and conversation.
    let log = whole_log(&t.engine).await;
    let theirs_touched: BTreeSet<&str> = log
        .iter()
        .filter(|e| e.workspace_id.as_deref() == Some(THEIRS.to_string().as_str()))
        .map(|e| e.aggregate_id.as_str())
        .collect();
    assert_eq!(theirs_touched, BTreeSet::from([their_inbox.as_str(), their_conversation.as_str()]));
    let conversation_events: Vec<_> = log.iter().filter(|e| e.aggregate_id == ids.conversation).collect();
    assert!(conversation_events.iter().all(|e| e.workspace_id.as_deref() == Some(API_WS.to_string().as_str())));
    assert_eq!(conversation_events.len() as i64, our_version, "our conversation has only our events");
    let view = call(&ours, "GET", &format!("{c}?min_position={head}"), None).await;
    assert_eq!(view.body["version"], our_version, "our conversation is as we left it: {}", view.body);
    assert_eq!(view.body["archived"], true);
}

async fn requests_without_a_valid_key_are_401_and_write_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let ws = Uuid::from_u128(0xa11ce);
    let bare = convo_gateway::router(t.engine.clone(), read_models(&t), &test_config());
    let admin = authed(bare.clone(), api_key(&t, ws, &[Scope::Admin]).await);
    let inbox = created(&admin, "/v1/inboxes", json!({"name": "Support", "channel_type": "sms"})).await;
    let inbox = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let inbound = json!({"inbox_id": inbox, "contact_id": "+4915100003", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hi"}});
    let started = created(&admin, "/v1/inbound-messages", inbound.clone()).await;
    let conversation = started["conversation_id"].as_str().expect("a conversation id").to_owned();
    let head = position(&started);

    // A key that worked until an admin revoked it.
    let revoked = api_key(&t, ws, &[Scope::Admin]).await;
    assert_eq!(
        send(&bare, "GET", "/v1/inboxes", &[("authorization", &format!("Bearer {revoked}"))], None).await.status,
        StatusCode::OK
    );
    let revoke = send(&admin, "DELETE", &format!("/v1/keys/{}", key_id(&revoked)), &[], None).await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT, "{}", revoke.body);
    let again = send(&admin, "DELETE", &format!("/v1/keys/{}", key_id(&revoked)), &[], None).await;
    assert_problem(&again, StatusCode::NOT_FOUND, "notFound", "revoking a revoked key");
    let listed = call(&admin, "GET", "/v1/keys", None).await.body.to_string();
    assert!(!listed.contains(key_id(&revoked)), "a revoked key is no longer listed: {listed}");
    // A live key's id with another secret.
    let live = api_key(&t, ws, &[Scope::Admin]).await;
    let wrong_secret = format!("cvk_{}_{}", key_id(&live), "0123456789abcdef".repeat(4));
    assert_ne!(wrong_secret, live);
    let unknown = format!("cvk_{}_{}", "0123456789abcdef", "fedcba9876543210".repeat(4));

    let credentials: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("Basic credentials", Some("Basic dXNlcjpwYXNz".into())),
        ("Bearer without a key", Some("Bearer".into())),
        ("a key without Bearer", Some(live.clone())),
        ("a bearer that is not a key", Some("Bearer not-a-key".into())),
        ("a key with a wrong secret", Some(format!("Bearer {wrong_secret}"))),
        ("a key nobody issued", Some(format!("Bearer {unknown}"))),
        ("a revoked key", Some(format!("Bearer {revoked}"))),
    ];
    let c = format!("/v1/conversations/{conversation}");
    let requests: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/conversations".into(), None),
        ("GET", c.clone(), None),
        ("GET", "/v1/events".into(), None),
        ("GET", "/v1/stream".into(), None),
        ("POST", "/v1/inboxes".into(), Some(json!({"name": "Intruder", "channel_type": "sms"}))),
        ("POST", "/v1/inbound-messages".into(), Some(inbound)),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "mallory"}))),
        ("POST", format!("{c}/archive"), None),
        ("DELETE", format!("/v1/inboxes/{inbox}"), None),
        ("GET", "/v1/keys".into(), None),
        ("POST", "/v1/keys".into(), Some(json!({"name": "mine now", "scopes": ["admin"]}))),
        ("DELETE", format!("/v1/keys/{}", key_id(&live)), None),
    ];
    let before = whole_log(&t.engine).await.len();
    for (what, credential) in &credentials {
        for (method, uri, body) in &requests {
            let headers: Vec<(&str, &str)> = credential.iter().map(|value| ("authorization", value.as_str())).collect();
            let answer = send(&bare, method, uri, &headers, body.as_ref()).await;
            assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthorized", &format!("{method} {uri}, {what}"));
            assert_eq!(answer.header("www-authenticate"), Some("Bearer"), "{method} {uri}, {what}");
        }
    }
    assert_eq!(whole_log(&t.engine).await.len(), before, "nothing was written");
    let view = call(&admin, "GET", &format!("{c}?min_position={head}"), None).await.body;
    assert_eq!((view["archived"].as_bool(), view["assignee"].as_str()), (Some(false), None), "{view}");
    let keys = call(&admin, "GET", "/v1/keys", None).await.body;
    assert_eq!(keys["items"].as_array().map(Vec::len), Some(2), "no key was made or revoked: {keys}");
    assert_eq!(
        send(&bare, "GET", "/v1/inboxes", &[("authorization", &format!("Bearer {live}"))], None).await.status,
        StatusCode::OK
    );

    // Operations stay open without a key.
    for uri in ["/healthz", "/readyz", "/metrics"] {
        assert!(ROUTES.iter().any(|r| r.path == uri && matches!(r.reach, Reach::Open)));
        let answer = send(&bare, "GET", uri, &[], None).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {uri} without a key: {}", answer.body);
    }
}

async fn scopes_limit_what_a_key_may_do<B: Backend>(backend: B) {
    let t = engine(backend);
    let ws = Uuid::from_u128(0x5c0);
    let bare = convo_gateway::router(t.engine.clone(), read_models(&t), &test_config());
    let admin_token = api_key(&t, ws, &[Scope::Admin]).await;
    let admin = authed(bare.clone(), admin_token.clone());

    // An admin creates keys; the token is in that answer only.
    let issued = created(&admin, "/v1/keys", json!({"name": "dashboard", "scopes": ["read"]})).await;
    let read_token = issued["token"].as_str().expect("a token").to_owned();
    let (read_id, read_secret) =
        read_token.strip_prefix("cvk_").and_then(|rest| rest.split_once('_')).expect("cvk_<key id>_<secret>");
    let hex = |s: &str, len: usize| s.len() == len && s.chars().all(|c| c.is_ascii_hexdigit() && !c.is_uppercase());
    assert!(hex(read_id, 16) && hex(read_secret, 64), "cvk_<16 hex>_<64 hex>: {read_token}");
    assert_eq!(
        (issued["key_id"].as_str(), issued["workspace_id"].as_str(), issued["name"].as_str()),
        (Some(read_id), Some(ws.to_string().as_str()), Some("dashboard"))
    );
    assert_eq!(issued["scopes"], json!(["read"]));
    let write_token = created(&admin, "/v1/keys", json!({"name": "connector", "scopes": ["write"]})).await["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let read_id = read_id.to_owned();
    for bad in [json!({"name": "none", "scopes": []}), json!({"name": "root", "scopes": ["root"]})] {
        let answer = send(&admin, "POST", "/v1/keys", &[], Some(&bad)).await;
        assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "validation", &format!("POST /v1/keys {bad}"));
    }
    let reader = authed(bare.clone(), read_token.clone());
    let writer = authed(bare.clone(), write_token.clone());

    let inbox = created(&admin, "/v1/inboxes", json!({"name": "Support", "channel_type": "sms"})).await;
    let inbox = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let inbound = json!({"inbox_id": inbox, "contact_id": "+4915100004", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hi"}});
    let done = created(&admin, "/v1/inbound-messages", inbound).await;
    let c = format!("/v1/conversations/{}", done["conversation_id"].as_str().expect("a conversation id"));
    let min = position(&done).to_string();

    // A read key reads, and nothing more.
    for uri in
        ["/v1/conversations".to_owned(), c.clone(), format!("{c}/messages"), "/v1/inboxes".into(), "/v1/events".into()]
    {
        let answer = send(&reader, "GET", &uri, &[("x-convo-min-position", &min)], None).await;
        assert_eq!(answer.status, StatusCode::OK, "GET {uri} with a read key: {}", answer.body);
    }
    let listed = send(&reader, "GET", "/v1/conversations", &[("x-convo-min-position", &min)], None).await;
    assert_eq!(listed.body["items"].as_array().map(Vec::len), Some(1), "{}", listed.body);
    let before = whole_log(&t.engine).await.len();
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", "/v1/inboxes".into(), Some(json!({"name": "Another", "channel_type": "sms"}))),
        ("POST", format!("{c}/archive"), None),
        ("PUT", format!("{c}/assignee"), Some(json!({"agent_id": "ada"}))),
        ("POST", format!("{c}/messages"), Some(json!({"actor": agent(), "content": {"type": "text", "body": "x"}}))),
        ("DELETE", format!("/v1/inboxes/{inbox}"), None),
    ];
    let admin_only: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/keys".into(), None),
        ("POST", "/v1/keys".into(), Some(json!({"name": "escalate", "scopes": ["admin"]}))),
        ("DELETE", format!("/v1/keys/{read_id}"), None),
    ];
    for (method, uri, body) in writes.iter().chain(&admin_only) {
        let answer = send(&reader, method, uri, &[], body.as_ref()).await;
        assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden", &format!("{method} {uri} with a read key"));
    }
    assert_eq!(whole_log(&t.engine).await.len(), before, "a read key wrote nothing");
    let view = call(&admin, "GET", &format!("{c}?min_position={min}"), None).await.body;
    assert_eq!((view["archived"].as_bool(), view["assignee"].as_str()), (Some(false), None), "{view}");

    // A write key also writes, but does not manage keys.
    for (method, uri, body) in &writes[..4] {
        let answer = send(&writer, method, uri, &[], body.as_ref()).await;
        assert!(answer.status.is_success(), "{method} {uri} with a write key: {} {}", answer.status, answer.body);
    }
    assert_eq!(
        send(&writer, "GET", &c, &[("x-convo-min-position", &min)], None).await.status,
        StatusCode::OK,
        "write includes read"
    );
    for (method, uri, body) in &admin_only {
        let answer = send(&writer, method, uri, &[], body.as_ref()).await;
        assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden", &format!("{method} {uri} with a write key"));
    }
    assert_eq!(send(&reader, "GET", "/v1/inboxes", &[], None).await.status, StatusCode::OK, "the read key still works");

    // An admin key also writes, and lists keys without any token or secret.
    let answer = send(&admin, "DELETE", &format!("/v1/inboxes/{inbox}"), &[], None).await;
    assert_eq!(answer.status, StatusCode::OK, "admin includes write: {}", answer.body);
    let keys = call(&admin, "GET", "/v1/keys", None).await.body;
    let keys_text = keys.to_string();
    let items = keys["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "the admin, read and write keys: {keys}");
    let dashboard = items.iter().find(|k| k["key_id"] == read_id.as_str()).expect("the read key is listed");
    assert_eq!((dashboard["name"].as_str(), &dashboard["scopes"]), (Some("dashboard"), &json!(["read"])));
    for key in &items {
        let fields: BTreeSet<&str> = key.as_object().into_iter().flatten().map(|(name, _)| name.as_str()).collect();
        assert_eq!(fields, BTreeSet::from(["created_at", "key_id", "name", "scopes", "workspace_id"]), "{key}");
    }
    for token in [&admin_token, &read_token, &write_token] {
        let secret = token.rsplit_once('_').map(|(_, s)| s).expect("a secret");
        assert!(!keys_text.contains(secret), "the list shows a secret: {keys_text}");
    }

    // The database holds the token's SHA-256, never the token or its secret.
    assert_eq!(
        convo_gateway::tenancy::sha256("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "the hash is SHA-256 in lower-case hex"
    );
    let sql = t.engine.backend.sql();
    let stored = sql
        .text_rows(&sql.sql("SELECT secret_hash FROM api_keys WHERE key_id = {1}"), &[SqlValue::Text(read_id.clone())])
        .await
        .expect("read api_keys");
    assert_eq!(stored, [convo_gateway::tenancy::sha256(&read_token)], "only the token's SHA-256 is stored");
    let columns = sql
        .text_rows("SELECT key_id || ' ' || workspace_id || ' ' || secret_hash || ' ' || COALESCE(revoked_at, '') FROM api_keys", &[])
        .await
        .expect("read api_keys");
    let rows: Vec<serde_json::Value> = sql.json_rows("SELECT row FROM api_keys", &[]).await.expect("read api_keys");
    assert_eq!((columns.len(), rows.len()), (3, 3));
    let stored = format!("{columns:?} {rows:?}");
    for token in [&admin_token, &read_token, &write_token] {
        let secret = token.rsplit_once('_').map(|(_, s)| s).expect("a secret");
        assert!(!stored.contains(secret), "api_keys holds a secret: {stored}");
    }
    assert!(stored.contains(&read_id), "the key id is stored in the clear");
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

/// Every route, with a connector key and a write key: each is let through (any answer but 403:
/// ids that exist nowhere answer 404) or refused with 403 and nothing written, as the brief says.
async fn a_connector_key_reports_channel_facts_and_a_write_key_acts_on_every_route<B: Backend>(backend: B) {
    let t = engine(backend);
    let bare = convo_gateway::router(t.engine.clone(), read_models(&t), &test_config());
    let connector = authed(bare.clone(), api_key(&t, API_WS, &[Scope::Connector]).await);
    let writer = authed(bare.clone(), api_key(&t, API_WS, &[Scope::Write]).await);
    let ids = Ids::ghost();
    let contact = json!({"kind": "contact", "id": "+4915100777"});
    let before = whole_log(&t.engine).await.len();
    let mut walked = 0;
    for route in ROUTES {
        let name = format!("{} {}", route.method, route.path);
        let (uri, body) = match route.reach {
            Reach::Open | Reach::Streams => continue,
            Reach::Lists { query } => (Ids::ghost().uri(route.path, query), None),
            Reach::ById { query, body } => (ids.uri(route.path, query), body(&ids)),
            Reach::Creates => {
                let body = match route.path {
                    "/v1/keys" => json!({"name": "k", "scopes": ["read"]}),
                    "/v1/inboxes" => json!({"name": "Support", "channel_type": "sms"}),
                    "/v1/inbound-messages" => json!({"inbox_id": ids.inbox, "contact_id": "+4915100005",
                        "sent_at": t.clock_now(), "content": {"type": "text", "body": "hi"}}),
                    "/v1/groups" => json!({"inbox_id": ids.inbox, "group_id": "g@g.us", "subject": "S",
                        "self_member": "+4915100006"}),
                    other => panic!("teach this walk to create {other}"),
                };
                (route.path.to_owned(), Some(body))
            }
        };
        let read = route.method == "GET";
        let keys = route.path.starts_with("/v1/keys");
        let channel = CHANNEL_FACTS.contains(&name.as_str());
        // (connector key, write key): whether each is let through with the route's usual body.
        let (by_connector, by_writer) = match () {
            _ if keys => (false, false),
            _ if read => (true, true),
            _ if channel => (true, false),
            _ => (false, true),
        };
        for (key, app, allowed) in [("connector", &connector, by_connector), ("write", &writer, by_writer)] {
            let answer = send(app, route.method, &uri, &[], body.as_ref()).await;
            let what = format!("{name} with a {key} key");
            if allowed {
                assert_ne!(answer.status, StatusCode::FORBIDDEN, "{what}: {}", answer.body);
                assert!(!answer.status.is_server_error(), "{what}: {}", answer.body);
            } else {
                assert_eq!(answer.status, StatusCode::FORBIDDEN, "{what}: {}", answer.body);
                let code = answer.body["code"].as_str().unwrap_or_default();
                assert!(code == "forbidden" || code == "actorNotAllowed", "{what}: {}", answer.body);
            }
        }
        if EITHER_SIDE.contains(&name.as_str()) {
            // What a contact did, reported: only a connector key may say so.
            let mut claimed = body.clone().unwrap_or_else(|| json!({}));
            claimed["actor"] = contact.clone();
            let by_connector = send(&connector, route.method, &uri, &[], Some(&claimed)).await;
            assert_ne!(
                by_connector.status,
                StatusCode::FORBIDDEN,
                "{name}, a contact, by a connector: {}",
                by_connector.body
            );
            let by_writer = send(&writer, route.method, &uri, &[], Some(&claimed)).await;
            assert_problem(
                &by_writer,
                StatusCode::FORBIDDEN,
                "actorNotAllowed",
                &format!("{name}, a contact, by a write key"),
            );
        }
        walked += 1;
    }
    assert!(walked > 40, "{walked} routes walked");
    // Nothing was written: every id is a ghost, and every refusal wrote nothing.
    let written: Vec<_> = whole_log(&t.engine).await.into_iter().skip(before).map(|e| e.event_type).collect();
    assert_eq!(written, vec!["InboxCreated"], "only the write key's inbox");
}
