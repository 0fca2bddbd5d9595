//! Custom attributes over HTTP (#18): definitions per workspace for contacts or conversations,
//! listed, changed and deleted; a conversation takes values for defined keys only, each of its
//! definition's type, and the conversation list filters by one; a contact's value for a defined
//! key is checked too. A refusal is 422 naming `attributes.<key>` and writes nothing.

use axum::Router;
use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{TestEngine, app, call, engine, on_both_backends, whole_log};

on_both_backends!(
    definitions_are_listed_changed_and_deleted_per_workspace,
    a_conversation_takes_defined_attributes_of_their_type_and_the_list_filters_by_one,
);

async fn ok(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Value {
    let reply = call(app, method, uri, body.clone()).await;
    assert!(reply.status.is_success(), "{method} {uri} {body:?}: {} {}", reply.status, reply.body);
    reply.body
}

async fn definitions_are_listed_changed_and_deleted_per_workspace<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let plan =
        json!({"model": "conversation", "key": "plan", "name": "Plan", "type": "list", "options": ["free", "gold"]});
    let made = call(&app, "POST", "/v1/attribute-definitions", Some(plan.clone())).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let again = call(&app, "POST", "/v1/attribute-definitions", Some(plan)).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    ok(
        &app,
        "POST",
        "/v1/attribute-definitions",
        Some(json!({"model": "conversation", "key": "seats", "name": "Seats", "type": "number"})),
    )
    .await;
    let tier = ok(
        &app,
        "POST",
        "/v1/attribute-definitions",
        Some(json!({"model": "contact", "key": "tier", "name": "Tier", "type": "text"})),
    )
    .await;
    let at = format!("min_position={}", tier["position"]);

    let all = ok(&app, "GET", &format!("/v1/attribute-definitions?{at}"), None).await;
    let keys: Vec<(&str, &str)> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| (d["model"].as_str().expect("a model"), d["key"].as_str().expect("a key")))
        .collect();
    assert_eq!(keys, [("contact", "tier"), ("conversation", "plan"), ("conversation", "seats")]);
    let first = ok(&app, "GET", &format!("/v1/attribute-definitions?model=conversation&limit=1&{at}"), None).await;
    assert_eq!(first["items"][0]["key"], "plan");
    assert_eq!(first["items"][0]["options"], json!(["free", "gold"]));
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second =
        ok(&app, "GET", &format!("/v1/attribute-definitions?model=conversation&limit=1&cursor={cursor}&{at}"), None)
            .await;
    assert_eq!((second["items"][0]["key"].as_str(), &second["next_cursor"]), (Some("seats"), &Value::Null));

    // A list gets a new option; a number gets none.
    let changed = ok(
        &app,
        "PATCH",
        "/v1/attribute-definitions/conversation/plan",
        Some(json!({"options": ["free", "gold", "platinum"]})),
    )
    .await;
    let one = ok(
        &app,
        "GET",
        &format!("/v1/attribute-definitions/conversation/plan?min_position={}", changed["position"]),
        None,
    )
    .await;
    assert_eq!((one["type"].as_str(), &one["options"]), (Some("list"), &json!(["free", "gold", "platinum"])));
    let refused =
        call(&app, "PATCH", "/v1/attribute-definitions/conversation/seats", Some(json!({"options": ["1"]}))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);

    // Deleted: gone from the list, answered 404, and definable anew.
    let deleted = ok(&app, "DELETE", "/v1/attribute-definitions/conversation/seats", None).await;
    let at = format!("min_position={}", deleted["position"]);
    let gone = call(&app, "GET", &format!("/v1/attribute-definitions/conversation/seats?{at}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let missing = call(&app, "PATCH", "/v1/attribute-definitions/conversation/seats", Some(json!({"name": "x"}))).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let anew = call(
        &app,
        "POST",
        "/v1/attribute-definitions",
        Some(json!({"model": "conversation", "key": "seats", "name": "Seats", "type": "text"})),
    )
    .await;
    assert_eq!(anew.status, StatusCode::CREATED, "{}", anew.body);

    // Bad definitions: each 422 naming the field, nothing written.
    let head = whole_log(&t.engine).await.len();
    for (body, pointer) in [
        (json!({"model": "contact", "key": "Plan", "name": "x", "type": "text"}), "/key"),
        (json!({"model": "contact", "key": "p", "name": "x", "type": "list"}), "/options"),
        (json!({"model": "contact", "key": "p", "name": "x", "type": "text", "options": ["a"]}), "/options"),
        (json!({"model": "contact", "key": "p", "name": " ", "type": "text"}), "/name"),
    ] {
        let refused = call(&app, "POST", "/v1/attribute-definitions", Some(body.clone())).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["pointer"], pointer, "{body}: {}", refused.body);
    }
    assert_eq!(whole_log(&t.engine).await.len(), head);
}

/// A conversation on a new SMS inbox.
async fn conversation<B: Backend>(t: &TestEngine<B>, app: &Router, contact: &str) -> String {
    let inbox = ok(app, "POST", "/v1/inboxes", Some(json!({"name": "SMS", "channel_type": "sms"}))).await;
    let message = json!({"inbox_id": inbox["inbox_id"], "contact_id": contact, "sent_at": t.clock_now(),
                         "content": {"type": "text", "body": "hi"}});
    ok(app, "POST", "/v1/inbound-messages", Some(message)).await["conversation_id"].as_str().expect("an id").to_owned()
}

async fn a_conversation_takes_defined_attributes_of_their_type_and_the_list_filters_by_one<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let define = |body: Value| {
        let app = app.clone();
        async move { ok(&app, "POST", "/v1/attribute-definitions", Some(body)).await }
    };
    define(
        json!({"model": "conversation", "key": "plan", "name": "Plan", "type": "list", "options": ["free", "gold"]}),
    )
    .await;
    define(json!({"model": "conversation", "key": "seats", "name": "Seats", "type": "number"})).await;
    define(json!({"model": "conversation", "key": "renewal", "name": "Renewal", "type": "date"})).await;
    define(json!({"model": "contact", "key": "tier", "name": "Tier", "type": "list", "options": ["silver", "gold"]}))
        .await;
    let (a, b) = (conversation(&t, &app, "+4917300071").await, conversation(&t, &app, "+4917300072").await);

    let set = |id: &str, attributes: Value| {
        let (app, uri) = (app.clone(), format!("/v1/conversations/{id}/attributes"));
        async move { call(&app, "PATCH", &uri, Some(json!({"attributes": attributes}))).await }
    };
    let first = set(&a, json!({"plan": "gold", "seats": 12, "renewal": "2027-01-31"})).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    set(&b, json!({"plan": "free", "seats": 3})).await;
    let last = set(&b, json!({"seats": null})).await;
    let at = format!("min_position={}", last.body["position"]);
    let view = ok(&app, "GET", &format!("/v1/conversations/{a}?{at}"), None).await;
    assert_eq!(view["attributes"], json!({"plan": "gold", "seats": 12, "renewal": "2027-01-31"}));
    let view = ok(&app, "GET", &format!("/v1/conversations/{b}?{at}"), None).await;
    assert_eq!(view["attributes"], json!({"plan": "free"}));
    // As it was before: no attributes.
    let before = ok(
        &app,
        "GET",
        &format!("/v1/conversations/{a}?at_position={}", first.body["position"].as_i64().expect("a position") - 3),
        None,
    )
    .await;
    assert_eq!(before["attributes"], json!({}), "{before}");

    let listed = |filter: &str| {
        let (app, uri) = (app.clone(), format!("/v1/conversations?attribute={filter}&{at}"));
        async move {
            let page = ok(&app, "GET", &uri, None).await;
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["conversation_id"].as_str().expect("an id").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed("plan:gold").await, std::slice::from_ref(&a));
    assert_eq!(listed("plan:free").await, std::slice::from_ref(&b));
    assert_eq!(listed("seats:12").await, std::slice::from_ref(&a));
    assert_eq!(listed("seats:3").await, Vec::<String>::new(), "removed");
    let bad_filter = call(&app, "GET", "/v1/conversations?attribute=no-colon", None).await;
    assert_eq!(bad_filter.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad_filter.body);

    // Refusals name the attribute and write nothing, valid values beside them included.
    let head = whole_log(&t.engine).await.len();
    for (attributes, pointer) in [
        (json!({"seats": 1, "plan": "platinum"}), "/attributes/plan"),
        (json!({"seats": "12"}), "/attributes/seats"),
        (json!({"renewal": "31.01.2027"}), "/attributes/renewal"),
        (json!({"colour": "red"}), "/attributes/colour"),
        (json!({"tier": "gold"}), "/attributes/tier"),
    ] {
        let refused = set(&a, attributes.clone()).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{attributes}: {}", refused.body);
        assert_eq!(refused.body["errors"][0]["pointer"], pointer, "{attributes}: {}", refused.body);
    }
    // A contact's value for a defined key is checked; another key is free.
    let refused =
        call(&app, "POST", "/v1/contacts", Some(json!({"name": "Ada", "attributes": {"tier": "bronze"}}))).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
    assert_eq!(refused.body["errors"][0]["pointer"], "/attributes/tier", "{}", refused.body);
    assert_eq!(whole_log(&t.engine).await.len(), head, "refusals write nothing");
    let made = call(
        &app,
        "POST",
        "/v1/contacts",
        Some(json!({"name": "Ada", "attributes": {"tier": "gold", "shoe_size": 38}})),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
}
