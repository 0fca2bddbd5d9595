//! A key of another workspace, on every route the gateway serves (the table below is checked
//! against the router): 404 wherever it names one of our resources, exactly as for an id that
//! exists nowhere, and nothing of ours in any list or stream.

use super::*;

on_both_backends!(a_key_of_another_workspace_sees_and_changes_nothing_of_this_one,);

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
    // A webhook endpoint on our inbox, with an attempt in the attempt log.
    let hook = json!({"url": "https://our-receiver.example/hook", "description": "our secret receiver",
                      "inbox_id": our_inbox});
    let hook = created(&ours, "/v1/webhooks", hook).await;
    let our_webhook = hook["endpoint_id"].as_str().expect("an endpoint id").to_owned();
    let our_webhook_secret = hook["secret"].as_str().expect("a secret").to_owned();
    let sql = t.engine.backend.sql();
    crate::webhooks_api::record_attempt(&sql, API_WS, &our_webhook, position(&sent), 1, true).await;
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
    // Our directory: an agent and a team.
    let our_agent = created(&ours, "/v1/agents", json!({"agent_id": "our-agent", "name": "Our agent"})).await;
    let our_agent = our_agent["agent_id"].as_str().expect("an agent id").to_owned();
    let our_team = created(&ours, "/v1/teams", json!({"name": "Our team"})).await;
    // And a label on our conversation.
    let labelled =
        call(&ours, "PUT", &format!("/v1/conversations/{our_conversation}/labels/our-label-mark"), None).await;
    assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.body);
    // And a note mentioning our agent.
    let note = json!({"actor": {"kind": "agent", "id": "ada"}, "body": "our-note-mark", "mentions": [our_agent]});
    let noted = call(&ours, "POST", &format!("/v1/conversations/{our_conversation}/notes"), Some(note)).await;
    assert_eq!(noted.status, StatusCode::CREATED, "{}", noted.body);
    // And a custom attribute for our conversations.
    let our_attribute =
        json!({"model": "conversation", "key": "our_attr_mark", "name": "Our attribute", "type": "text"});
    let our_attribute = created(&ours, "/v1/attribute-definitions", our_attribute).await;
    let directory_head =
        position(&our_team).max(position(&labelled.body)).max(position(&noted.body)).max(position(&our_attribute));
    let our_team = our_team["team_id"].as_str().expect("a team id").to_owned();
    let ids = Ids {
        attribute: "our_attr_mark".into(),
        agent: our_agent.clone(),
        team: our_team.clone(),
        group,
        member: "+4915100010".into(),
        approved,
        rejected,
        conversation: our_conversation.clone(),
        inbound: inbound["message_id"].as_str().expect("a message id").to_owned(),
        outbound: sent["message_id"].as_str().expect("a message id").to_owned(),
        inbox: our_inbox.clone(),
        key: deploy["key_id"].as_str().expect("a key id").to_owned(),
        webhook: our_webhook.clone(),
        contact: inbound["contact_id"].as_str().expect("the sender's contact").to_owned(),
        other_contact: created(&ours, "/v1/contacts", json!({"name": "Our other contact"})).await["contact_id"]
            .as_str()
            .expect("a contact id")
            .to_owned(),
    };
    let mut our_version = sent["version"].as_i64().expect("a version");
    let mut head = position(&sent).max(group_head).max(directory_head);
    let our_keys = call(&ours, "GET", "/v1/keys", None).await.body["items"].clone();
    // Whatever names or shows something of ours.
    let mut ours_marks: Vec<String> = vec![
        API_WS.to_string(),
        ids.conversation.clone(),
        ids.inbound.clone(),
        ids.outbound.clone(),
        ids.inbox.clone(),
        ids.contact.clone(),
        "+4915100001".into(),
        "our secret".into(),
        "Our support".into(),
    ];
    ours_marks
        .extend(our_keys.as_array().into_iter().flatten().filter_map(|k| k["key_id"].as_str()).map(str::to_owned));
    assert_eq!(ours_marks.len(), 9 + 2, "our two keys: {our_keys}");
    ours_marks.extend([our_webhook.clone(), our_webhook_secret, "our-receiver.example".into()]);
    ours_marks.extend([our_agent.clone(), "Our agent".into(), our_team.clone(), "Our team".into()]);
    ours_marks.push(our_identity()["value"].as_str().expect("an identity").to_owned());
    ours_marks.extend(["our-label-mark".into(), "our-note-mark".into(), "our_attr_mark".into()]);

    // Their workspace has its own inbox and conversation.
    let their_inbox =
        created(&theirs, "/v1/inboxes", json!({"name": "Their desk", "channel_type": "sms"})).await["inbox_id"].clone();
    let their_inbox = their_inbox.as_str().expect("an inbox id").to_owned();
    let theirs_inbound = json!({"inbox_id": their_inbox, "contact_id": "+4915100002", "sent_at": now,
                                "content": {"type": "text", "body": "their hello"}});
    let their_message = created(&theirs, "/v1/inbound-messages", theirs_inbound).await;
    let their_conversation = their_message["conversation_id"].as_str().expect("a conversation id").to_owned();
    let their_contact = their_message["contact_id"].as_str().expect("their sender's contact").to_owned();
    let their_webhook = json!({"url": "https://their-receiver.example/hook", "inbox_id": their_inbox});
    let their_webhook = created(&theirs, "/v1/webhooks", their_webhook).await["endpoint_id"].clone();
    let their_webhook = their_webhook.as_str().expect("an endpoint id").to_owned();
    crate::webhooks_api::record_attempt(&sql, THEIRS, &their_webhook, 1, 1, false).await;
    // And their own directory.
    let their_agent = created(&theirs, "/v1/agents", json!({"agent_id": "their-agent", "name": "Their agent"})).await;
    let their_agent = their_agent["agent_id"].as_str().expect("an agent id").to_owned();
    let their_team = created(&theirs, "/v1/teams", json!({"name": "Their team"})).await["team_id"].clone();
    let their_team = their_team.as_str().expect("a team id").to_owned();
    let their_label = "their-label".to_owned();
    let label_uri = format!("/v1/conversations/{their_conversation}/labels/{their_label}");
    let labelled = call(&theirs, "PUT", &label_uri, None).await;
    assert_eq!(labelled.status, StatusCode::OK, "{}", labelled.body);
    let their_attribute = "their_attr".to_owned();
    let attribute = json!({"model": "contact", "key": their_attribute, "name": "Their attribute", "type": "number"});
    created(&theirs, "/v1/attribute-definitions", attribute).await;

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
    // So does a webhook filtered on our inbox.
    let hook_on = |inbox: &str| json!({"url": "https://their-receiver.example/ours", "inbox_id": inbox});
    let hook_on_ours = send(&theirs, "POST", "/v1/webhooks", &[], Some(&hook_on(&our_inbox))).await;
    let hook_on_nothing = send(&theirs, "POST", "/v1/webhooks", &[], Some(&hook_on(&ghost_inbox))).await;
    assert_problem(&hook_on_ours, StatusCode::NOT_FOUND, "notFound", "a webhook on our inbox with their key");
    assert_eq!(
        (hook_on_ours.status, hook_on_ours.body.to_string().replace(&our_inbox, "<inbox>")),
        (hook_on_nothing.status, hook_on_nothing.body.to_string().replace(&ghost_inbox, "<inbox>")),
        "a webhook on our inbox looks to them like one on an inbox that does not exist"
    );
    // Our agent and team, named in their workspace (a member of their team, their inbox's team,
    // their conversation's assignee or team), are answered exactly as ones that exist nowhere.
    let (ghost_agent, ghost_team) = ("ghost-agent".to_owned(), Uuid::now_v7().to_string());
    let naming = |agent: &str, team: &str| -> [(&str, String, Option<Value>); 4] {
        let their_c = format!("/v1/conversations/{their_conversation}");
        [
            ("PUT", format!("/v1/teams/{their_team}/agents/{agent}"), None),
            ("PUT", format!("/v1/inboxes/{their_inbox}/team"), Some(json!({"team_id": team}))),
            ("PUT", format!("{their_c}/assignee"), Some(json!({"agent_id": agent}))),
            ("PUT", format!("{their_c}/team"), Some(json!({"team_id": team}))),
        ]
    };
    let redact = |text: String, agent: &str, team: &str| text.replace(agent, "<agent>").replace(team, "<team>");
    for ((method, uri, body), (_, nowhere_uri, nowhere_body)) in
        naming(&our_agent, &our_team).into_iter().zip(naming(&ghost_agent, &ghost_team))
    {
        let what = format!("{method} {uri} {body:?} naming ours with their key");
        let named = send(&theirs, method, &uri, &[], body.as_ref()).await;
        let nowhere = send(&theirs, method, &nowhere_uri, &[], nowhere_body.as_ref()).await;
        assert_problem(&named, StatusCode::NOT_FOUND, "notFound", &what);
        assert_eq!(
            (named.status, redact(named.body.to_string(), &our_agent, &our_team)),
            (nowhere.status, redact(nowhere.body.to_string(), &ghost_agent, &ghost_team)),
            "{what}: ours looks to them like nothing"
        );
    }
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
    assert_eq!(walked, 63, "every by-id route of DOMAIN.md's table is walked");

    // Their lists hold their things and nothing of ours: their signing keys, not ours.
    let whpk = "whpk_".to_owned();
    let our_keys = call(&ours, "GET", "/v1/webhooks/signing-keys", None).await;
    for key in our_keys.body["keys"].as_array().expect("our signing keys") {
        ours_marks.push(key["public_key"].as_str().expect("a public key").to_owned());
    }
    let min = head.to_string();
    for route in ROUTES {
        let Reach::Lists { query } = route.reach else { continue };
        let uri = format!("{}{query}", route.path.replace("{user_id}", "bob"));
        let theirs_mark = match route.path {
            "/v1/keys" => &their_key,
            "/v1/webhooks" | "/v1/webhooks/attempts" => &their_webhook,
            "/v1/webhooks/signing-keys" => &whpk,
            "/v1/contacts" => &their_contact,
            "/v1/agents" => &their_agent,
            "/v1/teams" => &their_team,
            "/v1/labels" => &their_label,
            "/v1/attribute-definitions" => &their_attribute,
            _ => &their_inbox,
        };
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
    let by_label = format!("/v1/conversations?archived=any&label=our-label-mark&min_position={head}");
    let by_label = call(&theirs, "GET", &by_label, None).await;
    assert_eq!(by_label.body["items"], json!([]), "filtering by our label finds them nothing: {}", by_label.body);
    let by_team = call(&theirs, "GET", &format!("/v1/agents?team_id={our_team}&min_position={head}"), None).await;
    assert_eq!(by_team.body["items"], json!([]), "filtering by our team finds them nothing: {}", by_team.body);

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
    let theirs_touched: BTreeSet<(&str, &str)> = log
        .iter()
        .filter(|e| e.workspace_id.as_deref() == Some(THEIRS.to_string().as_str()))
        .map(|e| (e.aggregate_type.as_str(), e.aggregate_id.as_str()))
        .collect();
    let kinds: Vec<&str> = theirs_touched.iter().map(|(kind, _)| *kind).collect();
    assert_eq!(
        kinds,
        ["agent", "attribute_definition", "contact", "contact_identity", "conversation", "inbox", "team"],
        "their sender's contact and their directory too"
    );
    assert!(theirs_touched.contains(&("inbox", their_inbox.as_str())), "{theirs_touched:?}");
    assert!(theirs_touched.contains(&("conversation", their_conversation.as_str())), "{theirs_touched:?}");
    let conversation_events: Vec<_> = log.iter().filter(|e| e.aggregate_id == ids.conversation).collect();
    assert!(conversation_events.iter().all(|e| e.workspace_id.as_deref() == Some(API_WS.to_string().as_str())));
    assert_eq!(conversation_events.len() as i64, our_version, "our conversation has only our events");
    let view = call(&ours, "GET", &format!("{c}?min_position={head}"), None).await;
    assert_eq!(view.body["version"], our_version, "our conversation is as we left it: {}", view.body);
    assert_eq!(view.body["archived"], true);
}
