//! The directory over HTTP (#18): agents registered by the caller's own user id, teams and
//! their members, an inbox's team, and what assignment makes of them: an agent or team that is
//! not the workspace's is 404, a deactivated agent 422 `agentDeactivated`, and neither writes
//! anything; who may take a conversation follows its inbox's team; an agent's view counts the
//! conversations they hold; and an agent reads as they were at an earlier position.

use axum::Router;
use axum::http::StatusCode;
use convo_gateway::Scope;
use convo_store::Backend;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestEngine, api_key, app, authed, call, engine, on_both_backends, read_models, test_config, whole_log,
};

on_both_backends!(
    agents_are_registered_changed_and_listed_with_their_teams,
    an_assignment_names_an_active_agent_or_a_team_of_the_workspace_or_writes_nothing,
    who_may_take_a_conversation_follows_its_inboxs_team,
    an_agent_reads_as_they_were_at_an_earlier_position,
);

/// `method uri` with `body`, asserting a 2xx; the answer's body.
async fn ok(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Value {
    let reply = call(app, method, uri, body.clone()).await;
    assert!(reply.status.is_success(), "{method} {uri} {body:?}: {} {}", reply.status, reply.body);
    reply.body
}

/// `GET uri` once the read models have folded `position`.
async fn read(app: &Router, uri: &str, position: &Value) -> Value {
    let sep = if uri.contains('?') { '&' } else { '?' };
    ok(app, "GET", &format!("{uri}{sep}min_position={position}"), None).await
}

async fn agent(app: &Router, id: &str, name: &str) -> Value {
    ok(app, "POST", "/v1/agents", Some(json!({"agent_id": id, "name": name, "email": format!("{id}@example.com")})))
        .await
}

async fn team(app: &Router, name: &str) -> String {
    let created = ok(app, "POST", "/v1/teams", Some(json!({"name": name}))).await;
    created["team_id"].as_str().expect("a team id").to_owned()
}

fn ids(page: &Value) -> Vec<&str> {
    page["items"].as_array().expect("items").iter().map(|a| a["agent_id"].as_str().expect("an agent id")).collect()
}

/// A direct conversation on a new SMS inbox, with one inbound message: (inbox, conversation, position).
async fn conversation<B: Backend>(t: &TestEngine<B>, app: &Router) -> (String, String, Value) {
    let inbox = ok(app, "POST", "/v1/inboxes", Some(json!({"name": "SMS", "channel_type": "sms"}))).await;
    let inbox = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let message = json!({"inbox_id": inbox, "contact_id": "+4917300077", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hello"}});
    let received = ok(app, "POST", "/v1/inbound-messages", Some(message)).await;
    (inbox, received["conversation_id"].as_str().expect("a conversation").to_owned(), received["position"].clone())
}

async fn agents_are_registered_changed_and_listed_with_their_teams<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let created = agent(&app, "ada", " Ada Lovelace ").await;
    assert_eq!(created["agent_id"], "ada");
    agent(&app, "bob", "Bob").await;
    // The caller's id is taken once; bad input names its field; nothing is written by either.
    let before = whole_log(&t.engine).await.len();
    let again = call(&app, "POST", "/v1/agents", Some(json!({"agent_id": "ada", "name": "Ada"}))).await;
    assert_eq!((again.status, again.body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{}", again.body);
    for (body, field) in [
        (json!({"agent_id": "eve", "name": "Eve", "email": "eve.example.com"}), "email"),
        (json!({"agent_id": "e ve", "name": "Eve"}), "agent_id"),
        (json!({"agent_id": "eve", "name": "   "}), "name"),
        (json!({"agent_id": "eve", "name": "Eve", "role": "owner"}), "role"),
    ] {
        let refused = call(&app, "POST", "/v1/agents", Some(body.clone())).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.body);
        assert!(refused.body.to_string().contains(field), "{body}: {}", refused.body);
    }
    assert_eq!(whole_log(&t.engine).await.len(), before, "a refused command writes nothing");

    let online =
        ok(&app, "PATCH", "/v1/agents/ada", Some(json!({"availability": "online", "role": "administrator"}))).await;
    let ada = read(&app, "/v1/agents/ada", &online["position"]).await;
    assert_eq!(
        (&ada["name"], &ada["email"], &ada["role"], &ada["availability"], &ada["active"]),
        (&json!("Ada Lovelace"), &json!("ada@example.com"), &json!("administrator"), &json!("online"), &json!(true))
    );
    assert_eq!(ada["counts"], json!({"open": 0, "pending": 0, "unread": 0}));
    let missing = call(&app, "GET", "/v1/agents/nobody", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Deactivated: offline, and cannot go online until reactivated.
    let off = ok(&app, "PATCH", "/v1/agents/bob", Some(json!({"active": false}))).await;
    let refused = call(&app, "PATCH", "/v1/agents/bob", Some(json!({"availability": "busy"}))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.body["code"], "agentDeactivated");
    let all = read(&app, "/v1/agents", &off["position"]).await;
    assert_eq!(ids(&all), ["ada", "bob"]);
    assert_eq!(ids(&read(&app, "/v1/agents?active=true", &off["position"]).await), ["ada"]);
    assert_eq!(ids(&read(&app, "/v1/agents?active=false", &off["position"]).await), ["bob"]);
    assert_eq!(ids(&read(&app, "/v1/agents?availability=online", &off["position"]).await), ["ada"]);
    // Pages by id.
    let first = read(&app, "/v1/agents?limit=1", &off["position"]).await;
    assert_eq!(ids(&first), ["ada"]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    assert_eq!(ids(&read(&app, &format!("/v1/agents?limit=1&cursor={cursor}"), &off["position"]).await), ["bob"]);

    // Teams and their members.
    let billing = team(&app, "Billing").await;
    ok(&app, "PUT", &format!("/v1/teams/{billing}/agents/ada"), None).await;
    let added = ok(&app, "PUT", &format!("/v1/teams/{billing}/agents/bob"), None).await;
    let stranger = call(&app, "PUT", &format!("/v1/teams/{billing}/agents/nobody"), None).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND, "{}", stranger.body);
    let members = read(&app, &format!("/v1/teams/{billing}/agents"), &added["position"]).await;
    assert_eq!(ids(&members), ["ada", "bob"]);
    let shown = read(&app, &format!("/v1/teams/{billing}"), &added["position"]).await;
    assert_eq!((&shown["name"], &shown["agent_count"]), (&json!("Billing"), &json!(2)));
    let removed = ok(&app, "DELETE", &format!("/v1/teams/{billing}/agents/ada"), None).await;
    assert_eq!(ids(&read(&app, &format!("/v1/agents?team_id={billing}"), &removed["position"]).await), ["bob"]);
    let teams = read(&app, "/v1/teams", &removed["position"]).await;
    assert_eq!(teams["items"].as_array().map(Vec::len), Some(1));
    let unknown = call(&app, "GET", &format!("/v1/teams/{}", Uuid::now_v7()), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn an_assignment_names_an_active_agent_or_a_team_of_the_workspace_or_writes_nothing<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let other_ws = Uuid::from_u128(0x0ea5);
    let elsewhere = authed(
        convo_gateway::router(t.engine.clone(), read_models(&t), &test_config()),
        api_key(&t, other_ws, &[Scope::Admin]).await,
    );
    agent(&elsewhere, "zed", "Zed").await;
    let their_team = team(&elsewhere, "Theirs").await;
    agent(&app, "ada", "Ada").await;
    agent(&app, "eve", "Eve").await;
    ok(&app, "PATCH", "/v1/agents/eve", Some(json!({"active": false}))).await;
    let (_, conversation, _) = conversation(&t, &app).await;

    let before = whole_log(&t.engine).await.len();
    let assignee = format!("/v1/conversations/{conversation}/assignee");
    for (agent_id, status, code) in [
        ("nobody", StatusCode::NOT_FOUND, "notFound"),
        ("zed", StatusCode::NOT_FOUND, "notFound"),
        ("eve", StatusCode::UNPROCESSABLE_ENTITY, "agentDeactivated"),
    ] {
        let refused = call(&app, "PUT", &assignee, Some(json!({"agent_id": agent_id}))).await;
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (status, Some(code)),
            "{agent_id}: {}",
            refused.body
        );
        assert_eq!(refused.body["agent_id"], agent_id);
    }
    for team_id in [their_team.as_str(), "billing", "00000000-0000-0000-0000-000000000001"] {
        let refused =
            call(&app, "PUT", &format!("/v1/conversations/{conversation}/team"), Some(json!({"team_id": team_id})))
                .await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{team_id}: {}", refused.body);
    }
    assert_eq!(whole_log(&t.engine).await.len(), before, "a refused assignment writes nothing");

    // Ada takes it: one open conversation with a message she has not read.
    let assigned = ok(&app, "PUT", &assignee, Some(json!({"agent_id": "ada"}))).await;
    let ada = read(&app, "/v1/agents/ada", &assigned["position"]).await;
    assert_eq!(ada["counts"], json!({"open": 1, "pending": 0, "unread": 1}));
    let marked =
        ok(&app, "POST", &format!("/v1/conversations/{conversation}/read"), Some(json!({"user_id": "ada"}))).await;
    assert_eq!(
        read(&app, "/v1/agents/ada", &marked["position"]).await["counts"],
        json!({"open": 1, "pending": 0, "unread": 0})
    );
    let pending =
        ok(&app, "POST", &format!("/v1/conversations/{conversation}/status"), Some(json!({"status": "pending"}))).await;
    assert_eq!(
        read(&app, "/v1/agents/ada", &pending["position"]).await["counts"],
        json!({"open": 0, "pending": 1, "unread": 0})
    );
    // Deactivated later, she stays assigned; the conversation can be taken from her.
    ok(&app, "PATCH", "/v1/agents/ada", Some(json!({"active": false}))).await;
    let unassigned = ok(&app, "DELETE", &assignee, None).await;
    assert_eq!(
        read(&app, "/v1/agents/ada", &unassigned["position"]).await["counts"],
        json!({"open": 0, "pending": 0, "unread": 0})
    );
}

async fn who_may_take_a_conversation_follows_its_inboxs_team<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    for (id, name) in [("ada", "Ada"), ("bob", "Bob"), ("cyd", "Cyd"), ("eve", "Eve")] {
        agent(&app, id, name).await;
    }
    ok(&app, "PATCH", "/v1/agents/eve", Some(json!({"active": false}))).await;
    let sales = team(&app, "Sales").await;
    ok(&app, "PUT", &format!("/v1/teams/{sales}/agents/bob"), None).await;
    ok(&app, "PUT", &format!("/v1/teams/{sales}/agents/eve"), None).await;
    let (inbox, conversation, position) = conversation(&t, &app).await;
    let assignable = format!("/v1/conversations/{conversation}/assignable-agents");
    // No team: every active agent.
    assert_eq!(ids(&read(&app, &assignable, &position).await), ["ada", "bob", "cyd"]);
    // The inbox's team: its active agents only.
    let set = ok(&app, "PUT", &format!("/v1/inboxes/{inbox}/team"), Some(json!({"team_id": sales}))).await;
    assert_eq!(ids(&read(&app, &assignable, &set["position"]).await), ["bob"]);
    let inboxes = read(&app, "/v1/inboxes", &set["position"]).await;
    assert_eq!(inboxes["items"][0]["team_id"], json!(sales));
    let unknown =
        call(&app, "PUT", &format!("/v1/inboxes/{inbox}/team"), Some(json!({"team_id": Uuid::now_v7()}))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND, "{}", unknown.body);
    let cleared = ok(&app, "DELETE", &format!("/v1/inboxes/{inbox}/team"), None).await;
    assert_eq!(ids(&read(&app, &assignable, &cleared["position"]).await), ["ada", "bob", "cyd"]);
    let missing = call(&app, "GET", &format!("/v1/conversations/{}/assignable-agents", Uuid::now_v7()), None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let types: Vec<String> = whole_log(&t.engine).await.into_iter().map(|e| e.event_type).collect();
    assert_eq!(types.iter().filter(|t| t.starts_with("InboxTeam")).count(), 2, "{types:?}");
}

async fn an_agent_reads_as_they_were_at_an_earlier_position<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let created = agent(&app, "ada", "Ada").await;
    ok(&app, "PATCH", "/v1/agents/ada", Some(json!({"name": "Ada King", "availability": "busy"}))).await;
    let off = ok(&app, "PATCH", "/v1/agents/ada", Some(json!({"active": false}))).await;
    let now = read(&app, "/v1/agents/ada", &off["position"]).await;
    assert_eq!(
        (&now["name"], &now["active"], &now["availability"]),
        (&json!("Ada King"), &json!(false), &json!("offline"))
    );
    let then = ok(&app, "GET", &format!("/v1/agents/ada?at_position={}", created["position"]), None).await;
    assert_eq!(
        (&then["name"], &then["active"], &then["availability"]),
        (&json!("Ada"), &json!(true), &json!("offline"))
    );
    assert_eq!(then["version"], 1);
    // Before she existed, she is not found.
    let before = call(
        &app,
        "GET",
        &format!("/v1/agents/ada?at_position={}", created["position"].as_i64().unwrap_or(1) - 1),
        None,
    )
    .await;
    assert_eq!(before.status, StatusCode::NOT_FOUND);
    // Live and folded views agree at the head.
    let folded = ok(&app, "GET", &format!("/v1/agents/ada?at_position={}", off["position"]), None).await;
    assert_eq!(folded, now);
}
