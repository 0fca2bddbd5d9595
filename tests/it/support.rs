//! Test fixtures: real databases (a fresh PostgreSQL database or SQLite file per test), an
//! engine on them with a movable clock, and command builders.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationAction, ConversationKind};
use convo_domain::directory::{AgentAction, AgentCommand, AgentRole, agent_stream_id};
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, ChannelType, ConversationCommand, ManualClock, MessageContent};
use convo_gateway::GatewayConfig;
use convo_gateway::{Scope, Tenancy};
use convo_read::ReadModels;
use convo_store::{Backend, Engine};
use convo_store_postgres::PostgresBackend;
use convo_store_sqlite::SqliteBackend;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;
use uuid::Uuid;

pub const WS: Uuid = Uuid::from_u128(0x5157);

pub fn admin_url() -> String {
    std::env::var("CONVO_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own on the real PostgreSQL server, dropped with this value: at the end
/// of the test, and also when the test panics (drops run while unwinding).
pub struct TestPg {
    pub url: String,
    pub backend: PostgresBackend,
    /// Dropped last (fields drop in order), after the pool is closed.
    database: Database,
}

impl TestPg {
    pub async fn new() -> Self {
        let admin = admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is required for these tests and is unreachable at {admin}: {e}\n\
                 Start it (Debian: apt install postgresql; or docker compose -f deploy/compose.yaml up -d) \
                 or point CONVO_TEST_DATABASE_URL at one."
            )
        });
        let name = format!("convo_it_{}", Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create a test database");
        // Dropped from here on, also when connecting or migrating fails.
        let database = Database { name };
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", database.name),
            None => panic!("CONVO_TEST_DATABASE_URL must end with a database name"),
        };
        let pool = convo_store_postgres::connect(&url, 40).await.expect("connect to the test database");
        convo_store_postgres::migrate(&pool).await.expect("migrate the test database");
        Self { backend: PostgresBackend::new(pool), url, database }
    }

    pub fn name(&self) -> &str {
        &self.database.name
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        // Whatever still holds the pool (a runner, a tail) gets no connection from it any more,
        // rather than trying to connect to a database that is gone. (Marked closed at once; the
        // connections open are ended by the drop's FORCE.)
        drop(self.backend.pool().close());
    }
}

/// The name of a test database, which dropping this drops.
struct Database {
    name: String,
}

impl Drop for Database {
    /// On a thread of its own with its own runtime: a drop may run inside the test's runtime,
    /// which cannot block on a future, or while that runtime shuts down. Waits for it, so the
    /// database is gone when the test ends. Never panics (a panic while unwinding aborts): a
    /// database it cannot drop is reported and left.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropping = std::thread::Builder::new().name(format!("drop {name}")).spawn(move || {
            let dropped = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string());
            let dropped = dropped.and_then(|runtime| {
                runtime.block_on(async {
                    let drop = async {
                        let mut conn = sqlx::PgConnection::connect(&admin_url()).await?;
                        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
                        conn.close().await
                    };
                    match tokio::time::timeout(std::time::Duration::from_secs(30), drop).await {
                        Ok(dropped) => dropped.map_err(|e| e.to_string()),
                        Err(_) => Err("timed out".to_owned()),
                    }
                })
            });
            if let Err(e) = dropped {
                eprintln!("the test database {name} is left behind: {e}");
            }
        });
        if let Ok(thread) = dropping {
            let _ = thread.join();
        }
    }
}

/// A test that panics leaves no database behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_is_dropped_even_when_the_test_panics() {
    async fn exists(name: &str) -> bool {
        let mut conn = sqlx::PgConnection::connect(&admin_url()).await.expect("connect to the server");
        sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("look the database up")
    }
    let (created, name) = tokio::sync::oneshot::channel();
    let (fail, failing) = tokio::sync::oneshot::channel::<()>();
    // A test of its own, in a task: its panic is caught there, where a test's would fail it.
    let test = tokio::spawn(async move {
        let pg = TestPg::new().await;
        let _ = created.send(pg.name().to_owned());
        let _ = failing.await;
        panic!("{} fails, on purpose", pg.name());
    });
    let name = name.await.expect("the test created its database");
    assert!(exists(&name).await, "{name} is there while the test runs");
    let _ = fail.send(());
    assert!(test.await.expect_err("the test panicked").is_panic());
    assert!(!exists(&name).await, "{name} was dropped");
}

/// A SQLite file in a temporary directory, removed on drop.
pub struct TestSqlite {
    pub backend: SqliteBackend,
    _dir: tempfile::TempDir,
}

impl TestSqlite {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let pool = convo_store_sqlite::connect(dir.path()).await.expect("open SQLite");
        convo_store_sqlite::migrate(&pool).await.expect("migrate SQLite");
        Self { backend: SqliteBackend::new(pool), _dir: dir }
    }
}

/// 2026-01-01T00:00:00Z.
pub fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600, 0).expect("a valid timestamp")
}

pub struct TestEngine<B: Backend> {
    pub engine: Arc<Engine<B>>,
    pub clock: Arc<ManualClock>,
}

pub fn engine<B: Backend>(backend: B) -> TestEngine<B> {
    let clock = Arc::new(ManualClock::new(t0()));
    TestEngine { engine: Arc::new(Engine::new(backend, clock.clone())), clock }
}

/// The read models of `t`'s backend, with their runners following its log.
pub fn read_models<B: Backend>(t: &TestEngine<B>) -> Arc<ReadModels<B>> {
    // A generous wait: on PostgreSQL another test's open transaction anywhere in the cluster
    // holds every reader back (decision 0002), and a runner a test aborts mid-transaction keeps
    // its session in a transaction until it ends (at most idle_in_transaction_session_timeout).
    let mut read = ReadModels::new(&t.engine.backend);
    read.consistency_wait = std::time::Duration::from_secs(30);
    let read = Arc::new(read);
    read.spawn(&t.engine.log);
    read
}

/// The gateway's defaults without a rate limit: some tests poll as fast as they can (the
/// limit has its own test).
pub fn test_config() -> GatewayConfig {
    GatewayConfig { rate_limit: None, ..GatewayConfig::default() }
}

/// The workspace of the test gateway's default API key.
pub const API_WS: Uuid = Uuid::nil();

/// A new API key with `scopes` for `workspace` (created if needed).
pub async fn api_key<B: Backend>(t: &TestEngine<B>, workspace: Uuid, scopes: &[Scope]) -> String {
    let tenancy = Tenancy::new(t.engine.backend.sql());
    if tenancy.workspace(workspace).await.expect("read the workspaces").is_none() {
        tenancy.create_workspace_with_id(workspace, "test").await.expect("create a workspace");
    }
    tenancy.create_key(workspace, "test", scopes).await.expect("create a key").token
}

/// `router` with `Authorization: Bearer <token>` added to requests that carry none.
pub fn authed(router: Router, token: String) -> Router {
    router.layer(axum::middleware::map_request(move |mut request: Request<Body>| {
        let value = header::HeaderValue::from_str(&format!("Bearer {token}")).expect("a header value");
        async move {
            request.headers_mut().entry(header::AUTHORIZATION).or_insert(value);
            request
        }
    }))
}

/// The HTTP gateway over `t`, with running read models, calling as an admin of [`API_WS`].
pub async fn app<B: Backend>(t: &TestEngine<B>) -> axum::Router {
    let router = convo_gateway::router(t.engine.clone(), read_models(t), &test_config());
    authed(router, api_key(t, API_WS, &[Scope::Admin]).await)
}

pub fn meta() -> HashMap<String, String> {
    convo_store::metadata(WS, [])
}

pub fn text(body: &str) -> MessageContent {
    MessageContent::Text { body: body.into() }
}

impl<B: Backend> TestEngine<B> {
    pub async fn create_inbox(&self, channel: ChannelType) -> Uuid {
        let inbox_id = Uuid::now_v7();
        let command = InboxCommand {
            workspace_id: WS,
            actor: Actor::agent("admin"),
            action: InboxAction::Create { inbox_id, name: "Support".into(), channel, policy: None },
        };
        self.engine.inboxes.execute(&inbox_id.to_string(), command, &meta()).await.expect("create an inbox");
        inbox_id
    }

    /// An inbound text from `contact` on `inbox`, sent now; returns the conversation id.
    pub async fn inbound(&self, inbox_id: Uuid, contact: &str, body: &str) -> Uuid {
        let conversation_id = convo_domain::conversation_id(WS, inbox_id, contact);
        let command = ConversationCommand {
            workspace_id: WS,
            actor: Actor::contact(contact),
            action: ConversationAction::ReceiveInboundMessage {
                contact_id: None,
                mentions: vec![],
                inbox_id,
                thread_key: contact.into(),
                kind: ConversationKind::Direct,
                display_name: None,
                message_id: Uuid::now_v7(),
                channel_message_id: None,
                sent_at: self.clock_now(),
                content: text(body),
                sender: None,
                sender_contact_id: None,
            },
        };
        self.engine.conversations.execute(&conversation_id.to_string(), command, &meta()).await.expect("inbound");
        conversation_id
    }

    /// Registers agent `agent_id` of [`WS`] (active, offline), so that it can be assigned.
    pub async fn register_agent(&self, agent_id: &str) {
        let command = AgentCommand {
            workspace_id: WS,
            actor: Actor::agent("admin"),
            action: AgentAction::Create {
                agent_id: agent_id.into(),
                name: agent_id.into(),
                email: None,
                role: AgentRole::Agent,
            },
        };
        let stream = agent_stream_id(WS, agent_id).to_string();
        self.engine.agents.execute(&stream, command, &meta()).await.expect("register an agent");
    }

    pub fn clock_now(&self) -> DateTime<Utc> {
        use convo_domain::Clock;
        self.clock.now()
    }

    pub fn send(&self, body: &str) -> ConversationCommand {
        ConversationCommand {
            workspace_id: WS,
            actor: Actor::agent("ada"),
            action: ConversationAction::SendMessage {
                minted_id: false,
                mentions: vec![],
                message_id: Uuid::now_v7(),
                content: text(body),
            },
        }
    }
}

/// Every event of the log up to its head now, read in pages.
pub async fn whole_log<B: Backend>(engine: &Engine<B>) -> Vec<convo_store::LogEvent> {
    use futures::TryStreamExt;
    let pages: Vec<Vec<_>> = engine.log.read_to_head(0, 500).try_collect().await.expect("read the log");
    pages.into_iter().flatten().collect()
}

/// Registers agent `agent_id` of `app`'s workspace over HTTP, so that it can be assigned; the
/// answer (`agent_id`, version and position).
pub async fn register_agent(app: &Router, agent_id: &str) -> Value {
    let body = serde_json::json!({"agent_id": agent_id, "name": agent_id});
    let reply = call(app, "POST", "/v1/agents", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "register agent {agent_id}: {}", reply.body);
    reply.body
}

/// Creates a team named `name` in `app`'s workspace over HTTP; the id it was given.
pub async fn create_team(app: &Router, name: &str) -> String {
    let reply = call(app, "POST", "/v1/teams", Some(serde_json::json!({"name": name}))).await;
    assert_eq!(reply.status, StatusCode::CREATED, "create team {name}: {}", reply.body);
    reply.body["team_id"].as_str().expect("a team id").to_owned()
}

/// Runs one async contract test against both backends, as `postgres` and `sqlite` tests.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let pg = $crate::support::TestPg::new().await;
                    super::$name(pg.backend.clone()).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = $crate::support::TestSqlite::new().await;
                    super::$name(db.backend.clone()).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// An HTTP answer: status, content type, a list's `Link` header and the JSON body (a string
/// when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub link: Option<String>,
    pub body: Value,
}

/// Calls the in-process router with an optional JSON body.
pub async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Reply {
    let mut request = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(b) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    raw(app, request.body(body).expect("a request")).await
}

pub async fn raw(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let headers = response.headers();
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (content_type, link) = (text(header::CONTENT_TYPE).unwrap_or_default(), text(header::LINK));
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
    Reply { status, content_type, link, body }
}
