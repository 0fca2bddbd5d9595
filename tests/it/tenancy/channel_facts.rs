//! The trust boundary: only a connector key reports what happened on a channel (inbound
//! messages, delivery statuses, activity, join requests), and a write key acts on every other route.

use super::*;

on_both_backends!(a_connector_key_reports_channel_facts_and_a_write_key_acts_on_every_route,);

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
                    "/v1/webhooks" => json!({"url": "https://example.com/hook"}),
                    "/v1/contacts" => json!({"name": "Ada"}),
                    "/v1/agents" => json!({"agent_id": "ada", "name": "Ada"}),
                    "/v1/teams" => json!({"name": "Support"}),
                    "/v1/attribute-definitions" => {
                        json!({"model": "contact", "key": "tier", "name": "Tier", "type": "text"})
                    }
                    "/v1/webhooks/signing-keys/rotate" => json!({}),
                    other => panic!("teach this walk to create {other}"),
                };
                (route.path.to_owned(), Some(body))
            }
        };
        let read = route.method == "GET";
        // Keys and webhook endpoints are an admin's; the webhooks' attempt log and public
        // signing keys are a read.
        let reads = ["/v1/webhooks/attempts", "/v1/webhooks/signing-keys"];
        let admin = route.path.starts_with("/v1/keys")
            || (route.path.starts_with("/v1/webhooks") && !reads.contains(&route.path));
        let channel = CHANNEL_FACTS.contains(&name.as_str());
        let either_key = EITHER_KEY.contains(&name.as_str());
        // (connector key, write key): whether each is let through with the route's usual body.
        let (by_connector, by_writer) = match () {
            _ if admin => (false, false),
            _ if read || either_key => (true, true),
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
    assert_eq!(
        written,
        vec!["InboxCreated", "ContactCreated", "AgentCreated", "TeamCreated", "AttributeDefined"],
        "only the write key's inbox, contact, agent, team and attribute definition"
    );
}
