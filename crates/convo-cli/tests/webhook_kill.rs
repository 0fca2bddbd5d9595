//! The node that sends webhooks is killed with -9 in the middle of a retry series: once a node
//! runs again, the series goes on where the database says it stopped (the next attempt's
//! number, the same `webhook-id`), and the conversation's next event waits for it. The real
//! `convo` binary on both backends, the receiver of the integration tests
//! (`tests/fixtures/webhook_receiver.py`, which verifies every `v1` signature with the Standard
//! Webhooks library from PyPI).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use convo_tests::receiver::Receiver;
use serde_json::{Value, json};

/// The receiver fails this many requests, then answers 204.
const FAILURES: usize = 6;
/// Ten attempts, 400 ms apart: the series outlives a takeover of the sender's lease.
const SCHEDULE: &str = "0,400ms,400ms,400ms,400ms,400ms,400ms,400ms,400ms,400ms";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_retry_series_goes_on_after_the_sending_node_is_killed() {
    let dir = tempfile::tempdir().expect("a data directory");
    let database = vec![("CONVO_DATA_DIR".to_owned(), dir.path().display().to_string())];
    a_retry_series_goes_on_after_the_sending_node_is_killed(&database).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_retry_series_goes_on_after_the_sending_node_is_killed() {
    let database = ScratchDatabase::create();
    // The data directory holds the secrets key file both nodes share.
    let dir = tempfile::tempdir().expect("a data directory");
    let settings = [
        ("DATABASE_URL".to_owned(), database.url.clone()),
        ("CONVO_DATA_DIR".to_owned(), dir.path().display().to_string()),
    ];
    a_retry_series_goes_on_after_the_sending_node_is_killed(&settings).await;
}

async fn a_retry_series_goes_on_after_the_sending_node_is_killed(database: &[(String, String)]) {
    let receiver =
        Receiver::start(json!({"default": {"status": 204}, "script": vec![json!({"status": 500}); FAILURES]}));
    let workspace = convo(database, &["workspaces", "create", "kill-9"]);
    let key =
        convo(database, &["keys", "create", "--workspace", &workspace, "--scope", "admin", "--scope", "connector"]);
    // One address for both nodes: the client does not notice which one it talks to.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let base = format!("http://127.0.0.1:{port}");
    let mut node = Node::start(database, port);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let request = http.request(method, format!("{base}{path}")).bearer_auth(&key);
        let request = if let Some(body) = body { request.json(&body) } else { request };
        async move {
            let response = request.send().await.expect("the node answers");
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert!(status.is_success(), "{status}: {body}");
            body
        }
    };
    let hook = json!({"url": receiver.url, "event_types": ["InboundMessageReceived"]});
    let hook = call(reqwest::Method::POST, "/v1/webhooks", Some(hook)).await;
    receiver.trust(hook["secret"].as_str().expect("the secret, this once"));
    let inbox =
        call(reqwest::Method::POST, "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    let inbound = |body: &str| {
        json!({"inbox_id": inbox["inbox_id"], "contact_id": "+4915100001", "display_name": "Ada",
               "sent_at": chrono::Utc::now(), "content": {"type": "text", "body": body}})
    };
    let first = call(reqwest::Method::POST, "/v1/inbound-messages", Some(inbound("first"))).await;
    let second = call(reqwest::Method::POST, "/v1/inbound-messages", Some(inbound("second"))).await;
    assert_eq!(first["conversation_id"], second["conversation_id"], "one conversation");
    let (first_id, second_id) = (webhook_id(&first), webhook_id(&second));

    // Two refusals of the first event, then kill -9 (the third attempt may be under way).
    receiver.wait_for(2).await;
    node.kill();
    let killed = chrono::Utc::now();
    let before = receiver.received().len();

    // A node again: it takes the sender's lease over once the dead one's has expired.
    node = Node::start(database, port);
    let received = receiver.wait_for(FAILURES + 2).await;
    let second_arrived = received.iter().position(|r| r["webhook_id"] == second_id);
    let second_arrived = second_arrived.unwrap_or_else(|| panic!("the second event arrived: {received:#?}"));
    let series = &received[..second_arrived];
    assert!(series.len() > before, "attempts of the series after the restart: {received:#?}");
    // Every request before the second event's is the first event's, under one webhook-id, each
    // signed so that the Standard Webhooks library verifies it; the last of them succeeded.
    for request in series {
        assert_eq!(request["webhook_id"], first_id, "{request}");
        assert_eq!(request["v1_verified"], true, "{request}");
    }
    assert_eq!(series.iter().filter(|r| r["answered"] == 204).count(), 1, "one success, the last: {series:#?}");
    assert_eq!(series.last().map(|r| r["answered"].clone()), Some(json!(204)));
    assert_eq!(received[second_arrived]["answered"], 204);
    assert_eq!(received.iter().filter(|r| r["webhook_id"] == second_id).count(), 1, "{received:#?}");

    // The attempt log: the series numbered on from where it stopped, across the kill.
    let position = first["position"].as_i64().expect("a position");
    let attempts = call(reqwest::Method::GET, &format!("/v1/webhooks/attempts?position={position}"), None).await;
    let mut attempts: Vec<&Value> = attempts["items"].as_array().expect("a page").iter().collect();
    attempts.reverse(); // oldest first
    let numbers: Vec<i64> = attempts.iter().map(|a| a["attempt"].as_i64().expect("a number")).collect();
    assert_eq!(numbers, (1..=numbers.len() as i64).collect::<Vec<_>>(), "{attempts:#?}");
    // The attempt under way when the node died may have reached the receiver unrecorded: it is
    // made again with its number. No other goes unrecorded.
    let lost = series.len() - numbers.len();
    assert!(lost <= 1, "{} requests, {} attempts recorded: {attempts:#?}", series.len(), numbers.len());
    let at = |a: &Value| a["attempted_at"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    assert!(attempts.iter().any(|a| at(a).is_some_and(|t| t < killed)), "attempts before the kill: {attempts:#?}");
    assert!(attempts.iter().any(|a| at(a).is_some_and(|t| t > killed)), "attempts after the kill: {attempts:#?}");
    assert!(attempts.iter().all(|a| a["webhook_id"] == first_id), "{attempts:#?}");
    let last = attempts.last().expect("an attempt");
    assert_eq!(last["succeeded"], true, "{last}");
    drop(node);
}

/// The `webhook-id` of an event: `msg_<position>`.
fn webhook_id(body: &Value) -> String {
    format!("msg_{}", body["position"].as_i64().unwrap_or_else(|| panic!("a position in {body}")))
}

/// Runs `convo args…` against `database` and answers its standard output, trimmed.
fn convo(database: &[(String, String)], args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_convo"))
        .args(args)
        .envs(database.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("CONVO_LOG", "warn")
        .output()
        .expect("run convo");
    assert!(output.status.success(), "convo {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A `convo serve` process on 127.0.0.1:`port`; killed with -9 when dropped.
struct Node {
    child: Child,
}

impl Node {
    fn start(database: &[(String, String)], port: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_convo"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .envs(database.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("CONVO_LOG", "warn")
            .env("CONVO_WEBHOOK_ALLOW_INSECURE", "true")
            .env("CONVO_WEBHOOK_SCHEDULE", SCHEDULE)
            .stdout(Stdio::null())
            .spawn()
            .expect("start convo serve");
        let node = Self { child };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "convo serve did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        node
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A database of the test's own on the machine's PostgreSQL (`CONVO_TEST_DATABASE_URL`, by
/// default the local server's `postgres` database), dropped with this value, also when the test
/// panics.
struct ScratchDatabase {
    admin: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    fn create() -> Self {
        let admin = std::env::var("CONVO_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("convo_kill_{}", uuid::Uuid::new_v4().simple());
        psql(&admin, &format!("CREATE DATABASE {name}"));
        let url = format!("{}/{name}", admin.rsplit_once('/').expect("a URL with a database").0);
        Self { admin, name, url }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        psql(&self.admin, &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(url: &str, statement: &str) {
    let status = Command::new("psql").args([url, "-qc", statement]).status().expect("psql (Debian: postgresql-client)");
    assert!(status.success(), "psql {statement}");
}
