//! API keys: a request without a valid key is 401 and writes nothing; scopes limit what a key
//! may do; a token is shown once and stored only as its SHA-256.

use super::*;

on_both_backends!(requests_without_a_valid_key_are_401_and_write_nothing, scopes_limit_what_a_key_may_do,);

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
    // The agent the writes assign.
    created(&admin, "/v1/agents", json!({"agent_id": "ada", "name": "Ada"})).await;
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
