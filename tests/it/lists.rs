//! Every list of the API pages the same way, on both backends: `items` and `next_cursor`, the
//! `limit` and `cursor` parameters, and a `Link: <…>; rel="next"` header while another page
//! follows. Each list is walked a page at a time to its end, by its cursor and by its links, and
//! the walk is the whole list once, in order.

use axum::Router;
use axum::http::StatusCode;
use convo_store::Backend;
use serde_json::{Value, json};

use crate::support::{API_WS, app, call, engine, on_both_backends, whole_log};

on_both_backends!(
    every_list_walks_page_by_page_to_its_end_by_cursor_and_by_link,
    every_list_refuses_a_bad_limit_or_cursor_naming_the_parameter,
);

/// A command that must succeed; returns its answer.
async fn ok(app: &Router, method: &str, uri: &str, body: Value) -> Value {
    let reply = call(app, method, uri, Some(body)).await;
    assert!(reply.status.is_success(), "{method} {uri}: {}", reply.body);
    reply.body
}

/// A list of the API: its first page's URI (without `limit`), what names an item, the largest
/// page it serves, and how many items it must hold.
struct List {
    uri: String,
    key: &'static str,
    max: u32,
    count: usize,
}

/// The ids of a page's items.
fn keys(page: &Value, key: &str) -> Vec<String> {
    let items = page["items"].as_array().unwrap_or_else(|| panic!("a page has items: {page}"));
    items.iter().map(|item| item[key].to_string()).collect()
}

/// The URI a `Link: <uri>; rel="next"` header points at.
fn next_link(link: &str) -> String {
    let (uri, rel) = link.strip_prefix('<').and_then(|l| l.split_once('>')).expect("a <URI> in the Link header");
    assert_eq!(rel, "; rel=\"next\"", "{link}");
    uri.to_owned()
}

/// Walks `list` `limit` items a page, following `next_cursor` (`by_link` false) or the `Link`
/// header; returns the ids in the order the pages gave them.
async fn walk(app: &Router, list: &List, limit: u32, by_link: bool) -> Vec<String> {
    let first = format!("{}{}limit={limit}", list.uri, if list.uri.contains('?') { '&' } else { '?' });
    let (mut uri, mut seen) = (first.clone(), Vec::new());
    for _ in 0..=list.count {
        let reply = call(app, "GET", &uri, None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {uri}: {}", reply.body);
        let page = keys(&reply.body, list.key);
        assert!(!page.is_empty() && page.len() <= limit as usize, "GET {uri}: {} items", page.len());
        seen.extend(page.iter().cloned());
        let Some(next) = reply.body["next_cursor"].as_str() else {
            assert_eq!(reply.body["next_cursor"], Value::Null, "GET {uri}: next_cursor is a string or null");
            assert_eq!(reply.link, None, "GET {uri}: the last page links nowhere");
            return seen;
        };
        assert_eq!(page.len(), limit as usize, "GET {uri}: a page before the last is full");
        let link = reply.link.unwrap_or_else(|| panic!("GET {uri}: a page before the last links to the next"));
        uri = if by_link { next_link(&link) } else { format!("{first}&cursor={next}") };
    }
    panic!("{} did not end after {} pages of {limit}", list.uri, list.count + 1);
}

/// A workspace with something in every list: inboxes (one deleted), keys, conversations, one of
/// them with several exchanges, a group with members and pending join requests, webhook
/// endpoints and attempts. Returns the lists, each at a consistent position.
async fn every_list<B: Backend>(t: &crate::support::TestEngine<B>, app: &Router) -> Vec<List> {
    let now = t.clock_now();
    let mut inboxes = Vec::new();
    for (name, channel) in [("WA", "whatsapp"), ("SMS", "sms"), ("Mail", "email")] {
        let inbox = ok(app, "POST", "/v1/inboxes", json!({"name": name, "channel_type": channel})).await;
        inboxes.push(inbox["inbox_id"].as_str().expect("an inbox id").to_owned());
    }
    for name in ["deploy", "reports"] {
        ok(app, "POST", "/v1/keys", json!({"name": name, "scopes": ["read"]})).await;
    }
    let inbound = |contact: &str| json!({"inbox_id": inboxes[0], "contact_id": contact, "sent_at": now, "content": {"type": "text", "body": "hi"}});
    let mut conversations = Vec::new();
    for contact in ["+4915200001", "+4915200002", "+4915200003"] {
        let started = ok(app, "POST", "/v1/inbound-messages", inbound(contact)).await;
        conversations.push(format!("/v1/conversations/{}", started["conversation_id"].as_str().expect("an id")));
    }
    // Three answers, each to a question: seven messages, three responses.
    let c = &conversations[0];
    let reply = json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": "hello"}});
    for _ in 0..3 {
        ok(app, "POST", &format!("{c}/messages"), reply.clone()).await;
        ok(app, "POST", "/v1/inbound-messages", inbound("+4915200001")).await;
    }
    let members: Vec<Value> = ["+4915200011", "+4915200012", "+4915200013"].map(|m| json!({"member_id": m})).into();
    let group = json!({"inbox_id": inboxes[0], "group_id": "crew", "subject": "Crew", "self_member": "+4915200010",
                       "members": members, "settings": {"join_approval": true}});
    let group = ok(app, "POST", "/v1/groups", group).await;
    let g = format!("/v1/conversations/{}", group["conversation_id"].as_str().expect("a group"));
    for member in ["+4915200021", "+4915200022", "+4915200023"] {
        ok(app, "POST", &format!("{g}/join-requests"), json!({"member_id": member})).await;
    }
    ok(app, "DELETE", &format!("/v1/inboxes/{}", inboxes[2]), Value::Null).await;
    // Webhook endpoints, and attempts to deliver three events to one of them.
    let mut hooks = Vec::new();
    for receiver in ["a", "b", "c"] {
        let hook = ok(app, "POST", "/v1/webhooks", json!({"url": format!("https://{receiver}.test/hook")})).await;
        hooks.push(hook["endpoint_id"].as_str().expect("an endpoint id").to_owned());
    }
    let sql = t.engine.backend.sql();
    for position in 1..=3 {
        crate::webhooks_api::record_attempt(&sql, API_WS, &hooks[0], position, 1, true).await;
    }

    let head = t.engine.log.head().await.expect("the head");
    let log = whole_log(&t.engine).await;
    let ours = log.iter().filter(|e| e.workspace_id.as_deref() == Some(API_WS.to_string().as_str())).count();
    let c_id = c.rsplit('/').next().expect("an id");
    let in_c = log.iter().filter(|e| e.aggregate_id == c_id).count();
    // The log itself has no consistency token: on PostgreSQL an event is readable once no older
    // transaction anywhere in the cluster is still open (decision 0002), so wait until it is.
    for _ in 0..500 {
        let all = call(app, "GET", "/v1/events?limit=1000", None).await;
        if all.body["items"].as_array().map(Vec::len) == Some(ours) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let at = format!("min_position={head}");
    let list = |uri: String, key, max, count| List { uri, key, max, count };
    vec![
        list(format!("/v1/conversations?archived=any&{at}"), "conversation_id", 200, 4),
        list(format!("/v1/conversations?sort=%2Bcreated_at&{at}"), "conversation_id", 200, 4),
        list(format!("{c}/messages?{at}"), "message_id", 200, 7),
        list(format!("{c}/messages?order=desc&{at}"), "message_id", 200, 7),
        list(format!("{c}/response-times?{at}"), "message_id", 200, 3),
        list("/v1/events".into(), "position", 1000, ours),
        list(format!("{c}/events"), "sequence", 1000, in_c),
        list(format!("{g}/members?{at}"), "member_id", 200, 4),
        list(format!("{g}/join-requests?{at}"), "request_id", 200, 3),
        list(format!("/v1/inboxes?include_deleted=true&{at}"), "inbox_id", 200, 3),
        list(format!("/v1/inboxes?{at}"), "inbox_id", 200, 2),
        list("/v1/keys".into(), "key_id", 200, 3),
        list("/v1/webhooks".into(), "endpoint_id", 200, 3),
        list("/v1/webhooks/attempts".into(), "position", 200, 3),
    ]
}

async fn every_list_walks_page_by_page_to_its_end_by_cursor_and_by_link<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    for list in every_list(&t, &app).await {
        let whole = walk(&app, &list, list.max, false).await;
        assert_eq!(whole.len(), list.count, "{}: {whole:?}", list.uri);
        let distinct: std::collections::HashSet<&String> = whole.iter().collect();
        assert_eq!(distinct.len(), whole.len(), "{}: an item twice in one page: {whole:?}", list.uri);
        for limit in [1, 2] {
            for by_link in [false, true] {
                let walked = walk(&app, &list, limit, by_link).await;
                let how = if by_link { "links" } else { "cursors" };
                assert_eq!(walked, whole, "{} by {how}, {limit} a page: each item once, in order", list.uri);
            }
        }
    }

    // The log's readers keep the last position they saw: as `after`, it is the cursor.
    let first = call(&app, "GET", "/v1/events?limit=2", None).await;
    let next = first.body["next_cursor"].as_str().expect("more than two events");
    let by_cursor = call(&app, "GET", &format!("/v1/events?limit=2&cursor={next}"), None).await;
    let last_seen = first.body["items"][1]["position"].as_i64().expect("a position");
    let by_after = call(&app, "GET", &format!("/v1/events?after={last_seen}&limit=2"), None).await;
    assert_eq!((by_cursor.body.clone(), by_cursor.link), (by_after.body, by_after.link), "after is the cursor");
    assert!(keys(&by_cursor.body, "position").iter().all(|p| p.parse::<i64>().is_ok_and(|p| p > last_seen)));
}

async fn every_list_refuses_a_bad_limit_or_cursor_naming_the_parameter<B: Backend>(backend: B) {
    let t = engine(backend);
    let app = app(&t).await;
    for list in every_list(&t, &app).await {
        let sep = if list.uri.contains('?') { '&' } else { '?' };
        let too_many = list.max + 1;
        for (query, field) in [
            ("limit=0".to_owned(), "limit"),
            (format!("limit={too_many}"), "limit"),
            ("limit=ten".to_owned(), "limit"),
            ("limit=2&limit=3".to_owned(), "limit"),
            ("cursor=not-a-cursor".to_owned(), "cursor"),
            ("cursor=".to_owned(), "cursor"),
        ] {
            let uri = format!("{}{sep}{query}", list.uri);
            let reply = call(&app, "GET", &uri, None).await;
            assert_eq!(
                (reply.status, reply.body["code"].as_str(), reply.body["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("validation"), Some(field)),
                "GET {uri}: {}",
                reply.body
            );
        }
    }
    let both = call(&app, "GET", "/v1/events?after=1&cursor=1", None).await;
    assert_eq!((both.status, both.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")));
}
