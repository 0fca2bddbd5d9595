//! Unread counts on both backends: per conversation and user, with each user's read markers,
//! and a version that never goes down for a client polling during writes.

use axum::http::StatusCode;
use chrono::Duration as Span;
use convo_store::Backend;
use serde_json::{Value, json};

use super::{agent, inbound, new_inbox};
use crate::support::{app, call, engine, on_both_backends};

on_both_backends!(
    unread_counts_follow_inbound_messages_and_each_users_read_markers,
    the_unread_version_never_goes_down_for_a_client_polling_during_writes,
);

async fn unread_counts_follow_inbound_messages_and_each_users_read_markers<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let now = t.clock_now();
    let (one, two) = (new_inbox(&app, "sms").await, new_inbox(&app, "whatsapp").await);
    let mut last = Value::Null;
    let mut message = |done: &Value| done["message_id"].as_str().unwrap_or_default().to_owned();
    let a: Vec<Value> = futures::future::join_all((0..3).map(|i| {
        let app = app.clone();
        let one = one.clone();
        async move { inbound(&app, &one, "+4917900001", now + Span::seconds(i), "a").await }
    }))
    .await;
    let b = inbound(&app, &one, "+4917900002", now, "b").await;
    let b_conv = format!("/v1/conversations/{}", b["conversation_id"].as_str().unwrap_or_default());
    let reply = call(
        &app,
        "POST",
        &format!("{b_conv}/messages"),
        Some(json!({"actor": agent(), "content": {"type": "text", "body": "hi"}})),
    )
    .await;
    let b_reply = message(&reply.body);
    for _ in 0..2 {
        last = inbound(&app, &two, "+4917900003", now, "c").await;
    }
    let summary = |user: &str, at: &Value| {
        let uri =
            format!("/v1/users/{user}/unread-summary?min_position={}", at["position"].as_i64().unwrap_or_default());
        let app = app.clone();
        async move {
            let reply = call(&app, "GET", &uri, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{uri}: {:?}", reply.body);
            reply.body
        }
    };
    let inboxes = |s: &Value| -> Vec<(String, u64, u64)> {
        s["inboxes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|i| {
                (
                    i["inbox_id"].as_str().unwrap_or_default().to_owned(),
                    i["unread"].as_u64().unwrap_or(0),
                    i["conversations"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let mut expected_inboxes =
        vec![(one.as_str().unwrap_or_default().to_owned(), 4, 2), (two.as_str().unwrap_or_default().to_owned(), 2, 1)];
    expected_inboxes.sort();
    let ada = summary("ada", &last).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(6), Some(3)), "nothing read yet: {ada}");
    let mut got = inboxes(&ada);
    got.sort();
    assert_eq!(got, expected_inboxes);
    assert!(ada["version"].as_i64() >= last["position"].as_i64());

    // ada reads conversation A up to its second message, and B up to the reply (after its one inbound).
    let a_conv = format!("/v1/conversations/{}", a[0]["conversation_id"].as_str().unwrap_or_default());
    let second = a.iter().find(|d| d["version"] == 3).map(&mut message).unwrap_or_default();
    call(&app, "POST", &format!("{a_conv}/read"), Some(json!({"user_id": "ada", "message_id": second}))).await;
    let read_b =
        call(&app, "POST", &format!("{b_conv}/read"), Some(json!({"user_id": "ada", "message_id": b_reply}))).await;
    let ada = summary("ada", &read_b.body).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(3), Some(2)), "{ada}");
    let bob = summary("bob", &read_b.body).await;
    assert_eq!((bob["total"].as_u64(), bob["conversations"].as_u64()), (Some(6), Some(3)), "markers are per user");

    // The list with `user_id` counts each conversation's unread messages for that user: B is
    // read, and the counts add up to the summary's total. Without `user_id` it counts nothing.
    let listed = |user: &'static str| {
        let uri = format!("/v1/conversations?min_position={}{user}", read_b.body["position"]);
        let app = &app;
        async move { call(app, "GET", &uri, None).await.body }
    };
    let for_ada = listed("&user_id=ada").await;
    let unread = |body: &serde_json::Value, id: &serde_json::Value| {
        body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["conversation_id"] == *id)
            .map(|i| i["unread"].clone())
    };
    assert_eq!(unread(&for_ada, &b["conversation_id"]), Some(json!(0)), "{for_ada}");
    let total: u64 = for_ada["items"].as_array().into_iter().flatten().filter_map(|i| i["unread"].as_u64()).sum();
    assert_eq!(total, 3, "{for_ada}");
    let anonymous = listed("").await;
    assert_eq!(unread(&anonymous, &b["conversation_id"]), Some(serde_json::Value::Null), "{anonymous}");

    // A new inbound message in B makes it unread again for ada.
    let again = inbound(&app, &one, "+4917900002", now, "b again").await;
    let ada = summary("ada", &again).await;
    assert_eq!((ada["total"].as_u64(), ada["conversations"].as_u64()), (Some(4), Some(3)), "{ada}");
    let stranger = summary("nobody-in-particular", &again).await;
    assert_eq!(stranger["total"].as_u64(), Some(7));

    // The inbox list can show only the conversations a user has not read: B (again), C, and A
    // unless ada has now read all of it.
    let read_a =
        call(&app, "POST", &format!("{a_conv}/read"), Some(json!({"user_id": "ada", "message_id": message(&a[2]) })))
            .await;
    let unread_list = call(
        &app,
        "GET",
        &format!("/v1/conversations?unread_only=true&user_id=ada&min_position={}", read_a.body["position"]),
        None,
    )
    .await;
    let ids: std::collections::HashSet<String> = unread_list.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["conversation_id"].as_str().map(str::to_owned))
        .collect();
    // A's three messages were sent concurrently: A is fully read only if a[2] came last.
    let expected_unread = if a[2]["version"] == 4 { 2 } else { 3 };
    assert_eq!(ids.len(), expected_unread, "{:?}", unread_list.body);
    assert!(ids.contains(b["conversation_id"].as_str().unwrap_or_default()));
    assert_eq!(
        call(&app, "GET", "/v1/conversations?unread_only=true", None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

async fn the_unread_version_never_goes_down_for_a_client_polling_during_writes<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    let inbox = new_inbox(&app, "sms").await;
    let writer = {
        let app = app.clone();
        let now = t.clock_now();
        tokio::spawn(async move {
            let mut last = Value::Null;
            for i in 0..40 {
                let done = inbound(&app, &inbox, &format!("+49179100{:02}", i % 7), now, "hello").await;
                if i % 3 == 0 {
                    let c = format!("/v1/conversations/{}/read", done["conversation_id"].as_str().unwrap_or_default());
                    last = call(&app, "POST", &c, Some(json!({"user_id": "ada", "message_id": done["message_id"]})))
                        .await
                        .body;
                } else {
                    last = done;
                }
            }
            last
        })
    };
    let mut versions = Vec::new();
    let mut totals = Vec::new();
    while !writer.is_finished() {
        let reply = call(&app, "GET", "/v1/users/ada/unread-summary", None).await;
        versions.push(reply.body["version"].as_i64().unwrap_or(-1));
        totals.push(reply.body["total"].as_u64().unwrap_or(0));
    }
    let last = writer.await.expect("writer");
    assert!(versions.len() > 3, "the poller saw the writes happen ({} polls)", versions.len());
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "the version never goes down: {versions:?}");
    let settled =
        call(&app, "GET", &format!("/v1/users/ada/unread-summary?min_position={}", last["position"]), None).await;
    // 40 inbound messages over 7 conversations; ada read up to every third one as it arrived.
    let (mut count, mut read) = ([0u64; 7], [0u64; 7]);
    for i in 0..40 {
        count[i % 7] += 1;
        if i % 3 == 0 {
            read[i % 7] = count[i % 7];
        }
    }
    let expected: u64 = count.iter().zip(read).map(|(c, r)| c - r).sum();
    assert!(settled.body["version"].as_i64() >= last["position"].as_i64());
    assert_eq!(settled.body["total"].as_u64(), Some(expected));
    assert!(totals.iter().all(|t| *t <= 40));
}
