//! The engine under faults a connector meets: a command whose row PostgreSQL refuses in the
//! middle of a group commit, an answer lost after the commit, and PostgreSQL going away and
//! coming back (a private server of the test's own, never the shared one).

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use convo_store::Backend;
use convo_store_postgres::PostgresBackend;
use cqrs_es::persist::SerializedEvent;
use serde_json::{Value, json};
use sqlx::Connection;
use uuid::Uuid;

use crate::support::{API_WS, TestPg, api_key, authed, call, engine, read_models, test_config, whole_log};

/// Holds the committer on `(conversation, id, sequence)`: an uncommitted row with that key
/// makes the next append of that event wait on the primary key until [`Blocker::release`].
struct Blocker(sqlx::Transaction<'static, sqlx::Postgres>);

impl Blocker {
    async fn hold(url: &str, aggregate_id: &str, sequence: i64) -> Self {
        let conn = Box::leak(Box::new(sqlx::PgConnection::connect(url).await.expect("connect")));
        let mut tx = conn.begin().await.expect("begin");
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
             VALUES ('conversation', $1, $2, 'Held', '1.0.0', '{}', '{}')",
        )
        .bind(aggregate_id)
        .bind(sequence)
        .execute(&mut *tx)
        .await
        .expect("hold the sequence");
        Self(tx)
    }

    async fn release(self) {
        self.0.rollback().await.expect("rollback");
    }
}

/// Waits until `n` sessions wait on a lock (the held append, and what queued behind it).
async fn sessions_waiting_on_a_lock(url: &str, n: i64) {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("pg_stat_activity");
        if waiting >= n {
            return;
        }
        if Instant::now() > deadline {
            let activity: Vec<(Option<String>, Option<String>, Option<String>)> =
                sqlx::query_as("SELECT wait_event_type, wait_event, query FROM pg_stat_activity")
                    .fetch_all(&mut conn)
                    .await
                    .expect("pg_stat_activity");
            panic!("the append never waited on the held row: {activity:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn event(aggregate_id: &str, sequence: usize, body: &str) -> SerializedEvent {
    SerializedEvent::new(
        aggregate_id.to_owned(),
        sequence,
        "conversation".into(),
        "Probed".into(),
        "1.0.0".into(),
        json!({"body": body}),
        json!({"workspace_id": Uuid::nil().to_string()}),
    )
}

/// Appends `commands` as one group commit: a first append waits on a held row, so these queue
/// up behind it and go in one batch; their results, in order.
async fn one_group_commit(
    pg: &TestPg,
    commands: Vec<Vec<SerializedEvent>>,
) -> Vec<Result<i64, cqrs_es::persist::PersistenceError>> {
    let backend = pg.backend.clone();
    let blocker = Blocker::hold(&pg.url, "first", 1).await;
    let first = {
        let backend = backend.clone();
        tokio::spawn(async move { backend.append(&[event("first", 1, "ok")]).await })
    };
    sessions_waiting_on_a_lock(&pg.url, 1).await;
    let mut batch: Vec<_> = commands
        .into_iter()
        .map(|events| {
            let backend = backend.clone();
            Box::pin(async move { backend.append(&events).await })
        })
        .collect();
    // Polled once, an append is in the committer's queue.
    for append in &mut batch {
        assert!(futures::poll!(append.as_mut()).is_pending());
    }
    blocker.release().await;
    assert!(first.await.expect("join").is_ok());
    futures::future::join_all(batch).await
}

async fn written(pg: &TestPg) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_id LIKE 'c%'")
        .fetch_one(pg.backend.pool())
        .await
        .expect("count")
}

/// 32 valid commands and one whose row PostgreSQL refuses (a NUL in jsonb), committed as one
/// group: the 32 succeed, the one fails alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_command_refused_inside_postgresql_fails_alone_in_its_group_commit() {
    let pg = TestPg::new().await;
    let events =
        (0..33).map(|i| vec![event(&format!("c{i}"), 1, if i == 16 { "refused \u{0}" } else { "ok" })]).collect();
    let failed: Vec<usize> =
        one_group_commit(&pg, events).await.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
    assert_eq!(failed, vec![16], "only the refused command fails");
    assert_eq!(written(&pg).await, 32);
}

/// Commands to one conversation through two API nodes: the other node wrote the version this
/// node's command was decided on first. In this node's next group commit, among 31 others, that
/// command alone is a conflict (its gateway decides it again on the new version) and nothing of
/// it is written, not even its second event; the others commit together, in one transaction:
/// the group commit does not fall apart into one transaction per command. Two commands of the
/// batch decided on the same version of another conversation: the second alone is a conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_conflict_inside_a_group_commit_fails_only_the_loser() {
    let pg = TestPg::new().await;
    let other_node = pg.backend.append(&[event("c7", 1, "the other node's")]).await;
    assert!(other_node.is_ok(), "{other_node:?}");
    let mut commands: Vec<_> = (0..32).filter(|&i| i != 7).map(|i| vec![event(&format!("c{i}"), 1, "ok")]).collect();
    commands.insert(20, vec![event("c7", 1, "this node's"), event("c7", 2, "this node's second")]);
    commands.push(vec![event("c9", 1, "the same version, decided twice")]);
    let results = one_group_commit(&pg, commands).await;
    let failed: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
    assert_eq!(failed, vec![20, 32], "only the losers fail");
    for loser in &failed {
        let result = &results[*loser];
        assert!(matches!(result, Err(cqrs_es::persist::PersistenceError::OptimisticLockError)), "{result:?}");
    }
    assert_eq!(written(&pg).await, 32, "the other node's event and the 31 winners");
    let c7: Vec<String> =
        sqlx::query_scalar("SELECT payload->>'body' FROM events WHERE aggregate_id = 'c7' ORDER BY sequence")
            .fetch_all(pg.backend.pool())
            .await
            .expect("c7");
    assert_eq!(c7, vec!["the other node's"], "nothing of the loser is written");
    let winners: Vec<i64> = results.iter().filter_map(|r| r.as_ref().ok().copied()).collect();
    let transactions: std::collections::HashSet<i64> = winners.iter().map(|p| p >> 16).collect();
    assert_eq!(transactions.len(), 1, "the 31 winners commit in one transaction: {winners:?}");
}

/// A send commits after its request timed out (503): a retry with the same Idempotency-Key
/// answers what was written, and the log holds the message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_after_a_lost_answer_answers_what_was_written_without_writing_again() {
    let pg = TestPg::new().await;
    let t = engine(pg.backend.clone());
    let config = convo_gateway::GatewayConfig { request_timeout: Duration::from_millis(500), ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let app = authed(router, api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await);
    let (conversation, version) = conversation_on(&app, t.clock_now()).await;

    let blocker = Blocker::hold(&pg.url, &conversation, version + 1).await;
    let send = || send_with_key(&app, &conversation, "lost-answer-1");
    let first = send().await;
    assert_eq!(first.0, StatusCode::SERVICE_UNAVAILABLE, "{}", first.1);
    blocker.release().await; // the send's append goes through now, its answer long gone
    // While its lease runs, the key is in flight, or (once the append is in the log) answered.
    t.clock.advance(chrono::Duration::milliseconds(convo_gateway::IDEMPOTENCY_LEASE_MS + 1));
    let retry = send().await;
    assert_eq!(retry.0, StatusCode::CREATED, "{}", retry.1);
    let sent: Vec<_> =
        whole_log(&t.engine).await.into_iter().filter(|e| e.event_type == "MessageSent").map(|e| e.payload).collect();
    assert_eq!(sent.len(), 1, "the message is in the log once: {sent:?}");
    assert_eq!(sent[0]["message_id"], retry.1["message_id"]);
}

async fn conversation_on(app: &axum::Router, now: chrono::DateTime<chrono::Utc>) -> (String, i64) {
    let inbox = call(app, "POST", "/v1/inboxes", Some(json!({"name": "Support", "channel_type": "sms"}))).await;
    assert_eq!(inbox.status, StatusCode::CREATED, "{}", inbox.body);
    let inbound = call(
        app,
        "POST",
        "/v1/inbound-messages",
        Some(json!({"inbox_id": inbox.body["inbox_id"], "contact_id": "+4915100000",
                    "sent_at": now, "content": {"type": "text", "body": "hi"}})),
    )
    .await;
    assert_eq!(inbound.status, StatusCode::CREATED, "{}", inbound.body);
    let id = inbound.body["conversation_id"].as_str().expect("an id").to_owned();
    (id, inbound.body["version"].as_i64().expect("a version"))
}

async fn send_with_key(app: &axum::Router, conversation: &str, key: &str) -> (StatusCode, Value, Option<String>) {
    let request = Request::post(format!("/v1/conversations/{conversation}/messages"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", key)
        .body(Body::from(
            json!({"actor": {"kind": "agent", "id": "ada"}, "content": {"type": "text", "body": "hello"}}).to_string(),
        ))
        .expect("a request");
    let response = tower::ServiceExt::oneshot(app.clone(), request).await.expect("the router answers");
    let (status, retry_after) =
        (response.status(), response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_owned));
    let bytes = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), retry_after)
}

/// A PostgreSQL server of the test's own (initdb in a temporary directory, its own port), so
/// it can be stopped and started without touching the shared one.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    fn bin(name: &str) -> String {
        let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL's binaries in /usr/lib/postgresql");
        let mut found: Vec<_> = versions.filter_map(|v| v.ok()).map(|v| v.path().join("bin").join(name)).collect();
        found.sort();
        found.pop().expect("a PostgreSQL version").display().to_string()
    }

    /// Runs a PostgreSQL tool as the `postgres` user when we are root (initdb refuses root).
    fn run(args: &[&str]) {
        if let Err(e) = Self::try_run(args) {
            panic!("{e}");
        }
    }

    fn try_run(args: &[&str]) -> Result<(), String> {
        let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let mut command = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]);
            c
        } else {
            std::process::Command::new(args[0])
        };
        if root {
            command.arg(args[0]);
        }
        let out = command.args(&args[1..]).output().expect("run a PostgreSQL tool");
        if out.status.success() { Ok(()) } else { Err(format!("{args:?}: {}", String::from_utf8_lossy(&out.stderr))) }
    }

    fn start_new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data = dir.path().join("data");
        let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if root {
            let status = std::process::Command::new("chown").args(["postgres"]).arg(dir.path()).status();
            assert!(status.is_ok_and(|s| s.success()), "chown the data directory to postgres");
        }
        Self::run(&[&Self::bin("initdb"), "-D", &data.display().to_string(), "-A", "trust", "-U", "postgres", "-N"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let pg = Self { dir, port };
        pg.start();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn start(&self) {
        let options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.path().display());
        // After a crash the old backends may hold its shared memory for a moment: try again
        // until they are gone.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let args = [&*Self::bin("pg_ctl"), "-D", &self.data(), "-o", &options, "-w", "-l", "/dev/null", "start"];
            match Self::try_run(&args) {
                Ok(()) => return,
                Err(e) if Instant::now() > deadline => panic!("{e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    fn stop(&self) {
        Self::run(&[&Self::bin("pg_ctl"), "-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// kill -9 of the postmaster: its backends see it die and exit; the next start recovers.
    fn crash(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).expect("postmaster.pid");
        let pid = pid.lines().next().expect("a pid").trim().to_owned();
        let killed = std::process::Command::new("kill").args(["-9", &pid]).status();
        assert!(killed.is_ok_and(|s| s.success()), "kill -9 {pid}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--", &Self::bin("pg_ctl"), "-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

/// How PostgreSQL goes away.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// `pg_ctl stop -m fast`: sessions end with "terminating connection due to administrator command".
    Stop,
    /// kill -9 of the postmaster.
    Crash,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_postgresql_is_stopped_commands_answer_503_and_a_keyed_retry_is_answered_once_it_is_back() {
    postgresql_goes_away_and_comes_back(Fault::Stop).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_postgresql_crashes_commands_answer_503_and_a_keyed_retry_is_answered_once_it_is_back() {
    postgresql_goes_away_and_comes_back(Fault::Crash).await;
}

/// PostgreSQL goes away while a keyed send is being committed, and comes back: the send and
/// every command meanwhile answer 503 `unavailable` with Retry-After (never 500), `/readyz` says
/// the store is down (quickly), and a retry with the send's Idempotency-Key is answered soon
/// after the store is back, the message written once.
async fn postgresql_goes_away_and_comes_back(fault: Fault) {
    let server = tokio::task::spawn_blocking(PrivatePg::start_new).await.expect("start PostgreSQL");
    let pool = convo_store_postgres::connect(&server.url(), 8).await.expect("connect");
    convo_store_postgres::migrate(&pool).await.expect("migrate");
    // The system clock: idempotency leases run out in real time here.
    let engine = std::sync::Arc::new(convo_store::Engine::new(
        PostgresBackend::new(pool),
        std::sync::Arc::new(convo_domain::SystemClock),
    ));
    let mut read = convo_read::ReadModels::new(&engine.backend);
    read.consistency_wait = Duration::from_secs(30);
    let read = std::sync::Arc::new(read);
    read.spawn(&engine.log);
    let key = convo_gateway::Tenancy::new(engine.backend.sql());
    key.create_workspace_with_id(API_WS, "test").await.expect("a workspace");
    let token = key.create_key(API_WS, "test", &[convo_gateway::Scope::Admin]).await.expect("a key").token;
    let app = authed(convo_gateway::router(engine.clone(), read, &test_config()), token);
    let (conversation, version) = conversation_on(&app, chrono::Utc::now()).await;

    // The send has claimed its key and waits in the commit when the server stops.
    let blocker = Blocker::hold(&server.url(), &conversation, version + 1).await;
    let pending = {
        let (app, conversation) = (app.clone(), conversation.clone());
        tokio::spawn(async move { send_with_key(&app, &conversation, "while-down-1").await })
    };
    sessions_waiting_on_a_lock(&server.url(), 1).await;
    let server = tokio::task::spawn_blocking(move || {
        match fault {
            Fault::Stop => server.stop(),
            Fault::Crash => server.crash(),
        }
        server
    })
    .await
    .expect("stop PostgreSQL");
    std::mem::forget(blocker); // its connection went with the server
    // A fast shutdown may end the blocking session first and let the send commit before its
    // own session ends: then it answers 201, and that is right too. Otherwise it is a 503.
    let failed = pending.await.expect("join");
    if failed.0 != StatusCode::CREATED {
        assert_eq!(failed.0, StatusCode::SERVICE_UNAVAILABLE, "{}", failed.1);
        assert_eq!(failed.1["code"], "unavailable", "{}", failed.1);
        assert!(failed.2.is_some(), "Retry-After on a 503");
    }

    let started = Instant::now();
    let ready = call(&app, "GET", "/readyz", None).await;
    let readyz_took = started.elapsed();
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE, "{}", ready.body);
    assert_eq!(ready.body["store"]["status"], "down", "{}", ready.body);
    assert!(readyz_took < Duration::from_secs(2), "/readyz took {readyz_took:?} with the store down");

    let started = Instant::now();
    let other = call(&app, "POST", &format!("/v1/conversations/{conversation}/archive"), None).await;
    let other_took = started.elapsed();
    assert_eq!(other.status, StatusCode::SERVICE_UNAVAILABLE, "{}", other.body);
    assert_eq!(other.body["code"], "unavailable", "{}", other.body);

    let server = tokio::task::spawn_blocking(move || {
        server.start();
        server
    })
    .await
    .expect("start PostgreSQL again");
    let back = Instant::now();
    // A client retrying as told (Retry-After: 1) with the same key.
    let mut answers = Vec::new();
    let answered = loop {
        let retry = send_with_key(&app, &conversation, "while-down-1").await;
        answers.push(retry.0.as_u16());
        if retry.0.is_success() {
            break retry;
        }
        assert!(
            retry.0 == StatusCode::SERVICE_UNAVAILABLE || retry.0 == StatusCode::CONFLICT,
            "{} {}",
            retry.0,
            retry.1
        );
        assert!(back.elapsed() < Duration::from_secs(20), "no 2xx 20 s after the store came back: {}", retry.1);
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let took = back.elapsed();
    println!(
        "{fault:?}: in-flight send {}; store down: /readyz {readyz_took:?}, a command {other_took:?}; after it came back: answers {answers:?}, \
         first 2xx after {took:?}",
        failed.0
    );
    assert_eq!(answered.0, StatusCode::CREATED, "{}", answered.1);
    assert!(took < Duration::from_secs(5), "the keyed retry waited {took:?} after the store came back");
    let sent = whole_log(&engine).await.into_iter().filter(|e| e.event_type == "MessageSent").count();
    assert_eq!(sent, 1);
    // Ready again once the store answers within /readyz's bound (a loaded machine right after
    // crash recovery may take a moment).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = call(&app, "GET", "/readyz", None).await;
        if ready.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "not ready 30 s after the store came back: {}", ready.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server);
}

/// A read model's last commits are lost under a runner that keeps running (its commits are
/// lazy, and PostgreSQL crashed): the next event trips over the missing rows. The runner folds
/// again from what is stored instead of stopping, and the read model ends up as if nothing was
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runner_whose_last_commits_were_lost_folds_them_again_instead_of_stopping() {
    let pg = TestPg::new().await;
    let t = engine(pg.backend.clone());
    let app = authed(
        convo_gateway::router(t.engine.clone(), read_models(&t), &test_config()),
        api_key(&t, API_WS, &[convo_gateway::Scope::Admin]).await,
    );
    let before = t.engine.log.head().await.expect("the head");
    let (conversation, _) = conversation_on(&app, t.clock_now()).await;
    let started = t.engine.log.head().await.expect("the head");
    let seen =
        call(&app, "GET", &format!("/v1/conversations/{conversation}/response-times?min_position={started}"), None)
            .await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.body);

    // What a crash takes: the rows and checkpoint of the commits since `before`.
    let pool = pg.backend.pool();
    sqlx::query("DELETE FROM rm_response_times WHERE conversation_id = $1")
        .bind(&conversation)
        .execute(pool)
        .await
        .expect("lose the rows");
    sqlx::query("UPDATE projection_checkpoints SET position = $1 WHERE name = 'response_times'")
        .bind(before)
        .execute(pool)
        .await
        .expect("lose the checkpoint");

    let sent = send_with_key(&app, &conversation, "after-the-loss").await;
    assert_eq!(sent.0, StatusCode::CREATED, "{}", sent.1);
    let position = sent.1["position"].as_i64().expect("a position");
    let times =
        call(&app, "GET", &format!("/v1/conversations/{conversation}/response-times?min_position={position}"), None)
            .await;
    assert_eq!(times.status, StatusCode::OK, "the read model folded again: {}", times.body);
    assert_eq!(times.body["summary"]["agent"]["count"], 1, "{}", times.body);
    let ready = call(&app, "GET", "/readyz", None).await;
    assert_eq!(ready.status, StatusCode::OK, "no read model stopped: {}", ready.body);
}
