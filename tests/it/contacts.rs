//! Contacts over HTTP (#18, decision 0005): a direct inbound message's sender resolves to the
//! contact holding its identities, found or created together with its first message; a new
//! identity reported beside a known one reaches the same contact and conversation later.

use axum::Router;
use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{app, call, engine, on_both_backends, whole_log};

on_both_backends!(
    first_messages_from_one_new_number_at_the_same_moment_make_one_contact,
    whatsapp_replacing_the_phone_with_its_business_id_keeps_the_contact_and_the_conversation,
    a_known_contact_writing_on_another_inbox_gets_its_conversation_there_recorded,
    an_identity_of_the_wrong_shape_is_refused_naming_it_and_nothing_is_written,
    a_contact_is_created_with_its_identities_changed_and_deleted_letting_them_go,
    a_merge_moves_identities_and_conversations_and_never_where_a_reply_goes,
    group_senders_resolve_to_member_contacts_across_groups_and_their_own_conversation,
    an_identity_linked_explicitly_routes_later_messages_and_a_move_takes_it_from_its_holder,
);

async fn inbox(app: &Router, channel: &str) -> String {
    let reply = call(app, "POST", "/v1/inboxes", Some(json!({"name": channel, "channel_type": channel}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["inbox_id"].as_str().expect("an inbox id").to_owned()
}

/// Posts an inbound message and returns the answer's body, after asserting a 2xx.
async fn inbound(app: &Router, body: Value) -> Value {
    let reply = call(app, "POST", "/v1/inbound-messages", Some(body.clone())).await;
    assert!(reply.status.is_success(), "{body}: {}", reply.body);
    reply.body
}

/// How many events of each of these types the log holds.
async fn count<B: Backend>(t: &crate::support::TestEngine<B>, types: &[&str]) -> Vec<usize> {
    let log = whole_log(&t.engine).await;
    types.iter().map(|kind| log.iter().filter(|e| e.event_type == *kind).count()).collect()
}

async fn first_messages_from_one_new_number_at_the_same_moment_make_one_contact<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let sms = inbox(&app, "sms").await;
    let now = t.clock_now();
    let sends = (0..8).map(|i| {
        let body = json!({"inbox_id": sms, "contact_id": "+4917300042", "sent_at": now,
                          "channel_message_id": format!("m{i}"), "content": {"type": "text", "body": format!("hi {i}")}});
        let app = app.clone();
        async move { inbound(&app, body).await }
    });
    let answers = futures::future::join_all(sends).await;
    let contacts: std::collections::BTreeSet<&str> = answers.iter().filter_map(|a| a["contact_id"].as_str()).collect();
    let conversations: std::collections::BTreeSet<&str> =
        answers.iter().filter_map(|a| a["conversation_id"].as_str()).collect();
    assert_eq!((contacts.len(), conversations.len()), (1, 1), "{answers:?}");
    let types = ["IdentityClaimed", "ContactCreated", "ConversationStarted", "InboundMessageReceived"];
    assert_eq!(count(&t, &types).await, [1, 1, 1, 8]);
    // The conversation names its contact.
    let started = whole_log(&t.engine).await.into_iter().find(|e| e.event_type == "ConversationStarted");
    let started = started.expect("started").payload;
    assert_eq!(started["contact_id"].as_str(), contacts.first().copied());
    assert_eq!(started["thread_key"], "+4917300042");
}

async fn whatsapp_replacing_the_phone_with_its_business_id_keeps_the_contact_and_the_conversation<B: Backend>(
    backend: B,
) {
    let t = engine(backend);
    let app = app(&t).await;
    let whatsapp = inbox(&app, "whatsapp").await;
    let now = t.clock_now();
    let message = |from: &str, identities: Value, body: &str| {
        json!({"inbox_id": whatsapp, "contact_id": from, "display_name": "Ada", "sent_at": now,
               "identities": identities, "content": {"type": "text", "body": body}})
    };
    // 1. By phone only, as WhatsApp did before 2026: the phone is read from the contact id.
    let first = inbound(&app, message("+4917300001", json!([]), "by phone")).await;
    // 2. The phone and the new business-scoped user id, once.
    let both = json!([{"kind": "phone", "value": "+49 17300001".replace(' ', "")},
                      {"kind": "whatsapp_bsuid", "value": "US.13491208655302741918"}]);
    let second = inbound(&app, message("+4917300001", both, "both")).await;
    // 3. Only the business-scoped id, without the phone: as an identity, and as the contact id.
    let bsuid = json!([{"kind": "whatsapp_bsuid", "value": "US.13491208655302741918"}]);
    let third = inbound(&app, message("US.13491208655302741918", bsuid, "by id")).await;
    let fourth = inbound(&app, message("US.13491208655302741918", json!([]), "by id, inferred")).await;
    for later in [&second, &third, &fourth] {
        assert_eq!(later["contact_id"], first["contact_id"], "the same contact: {later}");
        assert_eq!(later["conversation_id"], first["conversation_id"], "the same conversation: {later}");
    }
    assert_eq!([first["version"].as_i64(), fourth["version"].as_i64()], [Some(2), Some(5)], "started + 4 messages");
    let types = ["ContactCreated", "IdentityClaimed", "ContactIdentityAdded", "ConversationStarted"];
    assert_eq!(count(&t, &types).await, [1, 2, 1, 1]);
    // Replies still go where the conversation started: its thread key is the phone.
    let conversation = first["conversation_id"].as_str().expect("an id");
    let uri = format!("/v1/conversations/{conversation}?min_position={}", fourth["position"]);
    let view = call(&app, "GET", &uri, None).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert_eq!((&view.body["thread_key"], &view.body["contact_id"]), (&json!("+4917300001"), &first["contact_id"]));
    assert_eq!(view.body["message_count"], 4);
    // The contact, as the API shows it: both identities, its conversation on the inbox.
    let contact = first["contact_id"].as_str().expect("a contact id");
    let shown = call(&app, "GET", &format!("/v1/contacts/{contact}?min_position={}", fourth["position"]), None).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.body);
    let identities: Vec<(&str, &str)> = shown.body["identities"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| Some((i["kind"].as_str()?, i["value"].as_str()?)))
        .collect();
    assert_eq!(identities, [("phone", "+4917300001"), ("whatsapp_bsuid", "US.13491208655302741918")]);
    assert_eq!(shown.body["name"], "Ada");
    assert_eq!(shown.body["conversations"], json!([{"inbox_id": whatsapp, "conversation_id": conversation}]));
    // Found by either identity, spelled as its kind allows, and by its name's first letters.
    for query in ["identity=phone:%2B4917300001", "identity=whatsapp_bsuid:US.13491208655302741918", "name=aD"] {
        let uri = format!("/v1/contacts?{query}&min_position={}", fourth["position"]);
        let found = call(&app, "GET", &uri, None).await;
        assert_eq!(found.status, StatusCode::OK, "{query}: {}", found.body);
        let ids: Vec<&Value> = found.body["items"].as_array().into_iter().flatten().map(|c| &c["contact_id"]).collect();
        assert_eq!(ids, [&first["contact_id"]], "{query}");
    }
    let none = call(&app, "GET", "/v1/contacts?identity=phone:%2B4917300002", None).await;
    assert_eq!(none.body["items"], json!([]));
    for bad in ["identity=phone", "identity=fax:%2B4917300001", "identity=phone:0173"] {
        let refused = call(&app, "GET", &format!("/v1/contacts?{bad}"), None).await;
        assert_eq!((refused.status, &refused.body["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("identity")));
    }
    let nobody = call(&app, "GET", &format!("/v1/contacts/{}", uuid::Uuid::now_v7()), None).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
}

async fn a_known_contact_writing_on_another_inbox_gets_its_conversation_there_recorded<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let (sms, rcs) = (inbox(&app, "sms").await, inbox(&app, "rcs").await);
    let now = t.clock_now();
    let message = |inbox: &str, body: &str| json!({"inbox_id": inbox, "contact_id": "+4917300007", "sent_at": now, "content": {"type": "text", "body": body}});
    let on_sms = inbound(&app, message(&sms, "one")).await;
    let on_rcs = inbound(&app, message(&rcs, "two")).await;
    let again = inbound(&app, message(&rcs, "three")).await;
    assert_eq!(on_sms["contact_id"], on_rcs["contact_id"], "one person on two channels");
    assert_ne!(on_sms["conversation_id"], on_rcs["conversation_id"], "one conversation per inbox");
    assert_eq!(again["conversation_id"], on_rcs["conversation_id"]);
    let recorded: Vec<Value> = whole_log(&t.engine)
        .await
        .into_iter()
        .filter(|e| e.event_type == "ContactConversationRecorded")
        .map(|e| e.payload)
        .collect();
    assert_eq!(recorded.len(), 1, "recorded once: {recorded:?}");
    assert_eq!((&recorded[0]["inbox_id"], &recorded[0]["conversation_id"]), (&json!(rcs), &on_rcs["conversation_id"]));
}

async fn an_identity_of_the_wrong_shape_is_refused_naming_it_and_nothing_is_written<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let sms = inbox(&app, "sms").await;
    let head = whole_log(&t.engine).await.len();
    for (identities, field) in [
        (json!([{"kind": "phone", "value": "0173 000"}]), "identities[0].value"),
        (
            json!([{"kind": "phone", "value": "+4917300008"}, {"kind": "email", "value": "no-at-sign"}]),
            "identities[1].value",
        ),
    ] {
        let body = json!({"inbox_id": sms, "contact_id": "+4917300008", "sent_at": t.clock_now(),
                          "identities": identities, "content": {"type": "text", "body": "hi"}});
        let reply = call(&app, "POST", "/v1/inbound-messages", Some(body)).await;
        assert_eq!((reply.status, reply.body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("validation")));
        assert_eq!(reply.body["field"], field, "{}", reply.body);
        let pointer = format!("/{}", field.replace('[', "/").replace("].", "/"));
        assert_eq!(reply.body["errors"][0]["pointer"], pointer, "RFC 6901: {}", reply.body);
    }
    let group = json!({"inbox_id": sms, "group_id": "g1", "sender": "+4917300008", "sent_at": t.clock_now(),
                       "identities": [{"kind": "phone", "value": "+4917300008"}], "content": {"type": "text", "body": "hi"}});
    let reply = call(&app, "POST", "/v1/inbound-messages", Some(group)).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", reply.body);
    assert_eq!(whole_log(&t.engine).await.len(), head, "nothing written");
}

/// A contact made, changed and deleted over HTTP: its identities are its own (another contact
/// cannot take one), its tags are replaced and its attributes set and removed, and once it is
/// deleted its identities are free: a message from one makes a new contact.
async fn a_contact_is_created_with_its_identities_changed_and_deleted_letting_them_go<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let sms = inbox(&app, "sms").await;
    let body = json!({"name": "Grace", "identities": [{"kind": "phone", "value": "+4917300021"},
                                                         {"kind": "email", "value": "Grace@Example.com"}],
                      "tags": ["VIP"], "attributes": {"plan": "gold"}});
    let made = call(&app, "POST", "/v1/contacts", Some(body)).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let grace = made.body["contact_id"].as_str().expect("a contact id").to_owned();
    // Another contact cannot have her email; nothing of it is written.
    let head = whole_log(&t.engine).await.len();
    let theirs = json!({"identities": [{"kind": "phone", "value": "+4917300022"}, {"kind": "email", "value": "grace@example.com"}]});
    let taken = call(&app, "POST", "/v1/contacts", Some(theirs)).await;
    assert_eq!((taken.status, taken.body["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{}", taken.body);
    assert!(taken.body["detail"].as_str().is_some_and(|d| d.contains(&grace)), "{}", taken.body);
    assert_eq!(whole_log(&t.engine).await.len(), head, "nothing of the refused contact");
    // Her message lands on her.
    let now = t.clock_now();
    let message = json!({"inbox_id": sms, "contact_id": "+4917300021", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let hers = inbound(&app, message.clone()).await;
    assert_eq!(hers["contact_id"], json!(grace));
    // Changed: tags replaced, an attribute removed and one set, the name.
    let uri = format!("/v1/contacts/{grace}");
    let change = json!({"name": "Grace H.", "tags": ["lead", "Admiral"], "attributes": {"plan": null, "rank": 3}});
    let changed = call(&app, "PATCH", &uri, Some(change)).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    let shown = call(&app, "GET", &format!("{uri}?min_position={}", changed.body["position"]), None).await;
    assert_eq!((&shown.body["name"], &shown.body["tags"]), (&json!("Grace H."), &json!(["admiral", "lead"])));
    assert_eq!(shown.body["attributes"], json!({"rank": 3}));
    let conversations =
        call(&app, "GET", &format!("{uri}/conversations?min_position={}", changed.body["position"]), None).await;
    assert_eq!(conversations.body["items"][0]["conversation_id"], hers["conversation_id"], "{}", conversations.body);
    let same = call(&app, "PATCH", &uri, Some(json!({"tags": ["lead", "admiral"]}))).await;
    assert_eq!(same.body["version"], changed.body["version"], "nothing changed: {}", same.body);
    // Deleted: 404 from then on, and her phone makes a new contact.
    let deleted = call(&app, "DELETE", &uri, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    let gone = call(&app, "GET", &format!("{uri}?min_position={}", deleted.body["position"]), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, "PATCH", &uri, Some(json!({"name": "x"}))).await.status, StatusCode::NOT_FOUND);
    let later = inbound(
        &app,
        json!({"inbox_id": sms, "contact_id": "+4917300021", "sent_at": now,
                                     "content": {"type": "text", "body": "me again"}}),
    )
    .await;
    assert_ne!(later["contact_id"], json!(grace), "a new contact for a phone let go");
}

/// Two contacts, one on SMS by phone and one on email, are one person: merged, the survivor has
/// both identities and both conversations; the merged one shows where it went and takes no
/// command; a new email lands in the conversation the email started, which still replies to
/// that address.
async fn a_merge_moves_identities_and_conversations_and_never_where_a_reply_goes<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let (sms, email) = (inbox(&app, "sms").await, inbox(&app, "email").await);
    let now = t.clock_now();
    let message = |inbox: &str, from: &str| json!({"inbox_id": inbox, "contact_id": from, "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let by_phone = inbound(&app, message(&sms, "+4917300031")).await;
    let by_email = inbound(&app, message(&email, "Ada@Example.com")).await;
    let (survivor, merged) = (by_phone["contact_id"].clone(), by_email["contact_id"].clone());
    assert_ne!(survivor, merged);
    let uri = |id: &Value| format!("/v1/contacts/{}", id.as_str().expect("an id"));
    let itself = call(&app, "POST", &format!("{}/merge", uri(&survivor)), Some(json!({"contact_id": survivor}))).await;
    assert_eq!((itself.status, &itself.body["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("contact_id")));
    let merge = call(&app, "POST", &format!("{}/merge", uri(&survivor)), Some(json!({"contact_id": merged}))).await;
    assert_eq!(merge.status, StatusCode::OK, "{}", merge.body);
    let at = format!("?min_position={}", merge.body["position"]);
    let gone = call(&app, "GET", &format!("{}{at}", uri(&merged)), None).await;
    assert_eq!((gone.status, &gone.body["merged_into"]), (StatusCode::OK, &survivor), "{}", gone.body);
    assert_eq!(call(&app, "PATCH", &uri(&merged), Some(json!({"name": "x"}))).await.status, StatusCode::NOT_FOUND);
    let again = call(&app, "POST", &format!("{}/merge", uri(&survivor)), Some(json!({"contact_id": merged}))).await;
    assert_eq!((again.status, &again.body["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("contact_id")));
    let shown = call(&app, "GET", &format!("{}{at}", uri(&survivor)), None).await;
    let kinds: Vec<&str> =
        shown.body["identities"].as_array().into_iter().flatten().filter_map(|i| i["kind"].as_str()).collect();
    assert_eq!(kinds, ["phone", "email"], "{}", shown.body);
    let conversations: Vec<&Value> =
        shown.body["conversations"].as_array().into_iter().flatten().map(|c| &c["conversation_id"]).collect();
    assert_eq!(conversations.len(), 2, "{}", shown.body);
    assert!(
        conversations.contains(&&by_email["conversation_id"]) && conversations.contains(&&by_phone["conversation_id"])
    );
    // The moved conversation's view names the survivor now, and the merged contact before.
    let moved_uri = format!("/v1/conversations/{}", by_email["conversation_id"].as_str().expect("id"));
    let now_view = call(&app, "GET", &format!("{moved_uri}{at}"), None).await;
    assert_eq!(now_view.body["contact_id"], survivor, "{}", now_view.body);
    let then_view = call(&app, "GET", &format!("{moved_uri}?at_position={}", by_email["position"]), None).await;
    assert_eq!(then_view.body["contact_id"], merged, "{}", then_view.body);
    // Before the merge, history shows two contacts, each with its own identity.
    let before = format!("?at_position={}", by_email["position"]);
    let then_merged = call(&app, "GET", &format!("{}{before}", uri(&merged)), None).await;
    assert_eq!((then_merged.status, &then_merged.body["merged_into"]), (StatusCode::OK, &Value::Null));
    let then_survivor = call(&app, "GET", &format!("{}{before}", uri(&survivor)), None).await;
    assert_eq!(then_survivor.body["identities"], json!([{"kind": "phone", "value": "+4917300031"}]));
    let not_yet = call(&app, "GET", &format!("{}?at_position={}", uri(&merged), by_phone["position"]), None).await;
    assert_eq!(not_yet.status, StatusCode::NOT_FOUND, "the email's contact did not exist yet");
    // The email writes again: the survivor's, in the conversation it started, replying there.
    let later = inbound(&app, message(&email, "ada@example.com")).await;
    assert_eq!((&later["contact_id"], &later["conversation_id"]), (&survivor, &by_email["conversation_id"]));
    let view = call(
        &app,
        "GET",
        &format!(
            "/v1/conversations/{}?min_position={}",
            later["conversation_id"].as_str().expect("id"),
            later["position"]
        ),
        None,
    )
    .await;
    assert_eq!(view.body["thread_key"], "Ada@Example.com", "replies go where they always went");
    let moved: Vec<Value> = whole_log(&t.engine)
        .await
        .into_iter()
        .filter(|e| e.event_type == "IdentityClaimed" && e.payload["previous"] == merged)
        .map(|e| e.payload["identity"].clone())
        .collect();
    assert_eq!(moved, [json!({"kind": "email", "value": "ada@example.com"})]);
}

async fn an_identity_linked_explicitly_routes_later_messages_and_a_move_takes_it_from_its_holder<B: Backend>(
    backend: B,
) {
    let t = engine(backend);
    let app = app(&t).await;
    let whatsapp = inbox(&app, "whatsapp").await;
    let now = t.clock_now();
    let message = |from: &str| json!({"inbox_id": whatsapp, "contact_id": from, "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let first = inbound(&app, message("+4917300051")).await;
    let ada = first["contact_id"].as_str().expect("a contact").to_owned();
    let identities = format!("/v1/contacts/{ada}/identities");
    let bsuid = json!({"kind": "whatsapp_bsuid", "value": "US.555"});
    // The connector links the business-scoped id it learned another way.
    let linked = call(&app, "POST", &identities, Some(bsuid.clone())).await;
    assert_eq!(linked.status, StatusCode::OK, "{}", linked.body);
    assert_eq!(call(&app, "POST", &identities, Some(bsuid.clone())).await.body["version"], linked.body["version"]);
    // A message carrying only the new id lands in the contact and its conversation.
    let later = inbound(&app, message("US.555")).await;
    assert_eq!((&later["contact_id"], &later["conversation_id"]), (&first["contact_id"], &first["conversation_id"]));
    // Another contact's email: 409 naming it, nothing written; with `move` it changes hands.
    let bob = call(
        &app,
        "POST",
        "/v1/contacts",
        Some(json!({"name": "Bob",
        "identities": [{"kind": "email", "value": "bob@example.com"}]})),
    )
    .await;
    let bob = bob.body["contact_id"].as_str().expect("a contact").to_owned();
    let email = json!({"kind": "email", "value": "Bob@Example.com"});
    let before = whole_log(&t.engine).await.len();
    let held = call(&app, "POST", &identities, Some(email.clone())).await;
    assert_eq!(
        (held.status, held.body["contact_id"].as_str()),
        (StatusCode::CONFLICT, Some(bob.as_str())),
        "{}",
        held.body
    );
    let bad = call(&app, "POST", &identities, Some(json!({"kind": "phone", "value": "0170 1234"}))).await;
    assert_eq!((bad.status, &bad.body["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("value")), "{}", bad.body);
    let nobody =
        call(&app, "POST", &format!("/v1/contacts/{}/identities", uuid::Uuid::now_v7()), Some(bsuid.clone())).await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);
    assert_eq!(whole_log(&t.engine).await.len(), before, "refusals write nothing");
    let moved =
        call(&app, "POST", &identities, Some(json!({"kind": "email", "value": "bob@example.com", "move": true}))).await;
    assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
    let at = format!("?min_position={}", moved.body["position"]);
    let keys = |contact: &Value| -> Vec<String> {
        contact["identities"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| format!("{}:{}", i["kind"].as_str().unwrap_or(""), i["value"].as_str().unwrap_or("")))
            .collect()
    };
    let ada_now = call(&app, "GET", &format!("/v1/contacts/{ada}{at}"), None).await.body;
    assert_eq!(keys(&ada_now), ["phone:+4917300051", "email:bob@example.com", "whatsapp_bsuid:US.555"], "{ada_now}");
    let bob_now = call(&app, "GET", &format!("/v1/contacts/{bob}{at}"), None).await.body;
    assert_eq!(keys(&bob_now), Vec::<String>::new(), "{bob_now}");
    let claimed = whole_log(&t.engine).await.into_iter().rfind(|e| e.event_type == "IdentityClaimed").expect("a claim");
    assert_eq!(claimed.payload["previous"].as_str(), Some(bob.as_str()));
    // Unlinked, the id is nobody's: its next message makes a new contact.
    let unlinked = call(&app, "DELETE", &identities, Some(bsuid)).await;
    assert_eq!(unlinked.status, StatusCode::OK, "{}", unlinked.body);
    let stranger = inbound(&app, message("US.555")).await;
    assert_ne!(stranger["contact_id"], first["contact_id"]);
}

/// A group message's sender is a member contact: found or created by the identity their member
/// id is on the inbox's channel (a phone on WhatsApp), the same contact in every group and in
/// their own direct conversation; the timeline names it beside the member id. A sender id that is
/// no such identity makes no contact.
async fn group_senders_resolve_to_member_contacts_across_groups_and_their_own_conversation<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let wa = inbox(&app, "whatsapp").await;
    let now = t.clock_now();
    let group = |group: &str, sender: &str, n: u32| {
        json!({"inbox_id": wa, "group_id": group, "sender": sender, "sent_at": now,
               "channel_message_id": format!("wamid.g{n}"), "content": {"type": "text", "body": "hi all"}})
    };
    let first = inbound(&app, group("120363000000000101@g.us", "+4917300061", 1)).await;
    let alice = first["contact_id"].clone();
    assert!(alice.is_string(), "the sender's contact: {first}");
    let other_group = inbound(&app, group("120363000000000102@g.us", "+4917300061", 2)).await;
    assert_eq!(other_group["contact_id"], alice, "the same member contact in another group");
    // Again (a connector's retry): received once, the same contact.
    let retry = inbound(&app, group("120363000000000101@g.us", "+4917300061", 1)).await;
    assert_eq!((&retry["contact_id"], &retry["version"]), (&alice, &first["version"]));
    // Their own direct message lands with the same contact.
    let direct =
        json!({"inbox_id": wa, "contact_id": "+4917300061", "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let direct = inbound(&app, direct).await;
    assert_eq!(direct["contact_id"], alice);
    let at = format!("min_position={}", direct["position"]);
    let contact = call(&app, "GET", &format!("/v1/contacts/{}?{at}", alice.as_str().expect("an id")), None).await;
    assert_eq!(contact.body["identities"], json!([{"kind": "phone", "value": "+4917300061"}]), "{}", contact.body);
    let conversations: Vec<&Value> =
        contact.body["conversations"].as_array().into_iter().flatten().map(|c| &c["conversation_id"]).collect();
    assert_eq!(conversations, [&direct["conversation_id"]], "groups are not the contact's conversations");
    let group_id = first["conversation_id"].as_str().expect("a group conversation");
    let timeline = call(&app, "GET", &format!("/v1/conversations/{group_id}/messages?{at}"), None).await;
    assert_eq!(timeline.body["items"][0]["sender"], "+4917300061");
    assert_eq!(timeline.body["items"][0]["sender_contact_id"], alice, "{}", timeline.body);
    // A member id that is no identity on the channel (no phone, no business-scoped id: it has a
    // space) makes no contact.
    let before = count(&t, &["ContactCreated"]).await;
    let odd = inbound(&app, group("120363000000000101@g.us", "member seven", 3)).await;
    assert_eq!(odd["contact_id"], Value::Null, "{odd}");
    assert_eq!(count(&t, &["ContactCreated"]).await, before);
}
