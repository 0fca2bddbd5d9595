//! The bus against the real NATS server (127.0.0.1:4222, JetStream): every event published
//! once, in log order, also when a publisher dies between publishing and checkpointing.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use convo_bus::{JetStreamBus, POSITION_HEADER, Publisher, publish};
use convo_domain::ChannelType;
use convo_store::{Backend, FollowError, Follower, LogEvent, ProjectionStatus};
use uuid::Uuid;

use crate::support::{engine, on_both_backends, whole_log};

on_both_backends!(
    every_event_is_published_once_in_log_order,
    a_publisher_killed_between_publishing_and_checkpointing_leaves_no_duplicate_and_no_gap,
    a_publisher_paused_past_the_duplicate_window_appends_nothing_when_it_resumes,
);

fn nats_url() -> String {
    std::env::var("CONVO_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// A stream and subject prefix of the test's own.
async fn bus() -> JetStreamBus {
    let name = format!("convo_it_{}", Uuid::new_v4().simple());
    JetStreamBus::connect(&nats_url(), &name, &name, Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("NATS with JetStream is required at {} for these tests: {e}", nats_url()))
}

/// Every message of the stream, in stream order, as (position, subject, message id).
async fn stream_contents(bus: &JetStreamBus, expected: usize) -> Vec<(i64, String, String)> {
    let stream = bus.context().get_stream(bus.stream()).await.expect("stream");
    for _ in 0..200 {
        if stream.get_info().await.expect("info").state.messages as usize >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let last = stream.get_info().await.expect("info").state.last_sequence;
    let mut contents = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.expect("message");
        let header = |name: &str| message.headers.get(name).map(|v| v.as_str().to_owned()).unwrap_or_default();
        contents.push((
            header(POSITION_HEADER).parse().unwrap_or(-1),
            message.subject.to_string(),
            header("Nats-Msg-Id"),
        ));
    }
    contents
}

fn assert_published_once_in_order(log: &[LogEvent], contents: &[(i64, String, String)]) {
    let positions: Vec<i64> = contents.iter().map(|c| c.0).collect();
    let expected: Vec<i64> = log.iter().map(|e| e.position).collect();
    assert_eq!(positions, expected, "every event once, in log order");
    let ids: HashSet<&String> = contents.iter().map(|c| &c.2).collect();
    assert_eq!(ids.len(), contents.len(), "one message id per event");
    let mut last: HashMap<String, i64> = HashMap::new();
    for (event, (_, subject, _)) in log.iter().zip(contents) {
        assert!(
            subject.ends_with(&format!(".{}.{}.{}", event.aggregate_type, event.aggregate_id, event.event_type)),
            "{subject}"
        );
        let seq = last.entry(event.aggregate_id.clone()).or_insert(0);
        assert_eq!(event.sequence, *seq + 1, "per-aggregate order");
        *seq = event.sequence;
    }
}

async fn workload<B: Backend>(t: &crate::support::TestEngine<B>) {
    let inbox = t.create_inbox(ChannelType::Sms).await;
    for i in 0..30 {
        t.inbound(inbox, &format!("+4918200{:03}", i % 6), "hello").await;
    }
}

async fn every_event_is_published_once_in_log_order<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let bus = bus().await;
    workload(&t).await;
    let publisher = {
        let (bus, log, backend) = (bus.clone(), t.engine.log.clone(), backend.clone());
        tokio::spawn(async move { publish(bus, log, &backend, 7, ProjectionStatus::new("bus")).await })
    };
    workload(&t).await; // more while it runs
    let log = whole_log(&t.engine).await;
    let contents = stream_contents(&bus, log.len()).await;
    publisher.abort();
    assert_published_once_in_order(&log, &contents);
    // `convo bus verify` agrees, and names a message lost from the stream.
    let check = bus.verify(&t.engine.log).await.expect("verify");
    assert!(check.is_exact(), "{check}");
    assert_eq!(check.messages, log.len() as u64);
    let stream = bus.context().get_stream(bus.stream()).await.expect("stream");
    stream.delete_message(7).await.expect("delete a message");
    let check = bus.verify(&t.engine.log).await.expect("verify");
    assert_eq!(check.missing, vec![log[6].position], "{check}");
    assert!(!check.is_exact());
    let _ = bus.context().delete_stream(bus.stream()).await;
}

async fn a_publisher_killed_between_publishing_and_checkpointing_leaves_no_duplicate_and_no_gap<B: Backend>(
    backend: B,
) {
    let t = engine(backend.clone());
    let bus = bus().await;
    workload(&t).await;
    let log = whole_log(&t.engine).await;
    // A first publisher published the first 20 events and died before checkpointing them.
    let first: Vec<_> = log[..20].iter().cloned().map(std::sync::Arc::new).collect();
    bus.publish(&first, 0).await.expect("publish");
    // A new one starts from the (older) checkpoint.
    let publisher = {
        let (bus, log, backend) = (bus.clone(), t.engine.log.clone(), backend.clone());
        tokio::spawn(async move { publish(bus, log, &backend, 5, ProjectionStatus::new("bus")).await })
    };
    let contents = stream_contents(&bus, log.len()).await;
    publisher.abort();
    assert_published_once_in_order(&log, &contents);
    let _ = bus.context().delete_stream(bus.stream()).await;
}

/// A publisher reads a batch, then stalls (a long GC pause, SIGSTOP, a cut-off network) for
/// longer than JetStream's duplicate window while another takes over and publishes everything.
/// When it wakes up it appends nothing: each message is conditional on the stream's last
/// sequence, which is no longer the one it knew. Without that precondition its batch would be
/// appended a second time, out of order, since the window no longer remembers the message ids.
async fn a_publisher_paused_past_the_duplicate_window_appends_nothing_when_it_resumes<B: Backend>(backend: B) {
    let t = engine(backend.clone());
    let bus = bus().await;
    let window = Duration::from_millis(300);
    let stream = bus.context().get_stream(bus.stream()).await.expect("stream");
    let config =
        async_nats::jetstream::stream::Config { duplicate_window: window, ..stream.cached_info().config.clone() };
    bus.context().update_stream(config).await.expect("a short duplicate window");
    workload(&t).await;
    let log = whole_log(&t.engine).await;
    let events: Vec<_> = log.iter().cloned().map(std::sync::Arc::new).collect();

    let mut paused = Publisher::new(bus.clone(), backend.sql());
    let paused_at = paused.start(None).await.expect("start");
    assert_eq!(paused_at.handled, 0, "the stream is empty");
    let mut other = Publisher::new(bus.clone(), backend.sql());
    let other_at = other.start(None).await.expect("start");
    other.handle(&events, other_at).await.expect("the other publisher publishes everything");
    // Past the duplicate window: JetStream no longer recognises the message ids.
    tokio::time::sleep(window * 3).await;

    let resumed = paused.handle(&events[..10], paused_at).await;
    assert!(matches!(resumed, Err(FollowError::Moved)), "refused, and told to start again: {resumed:?}");
    assert_published_once_in_order(&log, &stream_contents(&bus, log.len()).await);
    // Started again, it resumes after what the stream holds: nothing is left to publish.
    let restarted = paused.start(None).await.expect("start");
    assert_eq!(restarted.handled, log.last().expect("events").position);
    let _ = bus.context().delete_stream(bus.stream()).await;
}

/// A nats-server of the test's own, on its own port and store, that it can stop and start.
struct OwnNats {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnNats {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut nats = Self { port, dir: tempfile::tempdir().expect("a store directory"), child: None };
        nats.restart();
        nats
    }

    fn restart(&mut self) {
        let binary = std::env::var("CONVO_TEST_NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let child = std::process::Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("this test starts its own {binary} (Debian package nats-server): {e}"));
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What `/readyz` says of the bus, once `accept` holds (within 30 s).
async fn bus_readiness(app: &axum::Router, accept: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let ready = crate::support::call(app, "GET", "/readyz", None).await;
        assert_eq!(ready.status, axum::http::StatusCode::OK, "NATS never fails readiness: {}", ready.body);
        if accept(&ready.body["bus"]) {
            return ready.body["bus"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "/readyz never said it: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// NATS goes away mid-stream and comes back: the publisher resumes and nothing is lost or doubled;
/// meanwhile `/readyz` stays ready and says the bus is disconnected and how far behind it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_publisher_resumes_with_nothing_lost_when_nats_stops_and_starts_again() {
    let pg = crate::support::TestPg::new().await;
    let t = engine(pg.backend.clone());
    let mut nats = OwnNats::start();
    let bus = JetStreamBus::connect(&nats.url(), "CONVO_RESTART", convo_bus::SUBJECT_PREFIX, Duration::ZERO)
        .await
        .expect("connect to our own nats-server");
    let status = ProjectionStatus::new("bus");
    // What convo serve does: a stopped publisher starts again.
    let publisher = {
        let (bus, log, backend, status) = (bus.clone(), t.engine.log.clone(), pg.backend.clone(), status.clone());
        tokio::spawn(async move { publish(bus, log, &backend, 5, status).await })
    };
    let config = convo_gateway::GatewayConfig { bus: Some(status), ..crate::support::test_config() };
    let app = crate::support::authed(
        convo_gateway::router(t.engine.clone(), crate::support::read_models(&t), &config),
        crate::support::api_key(&t, crate::support::API_WS, &[convo_gateway::Scope::Read]).await,
    );
    workload(&t).await;
    let first = whole_log(&t.engine).await;
    assert_eq!(stream_contents(&bus, first.len()).await.len(), first.len(), "published before the outage");
    bus_readiness(&app, |bus| bus["status"] == "connected" && bus["lag"] == 0).await;

    nats.stop();
    workload(&t).await; // written while NATS is down: commands still work
    let away = bus_readiness(&app, |bus| bus["status"] == "disconnected" && bus["lag"].as_i64() > Some(0)).await;
    assert!(away["error"].is_string(), "{away}");
    nats.restart();
    workload(&t).await; // and after it is back
    bus_readiness(&app, |bus| bus["status"] == "connected" && bus["lag"] == 0).await;

    let log = whole_log(&t.engine).await;
    let mut contents = Vec::new();
    for _ in 0..100 {
        contents = stream_contents(&bus, log.len()).await;
        if contents.len() >= log.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    publisher.abort();
    assert_published_once_in_order(&log, &contents);
}

/// End to end: the engine publishes an outbound message, the example connector consumes it with
/// its durable consumer, "delivers" it and reports back over HTTP; the timeline shows it delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_connector_delivers_outbound_messages_and_reports_back() {
    let pg = crate::support::TestPg::new().await;
    let t = engine(pg.backend.clone());
    let app = crate::support::app(&t).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let api_url = format!("http://{}", listener.local_addr().expect("address"));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let bus = bus().await;
    let publisher = {
        let (bus, log, backend) = (bus.clone(), t.engine.log.clone(), pg.backend.clone());
        tokio::spawn(async move { publish(bus, log, &backend, 50, ProjectionStatus::new("bus")).await })
    };
    let connector = tokio::spawn(convo_connector_example::run(convo_connector_example::Config {
        nats_url: nats_url(),
        stream: bus.stream().to_owned(),
        prefix: bus.stream().to_owned(), // the test's stream and prefix share a name
        consumer: "connector-example".into(),
        api_url: api_url.clone(),
        api_key: crate::support::api_key(&t, crate::support::API_WS, &[convo_gateway::Scope::Connector]).await,
    }));

    let http = reqwest::Client::new();
    let inbox: serde_json::Value = http
        .post(format!("{api_url}/v1/inboxes"))
        .json(&serde_json::json!({"name": "SMS", "channel_type": "sms"}))
        .send()
        .await
        .expect("create inbox")
        .json()
        .await
        .expect("json");
    let inbound: serde_json::Value = http
        .post(format!("{api_url}/v1/inbound-messages"))
        .json(&serde_json::json!({"inbox_id": inbox["inbox_id"], "contact_id": "+4918300001", "sent_at": t.clock_now(),
                                  "content": {"type": "text", "body": "hi"}}))
        .send()
        .await
        .expect("inbound")
        .json()
        .await
        .expect("json");
    let c = format!("{api_url}/v1/conversations/{}", inbound["conversation_id"].as_str().unwrap_or_default());
    for i in 0..5 {
        let sent = http
            .post(format!("{c}/messages"))
            .json(&serde_json::json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": format!("reply {i}")}}))
            .send()
            .await
            .expect("send");
        assert!(sent.status().is_success());
    }
    let mut statuses = Vec::new();
    for _ in 0..200 {
        let timeline: serde_json::Value =
            http.get(format!("{c}/messages")).send().await.expect("timeline").json().await.expect("json");
        statuses = timeline["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["direction"] == "outbound")
            .map(|m| m["status"].as_str().unwrap_or_default().to_owned())
            .collect();
        if statuses.len() == 5 && statuses.iter().all(|s| s == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in [publisher.abort_handle(), connector.abort_handle(), server.abort_handle()] {
        task.abort();
    }
    assert_eq!(statuses, vec!["delivered"; 5], "every outbound message delivered and reported back");
    let _ = bus.context().delete_stream(bus.stream()).await;
}

/// The outbound-message schema in schemas/ names what the published payload really holds.
#[tokio::test]
async fn the_outbound_message_schema_matches_what_is_published() {
    let db = crate::support::TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let inbox = t.create_inbox(ChannelType::Sms).await;
    let conversation = t.inbound(inbox, "+4918400001", "hi").await;
    t.engine
        .conversations
        .execute(&conversation.to_string(), t.send("hello"), &crate::support::meta())
        .await
        .expect("send");
    let sent = whole_log(&t.engine).await.into_iter().find(|e| e.event_type == "MessageSent").expect("a MessageSent");
    let published = serde_json::to_value(&sent).expect("json");

    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/outbound-message.schema.json")).expect("the schema parses");
    let keys = |v: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        k.sort();
        k
    };
    let required = |v: &serde_json::Value| -> Vec<String> {
        let mut r: Vec<String> =
            v["required"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_owned)).collect();
        r.sort();
        r
    };
    assert_eq!(keys(&published), required(&schema), "top-level fields");
    assert_eq!(keys(&published["payload"]), required(&schema["properties"]["payload"]), "event fields");
    let content_types: Vec<&str> = schema["$defs"]["content"]["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["properties"]["type"]["const"].as_str())
        .collect();
    assert_eq!(content_types, ["text", "media", "template", "interactive"]);
    assert!(content_types.contains(&published["payload"]["content"]["type"].as_str().unwrap_or_default()));
}
