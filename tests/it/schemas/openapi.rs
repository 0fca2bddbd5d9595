//! The OpenAPI document against the gateway: every answer matches it, the gateway serves the
//! committed document and a browsable reference, and the document refuses exactly the requests
//! the gateway refuses as malformed.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_answer_of_the_gateway_matches_the_openapi_document() {
    let db = TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let app = app(&t).await;
    let doc = Contract::committed();
    let now = t.clock_now();
    let agent = json!({"kind": "agent", "id": "ada"});
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);

    let inboxes = "/v1/inboxes";
    let inbox = exchange(
        &app,
        &doc,
        "POST",
        (inboxes, inboxes.into()),
        Some(json!({"name": "WA", "channel_type": "whatsapp"})),
        created,
    )
    .await;
    let inbox_id = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let inbound = json!({"inbox_id": inbox_id, "contact_id": "+49151", "display_name": "Ada", "channel_message_id": "wamid.1",
                         "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let first =
        exchange(&app, &doc, "POST", ("/v1/inbound-messages", "/v1/inbound-messages".into()), Some(inbound), created)
            .await;
    let id = first["conversation_id"].as_str().expect("a conversation id").to_owned();
    let inbound_id = first["message_id"].as_str().expect("a message id").to_owned();
    // The agent and the team the commands assign.
    let agents = ("/v1/agents", "/v1/agents".to_owned());
    let ada = json!({"agent_id": "ada", "name": "Ada", "email": "ada@example.com"});
    let registered = exchange(&app, &doc, "POST", agents.clone(), Some(ada), created).await;
    let teams = ("/v1/teams", "/v1/teams".to_owned());
    let billing = exchange(&app, &doc, "POST", teams.clone(), Some(json!({"name": "Billing"})), created).await;
    let billing = billing["team_id"].as_str().expect("a team id").to_owned();

    let c = |suffix: &str| {
        (format!("/v1/conversations/{{conversation_id}}{suffix}"), format!("/v1/conversations/{id}{suffix}"))
    };
    let send = json!({"actor": agent, "content": {"type": "text", "body": "hello"}});
    let (template, uri) = c("/messages");
    let sent = exchange(&app, &doc, "POST", (&template, uri), Some(send), created).await;
    let message_id = sent["message_id"].as_str().expect("a message id").to_owned();
    let m = |suffix: &str| {
        (
            format!("/v1/conversations/{{conversation_id}}/messages/{{message_id}}{suffix}"),
            format!("/v1/conversations/{id}/messages/{message_id}{suffix}"),
        )
    };
    let commands = [
        ("POST", m("/status"), Some(json!({"status": "delivered"}))),
        ("POST", m("/reactions"), Some(json!({"actor": agent, "emoji": "👍"}))),
        ("PATCH", m(""), Some(json!({"actor": agent, "content": {"type": "text", "body": "hello!"}}))),
        ("PUT", c("/assignee"), Some(json!({"agent_id": "ada"}))),
        ("PUT", c("/team"), Some(json!({"team_id": billing}))),
        ("POST", c("/read"), Some(json!({"user_id": "bob", "message_id": inbound_id}))),
        ("POST", c("/status"), Some(json!({"status": "snoozed", "snoozed_until": now + Duration::hours(2)}))),
        ("POST", c("/archive"), None),
        ("POST", c("/unarchive"), Some(json!({"actor": agent}))),
        ("DELETE", c("/team"), None),
    ];
    let mut position = 0;
    for (method, (template, uri), body) in commands {
        let answer = exchange(&app, &doc, method, (&template, uri), body, ok).await;
        position = answer["position"].as_i64().expect("a position");
    }

    let min = format!("min_position={position}");
    let (template, uri) = c("");
    let queries = [
        (inboxes.to_owned(), format!("{inboxes}?{min}")),
        ("/v1/conversations".to_owned(), format!("/v1/conversations?archived=any&{min}")),
        (template.clone(), format!("{uri}?{min}")),
        (c("/window").0, format!("{}?actor=BOT&{min}", c("/window").1)),
        (c("/messages").0, format!("{}?order=desc&{min}", c("/messages").1)),
        (c("/messages").0, format!("{}?limit=1&{min}", c("/messages").1)),
        ("/v1/users/{user_id}/unread-summary".to_owned(), format!("/v1/users/bob/unread-summary?{min}")),
        ("/v1/events".to_owned(), "/v1/events?after=0&limit=5".to_owned()),
        ("/v1/events".to_owned(), "/v1/events?cursor=1&limit=2".to_owned()),
        (c("/events").0, c("/events").1),
        (c("/events").0, format!("{}?limit=1", c("/events").1)),
        ("/v1/keys".to_owned(), "/v1/keys".to_owned()),
    ];
    for (template, uri) in queries {
        exchange(&app, &doc, "GET", (&template, uri), None, ok).await;
    }
    let paged = call(&app, "GET", "/v1/events?cursor=1&limit=2", None).await;
    assert_eq!(paged.link.as_deref(), Some("</v1/events?limit=2&cursor=3>; rel=\"next\""), "{}", paged.body);
    let summary = call(&app, "GET", "/v1/users/bob/unread-summary", None).await;
    assert_eq!(summary.body["total"], 0, "bob read the only inbound message: {}", summary.body);

    // Webhooks: an endpoint with its secret, the endpoints, one, and the attempt log.
    let webhooks = ("/v1/webhooks", "/v1/webhooks".to_owned());
    let hook = json!({"url": "https://receiver.test/hook", "event_types": ["MessageSent"], "inbox_id": inbox_id});
    let hook = exchange(&app, &doc, "POST", webhooks.clone(), Some(hook), created).await;
    let hook_id = hook["endpoint_id"].as_str().expect("an endpoint id").to_owned();
    let sql = convo_store::Backend::sql(&t.engine.backend);
    crate::webhooks_api::record_attempt(&sql, crate::support::API_WS, &hook_id, position, 1, false).await;
    crate::webhooks_api::record_attempt(&sql, crate::support::API_WS, &hook_id, position, 2, true).await;
    let one = ("/v1/webhooks/{webhook_id}", format!("/v1/webhooks/{hook_id}"));
    let attempts = "/v1/webhooks/attempts";
    for (template, uri) in [
        webhooks.clone(),
        ("/v1/webhooks", "/v1/webhooks?limit=1".to_owned()),
        one.clone(),
        (attempts, attempts.to_owned()),
        (attempts, format!("{attempts}?webhook_id={hook_id}&status=failed&position={position}&limit=1")),
        (attempts, format!("{attempts}?limit=1")),
    ] {
        exchange(&app, &doc, "GET", (template, uri), None, ok).await;
    }
    let ghost_hook = ("/v1/webhooks/{webhook_id}", format!("/v1/webhooks/{}", Uuid::now_v7()));
    exchange(&app, &doc, "GET", ghost_hook, None, StatusCode::NOT_FOUND).await;
    for refused in [
        json!({"url": "ftp://receiver.test/hook"}),
        json!({"url": "https://user:pass@receiver.test/hook"}),
        json!({"url": "https://receiver.test/hook", "event_types": ["NoSuchEvent"]}),
    ] {
        exchange(&app, &doc, "POST", webhooks.clone(), Some(refused), StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let on_ghost = json!({"url": "https://receiver.test/hook", "inbox_id": Uuid::now_v7()});
    exchange(&app, &doc, "POST", webhooks, Some(on_ghost), StatusCode::NOT_FOUND).await;

    // The directory: agents, teams and their agents, an inbox's team, who may take a
    // conversation; and what each refuses.
    let one_agent = |id: &str| ("/v1/agents/{agent_id}", format!("/v1/agents/{id}"));
    let eve = json!({"agent_id": "eve", "name": "Eve", "email": "eve@example.com", "role": "administrator"});
    exchange(&app, &doc, "POST", agents.clone(), Some(eve), created).await;
    let taken = json!({"agent_id": "ada", "name": "Ada again"});
    let conflict = exchange(&app, &doc, "POST", agents.clone(), Some(taken), StatusCode::CONFLICT).await;
    assert_eq!(conflict["code"], "conflict");
    let owner = json!({"agent_id": "zed", "name": "Zed", "role": "owner"});
    exchange(&app, &doc, "POST", agents.clone(), Some(owner), StatusCode::UNPROCESSABLE_ENTITY).await;
    let change = json!({"name": "Ada Lovelace", "email": null, "role": "administrator", "availability": "online"});
    exchange(&app, &doc, "PATCH", one_agent("ada"), Some(change), ok).await;
    exchange(&app, &doc, "PATCH", one_agent("eve"), Some(json!({"active": false})), ok).await;
    let busy = json!({"availability": "busy"});
    let refused = exchange(&app, &doc, "PATCH", one_agent("eve"), Some(busy), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["code"], "agentDeactivated");
    exchange(&app, &doc, "PATCH", one_agent("nobody"), Some(json!({"name": "Nobody"})), StatusCode::NOT_FOUND).await;

    let sales = exchange(&app, &doc, "POST", teams.clone(), Some(json!({"name": "Sales"})), created).await;
    let sales = sales["team_id"].as_str().expect("a team id").to_owned();
    let team = |suffix: &str| (format!("/v1/teams/{{team_id}}{suffix}"), format!("/v1/teams/{sales}{suffix}"));
    let member = |agent_id: &str| {
        ("/v1/teams/{team_id}/agents/{agent_id}".to_owned(), format!("/v1/teams/{sales}/agents/{agent_id}"))
    };
    let ghost_team = Uuid::now_v7();
    let (template, uri) = team("");
    exchange(&app, &doc, "PATCH", (&template, uri), Some(json!({"name": "Sales EMEA"})), ok).await;
    let renamed = (template.clone(), format!("/v1/teams/{ghost_team}"));
    exchange(&app, &doc, "PATCH", (&renamed.0, renamed.1), Some(json!({"name": "x"})), StatusCode::NOT_FOUND).await;
    for agent_id in ["ada", "eve"] {
        let (template, uri) = member(agent_id);
        exchange(&app, &doc, "PUT", (&template, uri), None, ok).await;
    }
    let (template, uri) = member("eve");
    exchange(&app, &doc, "DELETE", (&template, uri), None, ok).await;
    let (template, uri) = member("nobody");
    exchange(&app, &doc, "PUT", (&template, uri), None, StatusCode::NOT_FOUND).await;
    let ghost_member = ("/v1/teams/{team_id}/agents/{agent_id}", format!("/v1/teams/{ghost_team}/agents/ada"));
    exchange(&app, &doc, "DELETE", ghost_member, None, StatusCode::NOT_FOUND).await;

    let inbox_team = ("/v1/inboxes/{inbox_id}/team", format!("/v1/inboxes/{inbox_id}/team"));
    exchange(&app, &doc, "PUT", inbox_team.clone(), Some(json!({"team_id": sales})), ok).await;
    let unknown = json!({"team_id": ghost_team});
    exchange(&app, &doc, "PUT", inbox_team.clone(), Some(unknown.clone()), StatusCode::NOT_FOUND).await;
    let ghost_inbox = ("/v1/inboxes/{inbox_id}/team", format!("/v1/inboxes/{}/team", Uuid::now_v7()));
    exchange(&app, &doc, "DELETE", ghost_inbox, None, StatusCode::NOT_FOUND).await;
    let (template, uri) = c("/assignee");
    let deactivated = json!({"agent_id": "eve"});
    let refused =
        exchange(&app, &doc, "PUT", (&template, uri), Some(deactivated), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["code"], "agentDeactivated");
    let (template, uri) = c("/assignee");
    let nobody = json!({"agent_id": "nobody"});
    exchange(&app, &doc, "PUT", (&template, uri), Some(nobody), StatusCode::NOT_FOUND).await;
    let (template, uri) = c("/team");
    exchange(&app, &doc, "PUT", (&template, uri), Some(unknown), StatusCode::NOT_FOUND).await;
    exchange(&app, &doc, "DELETE", inbox_team.clone(), None, ok).await;
    let set = exchange(&app, &doc, "PUT", inbox_team, Some(json!({"team_id": sales})), ok).await;

    let min = format!("min_position={}", set["position"].as_i64().expect("a position"));
    let assignable = c("/assignable-agents");
    for (template, uri) in [
        (agents.0.to_owned(), format!("/v1/agents?{min}")),
        (agents.0.to_owned(), format!("/v1/agents?active=true&availability=online&team_id={sales}&limit=1&{min}")),
        (agents.0.to_owned(), format!("/v1/agents?active=false&{min}")),
        (agents.0.to_owned(), format!("/v1/agents?limit=1&{min}")),
        (one_agent("ada").0.to_owned(), format!("{}?{min}", one_agent("ada").1)),
        (one_agent("ada").0.to_owned(), format!("{}?at_position={}", one_agent("ada").1, registered["position"])),
        (teams.0.to_owned(), format!("/v1/teams?{min}")),
        (teams.0.to_owned(), format!("/v1/teams?limit=1&{min}")),
        (team("").0, format!("{}?{min}", team("").1)),
        (team("/agents").0, format!("{}?{min}", team("/agents").1)),
        (assignable.0.clone(), format!("{}?{min}", assignable.1)),
        (assignable.0.clone(), format!("{}?limit=1&{min}", assignable.1)),
    ] {
        exchange(&app, &doc, "GET", (&template, uri), None, ok).await;
    }
    let listed = call(&app, "GET", &format!("/v1/agents?{min}"), None).await.body;
    let ids: Vec<&str> =
        listed["items"].as_array().into_iter().flatten().filter_map(|a| a["agent_id"].as_str()).collect();
    assert_eq!(ids, ["ada", "eve"], "{listed}");
    let members = call(&app, "GET", &format!("{}?{min}", assignable.1), None).await.body;
    let members: Vec<&str> =
        members["items"].as_array().into_iter().flatten().filter_map(|a| a["agent_id"].as_str()).collect();
    assert_eq!(members, ["ada"], "the active agents of the inbox's team");
    let ghost_conversation = Uuid::now_v7();
    for (template, uri) in [
        (one_agent("nobody").0.to_owned(), one_agent("nobody").1),
        (
            one_agent("ada").0.to_owned(),
            format!("{}?at_position={}", one_agent("ada").1, registered["position"].as_i64().unwrap_or(1) - 1),
        ),
        (team("").0, format!("/v1/teams/{ghost_team}")),
        (team("/agents").0, format!("/v1/teams/{ghost_team}/agents")),
        (assignable.0.clone(), format!("/v1/conversations/{ghost_conversation}/assignable-agents")),
    ] {
        exchange(&app, &doc, "GET", (&template, uri), None, StatusCode::NOT_FOUND).await;
    }

    // Problems, each with its documented status and the problem shape.
    let ghost = Uuid::now_v7();
    let ghost_c = ("/v1/conversations/{conversation_id}".to_owned(), format!("/v1/conversations/{ghost}"));
    exchange(&app, &doc, "GET", (&ghost_c.0, ghost_c.1), None, StatusCode::NOT_FOUND).await;
    let too_late = json!({"actor": {"kind": "bot", "id": "b"}, "content": {"type": "text", "body": "late"}});
    t.clock.advance(Duration::hours(25));
    let (template, uri) = c("/messages");
    let refused =
        exchange(&app, &doc, "POST", (&template, uri), Some(too_late), StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(refused["code"], "messagingWindowClosed");
    let bad = json!({"inbox_id": inbox_id, "sent_at": now, "content": {"type": "text", "body": "hi"}});
    exchange(
        &app,
        &doc,
        "POST",
        ("/v1/inbound-messages", "/v1/inbound-messages".into()),
        Some(bad),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    let (template, uri) = c("/window");
    let window = exchange(&app, &doc, "GET", (&template, uri), None, ok).await;
    assert_eq!(window["state"], "CLOSED");
    assert_eq!(serde_json::to_value(WindowActor::Agent).expect("json"), window["forActor"]);

    // The unread summary's schema is restated in the gateway: check a real one with inboxes.
    let summary = convo_read::UnreadSummary {
        user_id: "bob".into(),
        total: 2,
        conversations: 1,
        activity: 1,
        inboxes: vec![convo_read::InboxUnread { inbox_id: Uuid::nil(), unread: 2, conversations: 1, activity: 0 }],
        version: 7,
    };
    let schema = doc.standalone(&json!({"$ref": "#/$defs/UnreadSummary"}));
    let summary = serde_json::to_value(summary).expect("json");
    assert_eq!(errors(&validator(&schema), &summary), Vec::<String>::new());
}

#[tokio::test]
async fn the_gateway_serves_its_committed_openapi_document_and_a_browsable_reference() {
    let db = TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let router = convo_gateway::router(
        t.engine.clone(),
        crate::support::read_models(&t),
        &convo_gateway::GatewayConfig::default(),
    );
    // No API key: the contract is public.
    let get = |uri: &str| Request::builder().uri(uri).body(Body::empty()).expect("a request");
    let response = router.clone().oneshot(get("/openapi.json")).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
    let served = String::from_utf8_lossy(&bytes);
    assert!(served == read(Path::new("schemas/openapi.json")), "/openapi.json is not schemas/openapi.json");
    let spec: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(spec["openapi"], "3.1.0");

    let response = router.oneshot(get("/docs")).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
    let html = String::from_utf8_lossy(&bytes);
    assert!(html.contains("<html") && html.contains("/v1/inbound-messages"), "the reference embeds the document");
}

/// The document and the gateway agree on what is well formed: each request here that the
/// gateway refuses as `validation` the document refuses too, and each it takes the document
/// takes. (Rules on stored state, the clock or another query parameter are the exceptions the
/// descriptions state; they are not here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_document_refuses_exactly_the_requests_the_gateway_refuses_as_malformed() {
    let db = TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let app = app(&t).await;
    let doc = Contract::committed();
    let now = t.clock_now();

    let inbox = call(&app, "POST", "/v1/inboxes", Some(json!({"name": "WA", "channel_type": "whatsapp"}))).await;
    let inbox_id = inbox.body["inbox_id"].clone();
    let direct = json!({"inbox_id": inbox_id, "contact_id": "+49151", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let first = call(&app, "POST", "/v1/inbound-messages", Some(direct.clone())).await;
    let id = first.body["conversation_id"].as_str().expect("a conversation").to_owned();
    let agent = json!({"kind": "agent", "id": "ada"});
    let sent = call(
        &app,
        "POST",
        &format!("/v1/conversations/{id}/messages"),
        Some(json!({"actor": agent, "content": {"type": "text", "body": "hello"}})),
    )
    .await;
    let message = sent.body["message_id"].as_str().expect("a message").to_owned();

    let with = |base: &Value, changes: Value| {
        let mut body = base.clone();
        for (key, value) in changes.as_object().into_iter().flatten() {
            if value.is_null() {
                body.as_object_mut().map(|o| o.remove(key));
            } else {
                body[key] = value.clone();
            }
        }
        body
    };
    let text = |body: &str| json!({"type": "text", "body": body});
    let inbox_body = json!({"name": "SMS", "channel_type": "sms"});
    let policy = |agent: Value| json!({"agent_window_secs": agent, "templates": "unsupported", "interactive": true});
    let c = |suffix: &str| {
        (format!("/v1/conversations/{{conversation_id}}{suffix}"), format!("/v1/conversations/{id}{suffix}"))
    };
    let m = |suffix: &str| {
        (
            format!("/v1/conversations/{{conversation_id}}/messages/{{message_id}}{suffix}"),
            format!("/v1/conversations/{id}/messages/{message}{suffix}"),
        )
    };
    let inbound = ("/v1/inbound-messages".to_owned(), "/v1/inbound-messages".to_owned());
    let inboxes = ("/v1/inboxes".to_owned(), "/v1/inboxes".to_owned());
    let webhooks = ("/v1/webhooks".to_owned(), "/v1/webhooks".to_owned());
    let blanks = ["", " ", "\u{3000}\t", "\u{85}\u{a0}"];

    // Refused bodies: (method, (template, uri), body).
    let mut refused = vec![
        ("POST", inboxes.clone(), with(&inbox_body, json!({"name": "x".repeat(201)}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"name": format!(" {}", "x".repeat(200))}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": policy(json!(0))}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": policy(json!(315_360_001))}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": policy(json!(1.5))}))),
        ("POST", inbound.clone(), with(&direct, json!({"contact_id": null}))),
        ("POST", inbound.clone(), with(&direct, json!({"group_id": "g"}))),
        ("POST", inbound.clone(), with(&direct, json!({"contact_id": null, "group_id": "g"}))),
        ("POST", inbound.clone(), with(&direct, json!({"contact_id": "x".repeat(201)}))),
        ("POST", inbound.clone(), with(&direct, json!({"content": text(&"x".repeat(4097))}))),
        (
            "POST",
            inbound.clone(),
            with(&direct, json!({"content": {"type": "media", "url": "", "mime_type": "image/png"}})),
        ),
        ("POST", inbound.clone(), with(&direct, json!({"content": {"type": "interactive", "body": "pick"}}))),
        (
            "POST",
            inbound.clone(),
            with(&direct, json!({"content": {"type": "interactive", "body": "pick", "buttons": [], "list": []}})),
        ),
        ("POST", c("/messages"), json!({"actor": {"kind": "contact", "id": "+49151"}, "content": text("x")})),
        ("POST", c("/messages"), json!({"actor": {"kind": "system", "id": "api"}, "content": text("x")})),
        ("POST", m("/status"), json!({"status": "accepted"})),
        ("POST", m("/status"), json!({"status": "failed"})),
        ("POST", m("/status"), json!({"status": "delivered", "failure": {"code": "1"}})),
        ("POST", m("/reactions"), json!({"actor": agent, "emoji": "x".repeat(17)})),
        ("PATCH", m(""), json!({"actor": agent, "content": {"type": "template", "name": "t", "language": "en"}})),
        ("PUT", c("/assignee"), json!({"agent_id": "x".repeat(201)})),
        ("POST", c("/status"), json!({"status": "snoozed"})),
        ("POST", c("/status"), json!({"status": "open", "snoozed_until": now + Duration::hours(1)})),
        ("POST", ("/v1/keys".to_owned(), "/v1/keys".to_owned()), json!({"scopes": []})),
        ("POST", webhooks.clone(), json!({"url": "not a url"})),
        ("POST", webhooks.clone(), json!({"url": "ftp://receiver.test/hook"})),
        ("POST", webhooks.clone(), json!({"url": "https://user:pass@receiver.test/hook"})),
        ("POST", webhooks.clone(), json!({"url": "https://user@receiver.test/hook"})),
        ("POST", webhooks.clone(), json!({"url": "https://receiver.test/hook", "event_types": ["messageSent"]})),
        ("POST", webhooks.clone(), json!({"url": "https://receiver.test/hook", "inbox_id": "not-a-uuid"})),
        // An object, at any depth, is an object: serde alone reads a struct from an array of
        // its fields too.
        ("POST", c("/archive"), json!([null])),
        ("PUT", c("/assignee"), json!(["ada", null])),
        ("PUT", c("/assignee"), json!({"agent_id": "ada", "actor": ["agent", "ada"]})),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": [null, null, "unsupported", true]}))),
    ];
    for blank in blanks {
        refused.extend([
            ("POST", inboxes.clone(), with(&inbox_body, json!({"name": blank}))),
            ("POST", inbound.clone(), with(&direct, json!({"contact_id": blank}))),
            ("POST", inbound.clone(), with(&direct, json!({"contact_id": null, "group_id": "g", "sender": blank}))),
            ("POST", inbound.clone(), with(&direct, json!({"content": text(blank)}))),
            (
                "POST",
                inbound.clone(),
                with(&direct, json!({"content": {"type": "template", "name": "t", "language": blank}})),
            ),
            ("POST", m("/status"), json!({"status": "failed", "failure": {"code": blank}})),
            ("PUT", c("/assignee"), json!({"agent_id": blank})),
            ("PUT", c("/team"), json!({"team_id": blank})),
            ("POST", c("/read"), json!({"user_id": blank, "message_id": message})),
            ("PATCH", m(""), json!({"actor": agent, "content": text(blank)})),
        ]);
    }
    for (method, (template, uri), body) in refused {
        let reply = call(&app, method, &uri, Some(body.clone())).await;
        assert_eq!(
            (reply.status, reply.body["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")),
            "{method} {uri} {body}: {}",
            reply.body
        );
        doc.check(method, &template, Some(&body), reply.status, &reply.content_type, &reply.body);
    }

    // Taken bodies, at the edges of what is allowed.
    let taken = [
        ("POST", inboxes.clone(), with(&inbox_body, json!({"name": format!(" {} ", "x".repeat(198))}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": policy(json!(315_360_000))}))),
        ("POST", inboxes.clone(), with(&inbox_body, json!({"policy": policy(json!(60.0))}))),
        (
            "POST",
            inbound.clone(),
            with(&direct, json!({"contact_id": "+49152", "content": text(&"x".repeat(4096)), "group_id": Value::Null})),
        ),
        ("POST", inbound.clone(), with(&direct, json!({"contact_id": null, "group_id": "g", "sender": "+49153"}))),
        (
            "POST",
            inbound.clone(),
            with(
                &direct,
                json!({"contact_id": "+49154", "content": {"type": "interactive", "body": "pick", "list": [{"id": "a", "title": "A"}]}}),
            ),
        ),
        ("POST", m("/reactions"), json!({"actor": agent, "emoji": ""})),
        ("POST", m("/status"), json!({"status": "failed", "failure": {"code": "131047"}})),
        ("POST", c("/archive"), Value::Null),
        ("POST", webhooks.clone(), json!({"url": "http://127.0.0.1:9/hook", "event_types": ["AgentAssigned"]})),
        ("POST", webhooks.clone(), json!({"url": "HTTPS://Receiver.test", "enabled": false, "inbox_id": inbox_id})),
    ];
    for (method, (template, uri), body) in taken {
        let reply = call(&app, method, &uri, Some(body.clone())).await;
        assert!(reply.status.is_success(), "{method} {uri} {body}: {}", reply.body);
        doc.check(method, &template, Some(&body), reply.status, &reply.content_type, &reply.body);
    }

    // Parameters: (template, uri with its query, headers, whether the gateway takes them).
    let conversations = "/v1/conversations";
    let messages = "/v1/conversations/{conversation_id}/messages";
    let events = "/v1/events";
    let inboxes_list = "/v1/inboxes";
    let keys = "/v1/keys";
    let window = "/v1/conversations/{conversation_id}/window";
    let summary = "/v1/users/{user_id}/unread-summary";
    let webhooks_list = "/v1/webhooks";
    let attempts = "/v1/webhooks/attempts";
    let cursor = format!("c1{}", "0a".repeat(24));
    let position: &[(&str, &str)] = &[("X-Convo-Min-Position", "0")];
    let cases: Vec<(&str, String, Headers, bool)> = vec![
        (conversations, "?limit=0".into(), &[], false),
        (conversations, "?limit=201".into(), &[], false),
        (conversations, "?limit=200&archived=any&sort=%2Bcreated_at".into(), position, true),
        (conversations, "?archived=maybe".into(), &[], false),
        (conversations, "?sort=-name".into(), &[], false),
        (conversations, "?sort=%2B%2Bcreated_at".into(), &[], false),
        (conversations, "?sort=created_at".into(), &[], true),
        (conversations, "?sort=-last_activity_at".into(), &[], true),
        (conversations, "?cursor=abc".into(), &[], false),
        (conversations, format!("?cursor=c1%2B{}", &cursor[3..]), &[], false),
        (conversations, format!("?cursor={}", cursor.to_uppercase().replacen('C', "c", 1)), &[], true),
        (conversations, "?min_position=-1".into(), &[], false),
        (conversations, "".into(), &[("X-Convo-Min-Position", "-1")], false),
        (conversations, "".into(), &[("X-Convo-Min-Position", "1.5")], false),
        (conversations, "?user_id=%20".into(), &[], false),
        (conversations, format!("?user_id={}", "u".repeat(201)), &[], false),
        (conversations, "?unread_only=true&user_id=ada".into(), &[], true),
        (messages, "?order=up".into(), &[], false),
        (messages, "?order=desc&cursor=0&limit=1".into(), &[], true),
        (messages, "?cursor=999999999999999999".into(), &[], true),
        (messages, "?cursor=1000000000000000000".into(), &[], false),
        (messages, "?cursor=-1".into(), &[], false),
        (messages, "?cursor=%2B1".into(), &[], false),
        (messages, "?after=0".into(), &[], false),
        (messages, "?limit=201".into(), &[], false),
        (messages, "?limit=%2B5".into(), &[], false),
        (events, "?limit=0".into(), &[], false),
        (events, "?limit=1001".into(), &[], false),
        (events, "?limit=1000&after=0".into(), &[], true),
        (events, "?limit=1000&cursor=0".into(), &[], true),
        (events, "?after=-1".into(), &[], false),
        (events, "?after=1000000000000000000".into(), &[], false),
        (events, "?cursor=c1".into(), &[], false),
        (inboxes_list, "?limit=200".into(), &[], true),
        (inboxes_list, "?limit=201".into(), &[], false),
        (inboxes_list, format!("?cursor=i1{}", "0a".repeat(16)), &[], true),
        (inboxes_list, format!("?cursor={}", "0a".repeat(16)), &[], false),
        (inboxes_list, format!("?cursor=i1{}", "0A".repeat(16)), &[], false),
        (keys, "?cursor=k10123456789abcdef".into(), &[], true),
        (keys, "?cursor=k1".into(), &[], false),
        (keys, "?limit=0".into(), &[], false),
        (webhooks_list, format!("?cursor=w1{}", "0a".repeat(16)), &[], true),
        (webhooks_list, format!("?cursor=i1{}", "0a".repeat(16)), &[], false),
        (webhooks_list, "?limit=201".into(), &[], false),
        (attempts, "?status=failed&position=1&cursor=7&limit=200".into(), &[], true),
        (attempts, format!("?webhook_id={}", Uuid::nil()), &[], true),
        (attempts, "?status=maybe".into(), &[], false),
        (attempts, "?webhook_id=not-an-id".into(), &[], false),
        (attempts, "?position=ten".into(), &[], false),
        (attempts, "?cursor=w1".into(), &[], false),
        (attempts, "?surprise=1".into(), &[], false),
        (window, "?actor=agent".into(), &[], true),
        (window, "?actor=Bot".into(), &[], true),
        (window, "?actor=AGENT".into(), &[], true),
        (window, "?actor=human".into(), &[], false),
        (window, "?actor=".into(), &[], false),
    ];
    let mut cases: Vec<(String, String, Headers, bool)> = cases
        .into_iter()
        .map(|(template, query, headers, ok)| {
            (template.to_owned(), format!("{}{query}", template.replace("{conversation_id}", &id)), headers, ok)
        })
        .collect();
    cases.push((summary.into(), "/v1/users/%20/unread-summary".into(), &[], false));
    cases.push((summary.into(), format!("/v1/users/{}/unread-summary", "u".repeat(201)), &[], false));
    cases.push((summary.into(), format!("/v1/users/{}/unread-summary", "u".repeat(200)), &[], true));
    for (template, uri, headers, ok) in cases {
        let mut request = Request::get(&uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let reply = raw(&app, request.body(Body::empty()).expect("a request")).await;
        let problems = doc.parameter_errors("GET", &template, &uri, headers);
        if ok {
            assert_eq!(reply.status, StatusCode::OK, "{uri} {headers:?}: {}", reply.body);
            assert_eq!(problems, Vec::<String>::new(), "{uri} {headers:?}");
        } else {
            assert_eq!(
                (reply.status, reply.body["code"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")),
                "{uri} {headers:?}: {}",
                reply.body
            );
            assert!(!problems.is_empty(), "{uri} {headers:?} is refused, but valid for the document");
        }
    }
}
