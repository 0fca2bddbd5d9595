//! Group conversations end to end over HTTP, on both backends: creating and managing a group,
//! every group rule as a typed rejection that writes nothing, membership at a past position,
//! mentions resolved to members, and activity-only groups with their unread dot.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use convo_gateway::Scope;
use convo_read::ReadModels;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{
    API_WS, Reply, api_key, authed, call, engine, on_both_backends, read_models, test_config, whole_log,
};

on_both_backends!(
    a_group_is_created_managed_and_read_back,
    every_group_rule_is_a_typed_rejection_that_writes_nothing,
    join_requests_wait_for_an_admin_when_the_group_approves_joins,
    membership_is_known_at_any_past_position,
    an_activity_only_group_keeps_no_bodies_and_shows_an_unread_dot,
);

const INBOX_NUMBER: &str = "+15550002";
const CREATOR: &str = "+15550001";
const ALICE: &str = "+15550003";
const BOB: &str = "+15550004";
const CAROL: &str = "+15550005";

struct Group<B: Backend> {
    app: Router,
    read: Arc<ReadModels<B>>,
    t: crate::support::TestEngine<B>,
    inbox_id: String,
}

impl<B: Backend> Group<B> {
    async fn new(backend: B) -> Self {
        let t = engine(backend);
        let read = read_models(&t);
        let router = convo_gateway::router(t.engine.clone(), read.clone(), &test_config());
        let app = authed(router, api_key(&t, API_WS, &[Scope::Admin]).await);
        let inbox =
            call(&app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "whatsapp"}))).await;
        assert_eq!(inbox.status, StatusCode::CREATED, "{:?}", inbox.body);
        let inbox_id = inbox.body["inbox_id"].as_str().expect("an inbox id").to_owned();
        Self { app, read, t, inbox_id }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> Reply {
        call(&self.app, method, uri, body).await
    }

    /// Creates a group; returns its conversation path.
    async fn create(&self, group_id: &str, body: Value) -> String {
        let mut request = json!({"inbox_id": self.inbox_id, "group_id": group_id, "subject": "Launch crew",
                                 "self_member": INBOX_NUMBER});
        for (k, v) in body.as_object().expect("an object") {
            request[k] = v.clone();
        }
        let created = self.call("POST", "/v1/groups", Some(request)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        format!("/v1/conversations/{}", created.body["conversation_id"].as_str().expect("a conversation id"))
    }

    /// A command that must answer `status`; returns the answer.
    async fn ok(&self, method: &str, uri: &str, body: Option<Value>, status: StatusCode) -> Reply {
        let reply = self.call(method, uri, body).await;
        assert_eq!(reply.status, status, "{method} {uri}: {:?}", reply.body);
        reply
    }

    /// A command that must be refused with `status` and `code`, writing nothing.
    async fn refused(&self, method: &str, uri: &str, body: Option<Value>, status: StatusCode, code: &str) -> Reply {
        let before = whole_log(&self.t.engine).await.len();
        let reply = self.call(method, uri, body).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (status, Some(code)),
            "{method} {uri}: {:?}",
            reply.body
        );
        assert_eq!(reply.content_type, "application/problem+json");
        assert_eq!(whole_log(&self.t.engine).await.len(), before, "{method} {uri}: a refusal writes nothing");
        reply
    }

    /// A query reading its own write at `position`.
    async fn get(&self, uri: &str, position: i64) -> Value {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let reply = self.call("GET", &format!("{uri}{sep}min_position={position}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {uri}: {:?}", reply.body);
        reply.body
    }

    async fn head(&self) -> i64 {
        self.t.engine.log.head().await.expect("the head")
    }

    fn send(mentions: &[&str]) -> Value {
        json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": "hi all"}, "mentions": mentions})
    }

    fn member(id: &str) -> Value {
        json!({"member_id": id})
    }
}

fn ids(members: &Value) -> Vec<(String, String)> {
    members["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| (m["member_id"].as_str().unwrap_or("").to_owned(), m["role"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn pair(id: &str, role: &str) -> (String, String) {
    (id.to_owned(), role.to_owned())
}

async fn a_group_is_created_managed_and_read_back<B: Backend>(backend: B) {
    let g = Group::new(backend).await;
    let c = g
        .create(
            "120363000000000001@g.us",
            json!({"description": "Everything launch", "members": [
                {"member_id": ALICE, "display_name": "Alice"},
                {"member_id": BOB, "role": "admin"},
            ], "invite_code": "code-1"}),
        )
        .await;
    let head = g.head().await;

    // The conversation view carries the group's metadata and settings.
    let view = g.get(&c, head).await;
    assert_eq!(view["kind"], "group");
    let group = &view["group"];
    assert_eq!(
        (group["subject"].as_str(), group["description"].as_str()),
        (Some("Launch crew"), Some("Everything launch"))
    );
    assert_eq!(
        group["settings"],
        json!({"announce": false, "join_approval": false, "member_add_mode": "admins", "activity_only": false})
    );
    assert_eq!((group["self_is_admin"].as_bool(), group["member_count"].as_u64()), (Some(true), Some(3)));
    assert_eq!(group["left"], false);

    // Members: the inbox's own first, then admins, then the others; how and when they joined.
    let members = g.get(&format!("{c}/members"), head).await;
    assert_eq!(ids(&members), vec![pair(INBOX_NUMBER, "admin"), pair(BOB, "admin"), pair(ALICE, "member")]);
    assert_eq!(members["self_member"], INBOX_NUMBER);
    let items = members["items"].as_array().expect("items");
    assert_eq!(items[0]["joined_via"], "created");
    assert_eq!(items[0]["is_self"], true);
    assert_eq!((items[2]["joined_via"].as_str(), items[2]["display_name"].as_str()), (Some("added"), Some("Alice")));
    assert!(items[2]["joined_at"].is_string() && items[2]["joined_position"].is_i64());

    // Paginated: one member a page, following the cursor, gives the same list.
    let (mut paged, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let uri = match &cursor {
            Some(cursor) => format!("{c}/members?limit=1&cursor={cursor}"),
            None => format!("{c}/members?limit=1"),
        };
        let page = g.get(&uri, head).await;
        paged.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(paged, ids(&members));
    g.refused("GET", &format!("{c}/members?cursor=bogus"), None, StatusCode::UNPROCESSABLE_ENTITY, "validation").await;

    // Metadata and settings; promote, rename, remove; the invite link.
    let patch = json!({"subject": "Launch crew 2", "description": "", "settings": {"announce": true}});
    g.ok("PATCH", &format!("{c}/group"), Some(patch), StatusCode::OK).await;
    let promote = json!({"role": "admin", "display_name": "Alice L."});
    g.ok("PATCH", &format!("{c}/members/{ALICE}"), Some(promote), StatusCode::OK).await;
    g.ok("DELETE", &format!("{c}/members/{BOB}"), None, StatusCode::OK).await;
    let removed_again = g.ok("DELETE", &format!("{c}/members/{BOB}"), None, StatusCode::OK).await;
    let rotated = g.ok("POST", &format!("{c}/invite-link/rotate"), None, StatusCode::OK).await;
    let code = rotated.body["invite_code"].as_str().expect("a new invite code").to_owned();
    assert_ne!(code, "code-1");
    let head = rotated.body["position"].as_i64().expect("a position");
    assert!(head > removed_again.body["position"].as_i64().expect("a position"));

    let view = g.get(&c, head).await;
    let group = &view["group"];
    assert_eq!((group["subject"].as_str(), group["description"].as_str()), (Some("Launch crew 2"), None));
    assert_eq!(
        (group["settings"]["announce"].as_bool(), group["invite_code"].as_str()),
        (Some(true), Some(code.as_str()))
    );
    assert_eq!(group["member_count"], 2);
    let members = g.get(&format!("{c}/members"), head).await;
    assert_eq!(ids(&members), vec![pair(INBOX_NUMBER, "admin"), pair(ALICE, "admin")]);
    assert_eq!(members["items"][1]["display_name"], "Alice L.");

    // An inbound group message from a member, and a reply mentioning her: the timeline resolves
    // the mentions to the member's name now, also after a rename.
    let inbound = json!({"inbox_id": g.inbox_id, "group_id": "120363000000000001@g.us", "sender": ALICE,
                         "sent_at": g.t.clock_now(), "content": {"type": "text", "body": "@you hi"},
                         "mentions": [INBOX_NUMBER]});
    g.ok("POST", "/v1/inbound-messages", Some(inbound), StatusCode::CREATED).await;
    g.ok("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[ALICE])), StatusCode::CREATED).await;
    let renamed =
        g.ok("PATCH", &format!("{c}/members/{ALICE}"), Some(json!({"display_name": "Ali"})), StatusCode::OK).await;
    let timeline = g.get(&format!("{c}/messages"), renamed.body["position"].as_i64().expect("a position")).await;
    let items = timeline["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["sender"], ALICE);
    assert_eq!(items[0]["mentions"], json!([{"member_id": INBOX_NUMBER}]), "the inbox's member has no name");
    assert_eq!(items[1]["mentions"], json!([{"member_id": ALICE, "display_name": "Ali"}]));

    // Every change is in the log with its actor.
    let log = whole_log(&g.t.engine).await;
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    for expected in [
        "GroupCreated",
        "GroupInfoUpdated",
        "GroupSettingsChanged",
        "GroupMemberRoleChanged",
        "GroupMemberRenamed",
        "GroupMemberRemoved",
        "GroupInviteLinkRotated",
    ] {
        assert!(types.contains(&expected), "{expected} in {types:?}");
    }
    assert!(log.iter().filter(|e| e.event_type.starts_with("Group")).all(|e| e.payload["actor"]["id"] == "api"));
    assert_eq!(types.iter().filter(|t| **t == "GroupMemberRemoved").count(), 1, "removing twice wrote once");
    for name in ReadModels::<B>::NAMES {
        assert_eq!(g.read.verify(name, &g.t.engine.log, 10).await.expect("verify"), Vec::<String>::new(), "{name}");
    }
}

async fn every_group_rule_is_a_typed_rejection_that_writes_nothing<B: Backend>(backend: B) {
    let g = Group::new(backend).await;
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    // A group someone else created, with the inbox's member a plain member, in announce mode.
    let by_creator = json!({"kind": "contact", "id": CREATOR});
    let c = g
        .create(
            "group-announce",
            json!({"creator": CREATOR, "members": [Group::<B>::member(ALICE)], "actor": by_creator,
                   "settings": {"announce": true}, "invite_code": "code-1"}),
        )
        .await;
    g.refused("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[])), unprocessable, "announceOnly").await;
    // Member-add mode `admins` (the default): the inbox's member is not one.
    let add = json!({"members": [Group::<B>::member(BOB)]});
    g.refused("POST", &format!("{c}/members"), Some(add.clone()), StatusCode::FORBIDDEN, "notGroupAdmin").await;
    let promote = json!({"role": "admin"});
    g.refused("PATCH", &format!("{c}/members/{ALICE}"), Some(promote), StatusCode::FORBIDDEN, "notGroupAdmin").await;
    let settings = json!({"settings": {"announce": false}});
    g.refused("PATCH", &format!("{c}/group"), Some(settings), StatusCode::FORBIDDEN, "notGroupAdmin").await;
    g.refused("POST", &format!("{c}/invite-link/rotate"), None, StatusCode::FORBIDDEN, "notGroupAdmin").await;

    // Promoted on the phone by the creator: the inbox sends, adds, and mentions members only.
    let promote_inbox = json!({"role": "admin", "actor": by_creator});
    g.ok("PATCH", &format!("{c}/members/{INBOX_NUMBER}"), Some(promote_inbox), StatusCode::OK).await;
    g.ok("POST", &format!("{c}/members"), Some(add), StatusCode::OK).await;
    let stranger = g
        .refused("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[CAROL])), unprocessable, "mentionNotMember")
        .await;
    assert_eq!(stranger.body["member_id"], CAROL);
    g.ok("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[ALICE, BOB])), StatusCode::CREATED).await;

    // The creator can be neither demoted nor removed.
    let demote = json!({"role": "member"});
    g.refused("PATCH", &format!("{c}/members/{CREATOR}"), Some(demote), unprocessable, "creatorProtected").await;
    g.refused("DELETE", &format!("{c}/members/{CREATOR}"), None, unprocessable, "creatorProtected").await;
    g.refused(
        "PATCH",
        &format!("{c}/members/{CAROL}"),
        Some(json!({"role": "admin"})),
        StatusCode::NOT_FOUND,
        "notFound",
    )
    .await;

    // After rotating the link, the old code admits no one.
    g.ok("POST", &format!("{c}/invite-link/rotate"), Some(json!({"invite_code": "code-2"})), StatusCode::OK).await;
    let join = |code: &str| {
        json!({"members": [Group::<B>::member(CAROL)], "via": "invite_link", "invite_code": code,
               "actor": {"kind": "contact", "id": CAROL}})
    };
    g.refused("POST", &format!("{c}/members"), Some(join("code-1")), unprocessable, "inviteLinkRevoked").await;
    g.ok("POST", &format!("{c}/members"), Some(join("code-2")), StatusCode::OK).await;

    // Once the inbox has left, nothing can be sent or managed; the conversation stays readable.
    let left = g.ok("POST", &format!("{c}/leave"), None, StatusCode::OK).await;
    g.refused("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[])), unprocessable, "groupLeft").await;
    let add = json!({"members": [Group::<B>::member("+15550009")]});
    g.refused("POST", &format!("{c}/members"), Some(add), unprocessable, "groupLeft").await;
    g.refused("PATCH", &format!("{c}/group"), Some(json!({"subject": "x"})), unprocessable, "groupLeft").await;
    let head = left.body["position"].as_i64().expect("a position");
    let view = g.get(&c, head).await;
    assert_eq!((view["group"]["left"].as_bool(), view["group"]["self_is_admin"].as_bool()), (Some(true), Some(false)));
    let members = g.get(&format!("{c}/members"), head).await;
    assert!(!ids(&members).iter().any(|(id, _)| id == INBOX_NUMBER), "the inbox's member is out");
    assert_eq!(g.get(&format!("{c}/messages"), head).await["items"].as_array().map(Vec::len), Some(1));

    // Group commands on a direct conversation, and unknown groups.
    let inbound = json!({"inbox_id": g.inbox_id, "contact_id": "+4915100100", "sent_at": g.t.clock_now(),
                         "content": {"type": "text", "body": "hi"}});
    let direct = g.ok("POST", "/v1/inbound-messages", Some(inbound), StatusCode::CREATED).await;
    let d = format!("/v1/conversations/{}", direct.body["conversation_id"].as_str().expect("an id"));
    g.refused("POST", &format!("{d}/leave"), None, unprocessable, "notAGroup").await;
    let position = direct.body["position"].as_i64().expect("a position");
    let members = g.call("GET", &format!("{d}/members?min_position={position}"), None).await;
    assert_eq!(members.body["code"], "notAGroup");
    g.refused("POST", &format!("{d}/messages"), Some(Group::<B>::send(&[ALICE])), unprocessable, "validation").await;
    let nowhere = format!("/v1/conversations/{}", uuid::Uuid::now_v7());
    g.refused("POST", &format!("{nowhere}/leave"), None, StatusCode::NOT_FOUND, "notFound").await;
    let again =
        json!({"inbox_id": g.inbox_id, "group_id": "group-announce", "subject": "Again", "self_member": INBOX_NUMBER});
    g.refused("POST", "/v1/groups", Some(again), StatusCode::CONFLICT, "conflict").await;
}

async fn join_requests_wait_for_an_admin_when_the_group_approves_joins<B: Backend>(backend: B) {
    let g = Group::new(backend).await;
    let c = g.create("group-approval", json!({"settings": {"join_approval": true}, "invite_code": "code-1"})).await;
    // Joining through the link goes through a request.
    let via_link = json!({"members": [Group::<B>::member(BOB)], "via": "invite_link", "invite_code": "code-1",
                          "actor": {"kind": "contact", "id": BOB}});
    g.refused(
        "POST",
        &format!("{c}/members"),
        Some(via_link),
        StatusCode::UNPROCESSABLE_ENTITY,
        "joinApprovalRequired",
    )
    .await;
    let asked = g
        .ok(
            "POST",
            &format!("{c}/join-requests"),
            Some(json!({"member_id": BOB, "display_name": "Bob"})),
            StatusCode::CREATED,
        )
        .await;
    let bob_request = asked.body["request_id"].as_str().expect("a pending request").to_owned();
    let again = g.ok("POST", &format!("{c}/join-requests"), Some(json!({"member_id": BOB})), StatusCode::OK).await;
    assert_eq!(again.body["version"], asked.body["version"], "asking again while waiting writes nothing");
    let carol =
        g.ok("POST", &format!("{c}/join-requests"), Some(json!({"member_id": CAROL})), StatusCode::CREATED).await;
    let carol_request = carol.body["request_id"].as_str().expect("a pending request").to_owned();

    let pending = g.get(&format!("{c}/join-requests"), carol.body["position"].as_i64().expect("a position")).await;
    let waiting: Vec<&str> =
        pending["items"].as_array().expect("items").iter().filter_map(|r| r["member_id"].as_str()).collect();
    assert_eq!(waiting, vec![BOB, CAROL], "oldest first");
    assert_eq!(pending["items"][0]["display_name"], "Bob");

    g.ok("POST", &format!("{c}/join-requests/{bob_request}/approve"), None, StatusCode::OK).await;
    let rejected = g.ok("POST", &format!("{c}/join-requests/{carol_request}/reject"), None, StatusCode::OK).await;
    g.refused("POST", &format!("{c}/join-requests/{carol_request}/approve"), None, StatusCode::NOT_FOUND, "notFound")
        .await;
    let head = rejected.body["position"].as_i64().expect("a position");
    assert_eq!(g.get(&format!("{c}/join-requests"), head).await["items"], json!([]));
    let members = g.get(&format!("{c}/members"), head).await;
    assert_eq!(ids(&members), vec![pair(INBOX_NUMBER, "admin"), pair(BOB, "member")], "Carol was rejected");
    assert_eq!(members["items"][1]["joined_via"], "join_request");

    // Without approval, asking is joining through the link.
    g.ok("PATCH", &format!("{c}/group"), Some(json!({"settings": {"join_approval": false}})), StatusCode::OK).await;
    let joined = g.ok("POST", &format!("{c}/join-requests"), Some(json!({"member_id": CAROL})), StatusCode::OK).await;
    assert!(joined.body.get("request_id").is_none(), "{:?}", joined.body);
    let members = g.get(&format!("{c}/members"), joined.body["position"].as_i64().expect("a position")).await;
    assert_eq!(members["items"][2]["joined_via"], "invite_link");
}

async fn membership_is_known_at_any_past_position<B: Backend>(backend: B) {
    let g = Group::new(backend).await;
    let c = g.create("group-history", json!({"members": [Group::<B>::member(ALICE)]})).await;
    g.ok("POST", &format!("{c}/members"), Some(json!({"members": [Group::<B>::member(CAROL)]})), StatusCode::OK).await;
    let first = g.ok("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[ALICE])), StatusCode::CREATED).await;
    let when_first = first.body["position"].as_i64().expect("a position");
    g.ok("PATCH", &format!("{c}/members/{CAROL}"), Some(json!({"role": "admin"})), StatusCode::OK).await;
    // Alice leaves on her phone.
    let alice = json!({"actor": {"kind": "contact", "id": ALICE}});
    g.ok("DELETE", &format!("{c}/members/{ALICE}"), Some(alice), StatusCode::OK).await;
    let second = g.ok("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[CAROL])), StatusCode::CREATED).await;
    let when_second = second.body["position"].as_i64().expect("a position");

    // Who was in the group when each message was sent, with their role then.
    let then = g.get(&format!("{c}/members?at_position={when_first}"), when_second).await;
    assert_eq!(then["at_position"], when_first);
    assert_eq!(ids(&then), vec![pair(INBOX_NUMBER, "admin"), pair(ALICE, "member"), pair(CAROL, "member")]);
    let later = g.get(&format!("{c}/members?at_position={when_second}"), when_second).await;
    assert_eq!(ids(&later), vec![pair(INBOX_NUMBER, "admin"), pair(CAROL, "admin")]);
    assert_eq!(ids(&later), ids(&g.get(&format!("{c}/members"), when_second).await), "now is the latest position");
    let before = g.get(&format!("{c}/members?at_position=1"), when_second).await;
    assert_eq!(ids(&before), vec![], "before the group existed");
    // Alice's membership ended because she left.
    let log = whole_log(&g.t.engine).await;
    let removed = log.iter().find(|e| e.event_type == "GroupMemberRemoved").expect("Alice's departure");
    assert_eq!(
        (removed.payload["reason"].as_str(), removed.payload["actor"]["id"].as_str()),
        (Some("left"), Some(ALICE))
    );
    // A position beyond the log is refused, not waited for.
    let beyond = g.call("GET", &format!("{c}/members?at_position={}", when_second + 1_000_000_000), None).await;
    assert_eq!((beyond.status, beyond.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("at_position")));
    for name in ReadModels::<B>::NAMES {
        assert_eq!(g.read.verify(name, &g.t.engine.log, 10).await.expect("verify"), Vec::<String>::new(), "{name}");
    }
}

async fn an_activity_only_group_keeps_no_bodies_and_shows_an_unread_dot<B: Backend>(backend: B) {
    let g = Group::new(backend).await;
    let c = g.create("group-quiet", json!({"settings": {"activity_only": true}})).await;
    let created = g.head().await;
    let created_at = g.get(&c, created).await["last_activity_at"].clone();
    let summary = |p: i64| {
        let g = &g;
        async move { g.get("/v1/users/ada/unread-summary", p).await }
    };
    assert_eq!(summary(created).await["activity"], 0);

    g.t.clock.advance(chrono::Duration::minutes(5));
    let inbound = json!({"inbox_id": g.inbox_id, "group_id": "group-quiet", "sender": ALICE,
                         "sent_at": g.t.clock_now(), "content": {"type": "text", "body": "a secret body"}});
    let received = g.ok("POST", "/v1/inbound-messages", Some(inbound), StatusCode::CREATED).await;
    let head = received.body["position"].as_i64().expect("a position");
    assert!(
        !whole_log(&g.t.engine).await.iter().any(|e| e.payload.to_string().contains("secret")),
        "no message body is kept"
    );
    assert_eq!(g.get(&format!("{c}/messages"), head).await["items"], json!([]));
    let view = g.get(&c, head).await;
    assert!(view["last_activity_at"].as_str() > created_at.as_str(), "the activity moved it up the inbox");
    assert_eq!(
        view["group"]["last_group_activity_at"],
        g.t.clock_now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    );
    let dot = summary(head).await;
    assert_eq!((dot["activity"].as_u64(), dot["total"].as_u64()), (Some(1), Some(0)), "{dot}");
    assert_eq!(dot["inboxes"][0]["activity"], 1);

    // Opening it clears the dot; new activity brings it back.
    let seen = g.ok("POST", &format!("{c}/read"), Some(json!({"user_id": "ada"})), StatusCode::OK).await;
    assert_eq!(summary(seen.body["position"].as_i64().expect("a position")).await["activity"], 0);
    let seen_again = g.ok("POST", &format!("{c}/read"), Some(json!({"user_id": "ada"})), StatusCode::OK).await;
    assert_eq!(seen_again.body["version"], seen.body["version"], "seeing it again writes nothing");
    g.t.clock.advance(chrono::Duration::minutes(5));
    let activity = json!({"at": g.t.clock_now(), "messages": 3});
    let more = g.ok("POST", &format!("{c}/activity"), Some(activity), StatusCode::OK).await;
    assert_eq!(summary(more.body["position"].as_i64().expect("a position")).await["activity"], 1);
    assert_eq!(
        g.get("/v1/users/bob/unread-summary", more.body["position"].as_i64().expect("a position")).await["activity"],
        1
    );

    // Nothing can be sent into it; activity is refused for a group that keeps messages.
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    g.refused("POST", &format!("{c}/messages"), Some(Group::<B>::send(&[])), unprocessable, "activityOnly").await;
    let keeps = g.create("group-loud", json!({})).await;
    let activity = json!({"at": g.t.clock_now()});
    g.refused("POST", &format!("{keeps}/activity"), Some(activity), unprocessable, "validation").await;
    for name in ReadModels::<B>::NAMES {
        assert_eq!(g.read.verify(name, &g.t.engine.log, 10).await.expect("verify"), Vec::<String>::new(), "{name}");
    }
}
