//! The webhooks API over HTTP, on both backends: an admin creates an endpoint and sees its
//! signing secret in that answer only; endpoints are listed, shown and deleted in their
//! workspace only (another workspace's are 404, exactly as ids that exist nowhere); a bad
//! endpoint is a 422 naming the field, and nothing is stored; the attempt log pages newest
//! first, filters, and shows each workspace its own attempts only.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use convo_gateway::Scope;
use convo_store::{Backend, SqlStore};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{API_WS, Reply, api_key, authed, call, engine, on_both_backends, raw, read_models, test_config};

on_both_backends!(
    a_webhook_shows_its_secret_once_and_only_to_its_workspace,
    a_bad_webhook_is_refused_naming_the_field_and_nothing_is_stored,
    the_attempt_log_pages_newest_first_filters_and_keeps_to_its_workspace,
    a_replay_names_exactly_what_to_deliver_again_and_only_in_its_workspace,
    a_webhook_changes_what_is_given_and_nothing_else,
    turning_a_webhook_off_and_on_is_in_the_log_once_per_switch,
);

/// The other workspace.
const THEIRS: Uuid = Uuid::from_u128(0xfee7);

/// The gateway with an admin key of our workspace, an admin key of theirs, and a read and a
/// write key of ours.
struct Apps {
    ours: Router,
    theirs: Router,
    reader: Router,
    writer: Router,
}

async fn apps<B: Backend>(t: &crate::support::TestEngine<B>) -> Apps {
    let bare = convo_gateway::router(t.engine.clone(), read_models(t), &test_config());
    Apps {
        ours: authed(bare.clone(), api_key(t, API_WS, &[Scope::Admin]).await),
        theirs: authed(bare.clone(), api_key(t, THEIRS, &[Scope::Admin]).await),
        reader: authed(bare.clone(), api_key(t, API_WS, &[Scope::Read]).await),
        writer: authed(bare, api_key(t, API_WS, &[Scope::Write]).await),
    }
}

#[track_caller]
fn assert_problem(reply: &Reply, status: StatusCode, code: &str, what: &str) {
    assert_eq!((reply.status, reply.body["code"].as_str()), (status, Some(code)), "{what}: {}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json", "{what}");
}

/// A command's body, after asserting it is 201 Created.
async fn created(app: &Router, uri: &str, body: Value) -> Value {
    let reply = call(app, "POST", uri, Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "POST {uri}: {}", reply.body);
    reply.body
}

fn id_of(body: &Value) -> String {
    body["endpoint_id"].as_str().unwrap_or_else(|| panic!("an endpoint_id in {body}")).to_owned()
}

/// The endpoint ids of a page, in its order.
fn endpoint_ids(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap_or_else(|| panic!("a page: {page}")).iter().map(id_of).collect()
}

/// Records an attempt as the sender does (`Webhooks::record`): `attempt` of delivering the
/// event at `position` to `endpoint` of `workspace`. Returns the attempt as the API shows it.
pub(crate) async fn record_attempt<S: SqlStore>(
    sql: &S,
    workspace: Uuid,
    endpoint: &str,
    position: i64,
    attempt: u32,
    succeeded: bool,
) -> Value {
    let endpoint_id = Uuid::parse_str(endpoint).expect("an endpoint id");
    let attempt = convo_webhooks::Attempt {
        endpoint_id,
        webhook_id: format!("msg_{}_{position}", endpoint_id.simple()),
        position,
        event_type: "MessageSent".into(),
        // A PostgreSQL position is a transaction id shifted left: keep the offset within a day.
        attempted_at: crate::support::t0()
            + chrono::Duration::milliseconds(position.rem_euclid(86_400_000))
            + chrono::Duration::seconds(i64::from(attempt)),
        trigger: "scheduled".into(),
        attempt,
        succeeded,
        gave_up: false,
        next_attempt_at: (!succeeded).then(|| crate::support::t0() + chrono::Duration::days(1)),
        status_code: Some(if succeeded { 200 } else { 503 }),
        error: (!succeeded).then(|| "the receiver answered 503".to_owned()),
        duration_ms: 12,
        response_body: if succeeded { "ok" } else { "busy" }.into(),
    };
    // Recording needs no secret: any key.
    let webhooks = convo_webhooks::Webhooks::new(sql.clone(), convo_webhooks::SecretsKey::random());
    let (statement, values) = webhooks.record(&[(workspace, &attempt)]).expect("an attempt statement");
    sql.execute(&statement, &values).await.expect("record an attempt");
    serde_json::to_value(&attempt).expect("an attempt as JSON")
}

async fn a_webhook_shows_its_secret_once_and_only_to_its_workspace<B: Backend>(backend: B) {
    let t = engine(backend);
    let Apps { ours, theirs, reader, writer } = apps(&t).await;
    let inbox = created(&ours, "/v1/inboxes", json!({"name": "Support", "channel_type": "sms"})).await;
    let inbox_id = inbox["inbox_id"].as_str().expect("an inbox id").to_owned();
    let head = t.engine.log.head().await.expect("the head");
    assert!(head > 0, "the inbox is in the log");

    // Created: 201, with its secret this once; it gets what is appended from now on.
    let hook = created(
        &ours,
        "/v1/webhooks",
        json!({"url": "https://example.com/hooks/convo", "description": "CRM", "inbox_id": inbox_id,
               "event_types": ["MessageSent", "InboundMessageReceived", "MessageSent"]}),
    )
    .await;
    let secret = hook["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() > "whsec_".len() + 20, "a Standard Webhooks secret: {secret}");
    let id = id_of(&hook);
    assert_eq!(
        (&hook["workspace_id"], &hook["url"], &hook["description"], &hook["inbox_id"]),
        (&json!(API_WS), &json!("https://example.com/hooks/convo"), &json!("CRM"), &json!(inbox_id)),
        "{hook}"
    );
    assert_eq!(hook["event_types"], json!(["MessageSent", "InboundMessageReceived"]), "each type once");
    assert_eq!((&hook["enabled"], &hook["after_position"]), (&json!(true), &json!(head)), "{hook}");
    assert_eq!(hook["disabled_reason"], Value::Null);
    // The defaults; plain http is the sender's to allow or not.
    let plain = created(&ours, "/v1/webhooks", json!({"url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(
        (&plain["description"], &plain["enabled"], &plain["event_types"], &plain["inbox_id"]),
        (&json!(""), &json!(true), &json!([]), &Value::Null),
        "{plain}"
    );
    let plain_secret = plain["secret"].as_str().expect("a secret").to_owned();
    assert_ne!(plain_secret, secret, "each endpoint has its own secret");
    let plain_id = id_of(&plain);
    let disabled = created(&ours, "/v1/webhooks", json!({"url": "https://example.com/off", "enabled": false})).await;
    assert_eq!(disabled["enabled"], false);
    let disabled_id = id_of(&disabled);
    let secrets = [secret.clone(), plain_secret, disabled["secret"].as_str().expect("a secret").to_owned()];

    // Shown and listed, never with a secret.
    let shown = call(&ours, "GET", &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let mut without_secret = hook.clone();
    without_secret.as_object_mut().expect("an object").remove("secret");
    assert_eq!(shown.body, without_secret, "the endpoint as created, without its secret");
    let listed = call(&ours, "GET", "/v1/webhooks", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(endpoint_ids(&listed.body), [id.clone(), plain_id.clone(), disabled_id.clone()], "oldest first");
    assert_eq!((&listed.body["next_cursor"], &listed.link), (&Value::Null, &None), "one page");
    assert_eq!(listed.body["items"][0], without_secret);
    let first = call(&ours, "GET", "/v1/webhooks?limit=2", None).await;
    assert_eq!(endpoint_ids(&first.body), [id.clone(), plain_id.clone()]);
    let next = first.body["next_cursor"].as_str().expect("a next page");
    assert_eq!(first.link, Some(format!("</v1/webhooks?limit=2&cursor={next}>; rel=\"next\"")));
    let second = call(&ours, "GET", &format!("/v1/webhooks?limit=2&cursor={next}"), None).await;
    assert_eq!((endpoint_ids(&second.body), &second.body["next_cursor"]), (vec![disabled_id.clone()], &Value::Null));
    for text in [shown.body.to_string(), listed.body.to_string(), first.body.to_string(), second.body.to_string()] {
        assert!(!text.contains("secret"), "no secret field: {text}");
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret is shown again: {text}");
        }
    }

    // Another workspace: ours is 404 exactly as an endpoint that exists nowhere, and its list
    // is empty. Our inbox, named in their filter, is as an inbox that exists nowhere.
    let ghost = Uuid::now_v7().to_string();
    for method in ["GET", "DELETE"] {
        let mine = call(&theirs, method, &format!("/v1/webhooks/{id}"), None).await;
        assert_problem(&mine, StatusCode::NOT_FOUND, "notFound", &format!("{method} our webhook with their key"));
        let nothing = call(&theirs, method, &format!("/v1/webhooks/{ghost}"), None).await;
        assert_eq!(
            (mine.status, mine.body.to_string().replace(&id, "<id>")),
            (nothing.status, nothing.body.to_string().replace(&ghost, "<id>")),
            "{method}: ours looks to them like nothing"
        );
    }
    let their_list = call(&theirs, "GET", "/v1/webhooks", None).await;
    assert_eq!((their_list.status, &their_list.body), (StatusCode::OK, &json!({"items": [], "next_cursor": null})));
    let on = |inbox: &str| json!({"url": "https://theirs.example/hook", "inbox_id": inbox});
    let on_ours = call(&theirs, "POST", "/v1/webhooks", Some(on(&inbox_id))).await;
    assert_problem(&on_ours, StatusCode::NOT_FOUND, "notFound", "a webhook on our inbox with their key");
    assert_eq!(on_ours.body["inbox_id"], json!(inbox_id), "{}", on_ours.body);
    let on_nothing = call(&theirs, "POST", "/v1/webhooks", Some(on(&ghost))).await;
    assert_eq!(
        on_ours.body.to_string().replace(&inbox_id, "<inbox>"),
        on_nothing.body.to_string().replace(&ghost, "<inbox>"),
        "our inbox looks to them like one that does not exist"
    );
    assert_eq!(call(&theirs, "GET", "/v1/webhooks", None).await.body["items"], json!([]), "they created nothing");
    let ours_still = call(&ours, "GET", &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!((ours_still.status, ours_still.body), (StatusCode::OK, without_secret.clone()), "ours is untouched");

    // Endpoints are an admin's: a read or write key of ours neither creates, lists, shows nor
    // deletes one; both read the attempt log.
    for (scope, app) in [("read", &reader), ("write", &writer)] {
        let requests = [
            ("POST", "/v1/webhooks".to_owned(), Some(json!({"url": "https://example.com/x"}))),
            ("GET", "/v1/webhooks".to_owned(), None),
            ("GET", format!("/v1/webhooks/{id}"), None),
            ("DELETE", format!("/v1/webhooks/{id}"), None),
        ];
        for (method, uri, body) in requests {
            let reply = call(app, method, &uri, body).await;
            assert_problem(&reply, StatusCode::FORBIDDEN, "forbidden", &format!("{method} {uri} with a {scope} key"));
        }
        let attempts = call(app, "GET", "/v1/webhooks/attempts", None).await;
        assert_eq!(attempts.status, StatusCode::OK, "the attempt log with a {scope} key: {}", attempts.body);
    }
    assert_eq!(endpoint_ids(&call(&ours, "GET", "/v1/webhooks", None).await.body).len(), 3, "nothing was created");

    // Retried with its Idempotency-Key, a create answers the same endpoint and creates no other.
    let create = || {
        Request::post("/v1/webhooks")
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", "create-crm-hook")
            .body(Body::from(json!({"url": "https://example.com/retried"}).to_string()))
            .expect("a request")
    };
    let once = raw(&ours, create()).await;
    assert_eq!(once.status, StatusCode::CREATED, "{}", once.body);
    let again = raw(&ours, create()).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &once.body), "the same answer");
    let retried = id_of(&once.body);
    let all = endpoint_ids(&call(&ours, "GET", "/v1/webhooks", None).await.body);
    assert_eq!(all.iter().filter(|e| **e == retried).count(), 1, "{all:?}");
    assert_eq!(all.len(), 4, "{all:?}");

    // Deleted: 204, then 404 to show or delete, and gone from the list.
    let deleted = call(&ours, "DELETE", &format!("/v1/webhooks/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    for method in ["GET", "DELETE"] {
        let gone = call(&ours, method, &format!("/v1/webhooks/{id}"), None).await;
        assert_problem(&gone, StatusCode::NOT_FOUND, "notFound", &format!("{method} a deleted webhook"));
    }
    let listed = endpoint_ids(&call(&ours, "GET", "/v1/webhooks", None).await.body);
    assert_eq!(listed, [plain_id, disabled_id, retried], "the others stay");

    // An id that is not a UUID is a malformed parameter; the attempt log's path is not an id.
    let malformed = call(&ours, "GET", "/v1/webhooks/not-an-id", None).await;
    assert_problem(&malformed, StatusCode::UNPROCESSABLE_ENTITY, "validation", "GET /v1/webhooks/not-an-id");
    for method in ["POST", "DELETE"] {
        let reply = call(&ours, method, "/v1/webhooks/attempts", None).await;
        assert_problem(
            &reply,
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
            &format!("{method} the attempt log"),
        );
    }
}

async fn a_bad_webhook_is_refused_naming_the_field_and_nothing_is_stored<B: Backend>(backend: B) {
    let t = engine(backend);
    let Apps { ours, .. } = apps(&t).await;
    let url = "https://example.com/hook";
    // (body, the pointer its error names, the `field` member when the gateway's own rule refused it)
    let refused: Vec<(Value, &str, Option<&str>)> = vec![
        (json!({"url": "not a url"}), "/url", Some("url")),
        (json!({"url": "ftp://x"}), "/url", Some("url")),
        (json!({"url": "https://user:pass@example.com/hook"}), "/url", Some("url")),
        (json!({"url": "https://user@example.com/hook"}), "/url", Some("url")),
        (json!({"url": "/hook"}), "/url", Some("url")),
        (json!({"url": "example.com/hook"}), "/url", Some("url")),
        (json!({"url": "javascript:alert(1)"}), "/url", Some("url")),
        (json!({"url": ""}), "/url", Some("url")),
        (json!({"url": 42}), "/url", None),
        (json!({"description": "no url"}), "/url", None),
        (json!({"url": url, "event_types": ["NoSuchEvent"]}), "/event_types/0", Some("event_types.0")),
        (json!({"url": url, "event_types": ["MessageSent", "messageSent"]}), "/event_types/1", Some("event_types.1")),
        (json!({"url": url, "event_types": ["MessageSent.1.0.0"]}), "/event_types/0", Some("event_types.0")),
        (json!({"url": url, "event_types": "MessageSent"}), "/event_types", None),
        (json!({"url": url, "inbox_id": "not-a-uuid"}), "/inbox_id", None),
        (json!({"url": url, "inbox_id": 7}), "/inbox_id", None),
        (json!({"url": url, "enabled": "yes"}), "/enabled", None),
    ];
    for (body, pointer, field) in refused {
        let reply = call(&ours, "POST", "/v1/webhooks", Some(body.clone())).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", &format!("POST /v1/webhooks {body}"));
        assert_eq!(reply.body["errors"][0]["pointer"], pointer, "{body}: {}", reply.body);
        if let Some(field) = field {
            assert_eq!(reply.body["field"], field, "{body}: {}", reply.body);
        }
    }
    // Fields the API does not take, the secret first.
    for extra in [json!({"secret": "whsec_mine"}), json!({"workspace_id": THEIRS}), json!({"after_position": 0})] {
        let mut body = json!({"url": url});
        body.as_object_mut().expect("an object").extend(extra.as_object().cloned().unwrap_or_default());
        let reply = call(&ours, "POST", "/v1/webhooks", Some(body.clone())).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", &format!("POST /v1/webhooks {body}"));
    }
    // An inbox that exists nowhere: 404, as a command naming one.
    let ghost = Uuid::now_v7();
    let reply = call(&ours, "POST", "/v1/webhooks", Some(json!({"url": url, "inbox_id": ghost}))).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "notFound", "a webhook on an inbox that exists nowhere");
    assert_eq!(reply.body["inbox_id"], json!(ghost), "{}", reply.body);
    // Not JSON, or not said to be.
    let reply = raw(
        &ours,
        Request::post("/v1/webhooks")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{\"url\": "))
            .expect("a request"),
    )
    .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "malformedRequest", "a truncated body");
    let reply = raw(&ours, Request::post("/v1/webhooks").body(Body::from(url)).expect("a request")).await;
    assert_problem(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupportedMediaType", "a body without a type");

    // Nothing was stored.
    let listed = call(&ours, "GET", "/v1/webhooks", None).await;
    assert_eq!((listed.status, &listed.body), (StatusCode::OK, &json!({"items": [], "next_cursor": null})));
    let sql = t.engine.backend.sql();
    let stored = sql.text_rows("SELECT endpoint_id FROM webhook_endpoints", &[]).await.expect("read the endpoints");
    assert_eq!(stored, Vec::<String>::new(), "no endpoint row");

    // Every event type of the catalogue is taken by name, whatever its version (AgentAssigned
    // has an older one).
    let every: Vec<&str> = convo_gateway::openapi::event_types().collect();
    assert!(every.contains(&"AgentAssigned") && every.len() > 20, "{every:?}");
    let all = created(&ours, "/v1/webhooks", json!({"url": url, "event_types": every})).await;
    assert_eq!(all["event_types"], json!(every));
}

async fn the_attempt_log_pages_newest_first_filters_and_keeps_to_its_workspace<B: Backend>(backend: B) {
    let t = engine(backend);
    let Apps { ours, theirs, reader, .. } = apps(&t).await;

    // A fresh workspace's attempt log is an empty page (the path is not taken for an id).
    let empty = call(&reader, "GET", "/v1/webhooks/attempts", None).await;
    assert_eq!((empty.status, &empty.body), (StatusCode::OK, &json!({"items": [], "next_cursor": null})));
    assert_eq!(empty.link, None);

    let a = id_of(&created(&ours, "/v1/webhooks", json!({"url": "https://a.example/hook"})).await);
    let b = id_of(&created(&ours, "/v1/webhooks", json!({"url": "https://b.example/hook"})).await);
    let their_hook = id_of(&created(&theirs, "/v1/webhooks", json!({"url": "https://c.example/hook"})).await);
    // The attempts in the order the sender made them, theirs among ours.
    let sql = t.engine.backend.sql();
    let mut made = Vec::new();
    for (endpoint, position, attempt, succeeded) in
        [(&a, 10, 1, false), (&a, 10, 2, true), (&b, 11, 1, false), (&a, 12, 1, true), (&b, 12, 1, false)]
    {
        made.push(record_attempt(&sql, API_WS, endpoint, position, attempt, succeeded).await);
        if made.len() == 2 {
            record_attempt(&sql, THEIRS, &their_hook, 10, 1, false).await;
        }
    }
    let newest_first: Vec<Value> = made.iter().rev().cloned().collect();
    let pick = |indexes: &[usize]| -> Vec<Value> { indexes.iter().map(|&i| made[i].clone()).collect() };

    // The whole log, newest first, as recorded; and a page at a time, by cursor and by link.
    let whole = call(&reader, "GET", "/v1/webhooks/attempts", None).await;
    assert_eq!(whole.status, StatusCode::OK, "{}", whole.body);
    assert_eq!(whole.body["items"], json!(newest_first));
    assert_eq!(whole.body["next_cursor"], Value::Null);
    for by_link in [false, true] {
        let (mut uri, mut seen, mut pages) = ("/v1/webhooks/attempts?limit=2".to_owned(), Vec::new(), 0);
        loop {
            let page = call(&reader, "GET", &uri, None).await;
            assert_eq!(page.status, StatusCode::OK, "GET {uri}: {}", page.body);
            seen.extend(page.body["items"].as_array().cloned().unwrap_or_default());
            pages += 1;
            let Some(next) = page.body["next_cursor"].as_str() else {
                assert_eq!(page.link, None, "the last page links nowhere");
                break;
            };
            let link = page.link.clone().expect("a page before the last links to the next");
            uri = if by_link {
                link.strip_prefix('<').and_then(|l| l.split_once('>')).map(|(u, _)| u.to_owned()).expect("a <URI>")
            } else {
                format!("/v1/webhooks/attempts?limit=2&cursor={next}")
            };
        }
        assert_eq!((pages, &seen), (3, &newest_first), "by link: {by_link}");
    }

    // Filtered by endpoint, outcome and event, alone and together; a filter stays on the next page.
    let filtered = |query: String| {
        let reader = reader.clone();
        async move {
            let reply = call(&reader, "GET", &format!("/v1/webhooks/attempts?{query}"), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
            reply
        }
    };
    assert_eq!(filtered(format!("webhook_id={a}")).await.body["items"], json!(pick(&[3, 1, 0])));
    assert_eq!(filtered(format!("webhook_id={b}")).await.body["items"], json!(pick(&[4, 2])));
    assert_eq!(filtered("status=failed".into()).await.body["items"], json!(pick(&[4, 2, 0])));
    assert_eq!(filtered("status=succeeded".into()).await.body["items"], json!(pick(&[3, 1])));
    assert_eq!(filtered("position=12".into()).await.body["items"], json!(pick(&[4, 3])));
    assert_eq!(filtered(format!("webhook_id={a}&status=failed&position=10")).await.body["items"], json!(pick(&[0])));
    assert_eq!(filtered("position=99".into()).await.body["items"], json!([]));
    let page = filtered(format!("webhook_id={a}&limit=1")).await;
    let next = page.link.expect("more than one attempt of a");
    assert!(next.contains(&format!("webhook_id={a}")), "the next page keeps the filter: {next}");

    // Their key sees theirs only; our endpoint, to them, has no attempts.
    let their_log = call(&theirs, "GET", "/v1/webhooks/attempts", None).await.body;
    assert_eq!(their_log["items"].as_array().map(Vec::len), Some(1), "{their_log}");
    assert_eq!(their_log["items"][0]["endpoint_id"], json!(their_hook));
    let their_filter = call(&theirs, "GET", &format!("/v1/webhooks/attempts?webhook_id={a}"), None).await;
    assert_eq!(their_filter.body["items"], json!([]), "{}", their_filter.body);
    let our_filter = call(&ours, "GET", &format!("/v1/webhooks/attempts?webhook_id={their_hook}"), None).await;
    assert_eq!(our_filter.body["items"], json!([]), "{}", our_filter.body);

    // A deleted endpoint's attempts stay in the log.
    assert_eq!(call(&ours, "DELETE", &format!("/v1/webhooks/{a}"), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(filtered(format!("webhook_id={a}")).await.body["items"], json!(pick(&[3, 1, 0])));

    // Malformed parameters: 422 naming them (the list's own by name, the filter's as the query).
    for (query, field) in [
        ("status=maybe", "query"),
        ("webhook_id=not-an-id", "query"),
        ("position=ten", "query"),
        ("surprise=1", "query"),
        ("cursor=abc", "cursor"),
        ("cursor=-1", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ] {
        let reply = call(&reader, "GET", &format!("/v1/webhooks/attempts?{query}"), None).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", query);
        assert_eq!(reply.body["field"], field, "{query}: {}", reply.body);
    }
}

/// `POST /v1/webhooks/{id}/replay`: exactly one of `position`, `since_position` and `since`
/// (else 422, nothing replayed); a position that is no event of the workspace, and another
/// workspace's endpoint, are 404; otherwise 202 with how many events are on their way.
async fn a_replay_names_exactly_what_to_deliver_again_and_only_in_its_workspace<B: Backend>(backend: B) {
    let t = engine(backend);
    let apps = apps(&t).await;
    let inbox = created(&apps.ours, "/v1/inboxes", json!({"name": "Support", "channel_type": "sms"})).await;
    let hook = created(&apps.ours, "/v1/webhooks", json!({"url": "https://example.com/hook"})).await;
    let replay = format!("/v1/webhooks/{}/replay", id_of(&hook));
    let inbound = json!({"inbox_id": inbox["inbox_id"], "contact_id": "+4915100009", "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hi"}});
    let sent = created(&apps.ours, "/v1/inbound-messages", inbound).await;
    let position = sent["position"].as_i64().expect("a position");
    for (body, what) in [
        (json!({}), "nothing named"),
        (json!({"position": position, "since_position": 0}), "two named"),
        (json!({"since": "yesterday"}), "not a time"),
    ] {
        let reply = call(&apps.ours, "POST", &replay, Some(body)).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", what);
    }
    let nowhere = call(&apps.ours, "POST", &replay, Some(json!({"position": position + 1_000_000}))).await;
    assert_problem(&nowhere, StatusCode::NOT_FOUND, "notFound", "no event there");
    let theirs = call(&apps.theirs, "POST", &replay, Some(json!({"position": position}))).await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "notFound", "their key on our endpoint");
    let reader = call(&apps.reader, "POST", &replay, Some(json!({"position": position}))).await;
    assert_eq!(reader.status, StatusCode::FORBIDDEN, "a read key does not replay: {}", reader.body);
    let one = call(&apps.ours, "POST", &replay, Some(json!({"position": position}))).await;
    assert_eq!((one.status, &one.body), (StatusCode::ACCEPTED, &json!({"replayed": 1})));
    // Since the start: the inbox's creation, the sender's contact (its identity claimed and the
    // contact created), the conversation's start and the message.
    let all = call(&apps.ours, "POST", &replay, Some(json!({"since_position": 0}))).await;
    assert_eq!((all.status, &all.body), (StatusCode::ACCEPTED, &json!({"replayed": 5})));
    let since = call(&apps.ours, "POST", &replay, Some(json!({"since": "2000-01-01T00:00:00Z"}))).await;
    assert_eq!((since.status, &since.body), (StatusCode::ACCEPTED, &json!({"replayed": 5})));
}

/// `PATCH /v1/webhooks/{id}` changes the fields given and leaves the others; `inbox_id: null`
/// takes the filter off; a bad field is 422 and changes nothing; another workspace's is 404.
async fn a_webhook_changes_what_is_given_and_nothing_else<B: Backend>(backend: B) {
    let t = engine(backend);
    let apps = apps(&t).await;
    let inbox = created(&apps.ours, "/v1/inboxes", json!({"name": "Support", "channel_type": "sms"})).await;
    let hook = json!({"url": "https://example.com/hook", "description": "first", "inbox_id": inbox["inbox_id"],
                      "event_types": ["MessageSent"]});
    let hook = created(&apps.ours, "/v1/webhooks", hook).await;
    let uri = format!("/v1/webhooks/{}", id_of(&hook));
    let changed =
        call(&apps.ours, "PATCH", &uri, Some(json!({"url": "https://example.com/v2", "enabled": false}))).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    assert_eq!((&changed.body["url"], &changed.body["enabled"]), (&json!("https://example.com/v2"), &json!(false)));
    assert_eq!((&changed.body["description"], &changed.body["inbox_id"]), (&json!("first"), &inbox["inbox_id"]));
    assert_eq!(changed.body["event_types"], json!(["MessageSent"]));
    let unfiltered = call(&apps.ours, "PATCH", &uri, Some(json!({"inbox_id": null, "event_types": []}))).await;
    assert_eq!((&unfiltered.body["inbox_id"], &unfiltered.body["event_types"]), (&Value::Null, &json!([])));
    for (body, what) in [
        (json!({"url": "https://user:pass@example.com/"}), "credentials"),
        (json!({"event_types": ["NoSuchEvent"]}), "an unknown type"),
    ] {
        let reply = call(&apps.ours, "PATCH", &uri, Some(body)).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation", what);
    }
    let theirs = call(&apps.theirs, "PATCH", &uri, Some(json!({"enabled": true}))).await;
    assert_problem(&theirs, StatusCode::NOT_FOUND, "notFound", "their key on our endpoint");
    let now = call(&apps.ours, "GET", &uri, None).await;
    assert_eq!(now.body, unfiltered.body, "the refused changes changed nothing");
    assert!(!now.body.to_string().contains(hook["secret"].as_str().expect("a secret")), "never the secret");
}

/// `PATCH enabled` switches the endpoint in the log as well as on `GET`: one
/// `WebhookEndpointDisabled` (`requested`) or `WebhookEndpointEnabled` per change, none for a
/// PATCH that leaves it as it is, and the events are the workspace's, on `GET /v1/events`.
async fn turning_a_webhook_off_and_on_is_in_the_log_once_per_switch<B: Backend>(backend: B) {
    let t = engine(backend);
    let apps = apps(&t).await;
    let hook = created(&apps.ours, "/v1/webhooks", json!({"url": "https://example.com/hook"})).await;
    let id = id_of(&hook);
    let uri = format!("/v1/webhooks/{id}");
    for enabled in [false, false, true, true, false] {
        let reply = call(&apps.ours, "PATCH", &uri, Some(json!({"enabled": enabled}))).await;
        assert_eq!((reply.status, &reply.body["enabled"]), (StatusCode::OK, &json!(enabled)), "{}", reply.body);
    }
    let switches = crate::webhooks::switches(&t).await;
    let seen: Vec<(&str, &Value)> =
        switches.iter().map(|(_, _, p)| (p["type"].as_str().unwrap_or_default(), &p["reason"])).collect();
    let (off, on) = ("WebhookEndpointDisabled", "WebhookEndpointEnabled");
    assert_eq!(seen, [(off, &json!("requested")), (on, &Value::Null), (off, &json!("requested"))]);
    assert!(switches.iter().all(|(aggregate, _, p)| *aggregate == id && p["webhook_id"] == json!(id)));
    // Ours to read in the log, not theirs.
    let ours = call(&apps.ours, "GET", "/v1/events?limit=100", None).await;
    assert_eq!(ours.status, StatusCode::OK, "{}", ours.body);
    let theirs = call(&apps.theirs, "GET", "/v1/events?limit=100", None).await;
    let switched = |body: &Value| {
        let items = body["items"].as_array().cloned().unwrap_or_default();
        items.iter().filter(|e| e["aggregate_type"] == "webhook_endpoint").count()
    };
    assert_eq!((switched(&ours.body), switched(&theirs.body)), (3, 0), "{} {}", ours.body, theirs.body);
}
