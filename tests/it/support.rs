//! Test fixtures: real databases (a fresh PostgreSQL database or SQLite file per test), an
//! engine on them with a movable clock, and command builders.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Utc};
use convo_domain::conversation::{ConversationAction, ConversationKind};
use convo_domain::inbox::{InboxAction, InboxCommand};
use convo_domain::{Actor, ChannelType, ConversationCommand, ManualClock, MessageContent};
use convo_gateway::GatewayConfig;
use convo_store::{Backend, Engine, ReadModels, Scope, Tenancy};
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

/// A database of its own on the real PostgreSQL server, dropped by [`TestPg::cleanup`].
pub struct TestPg {
    pub url: String,
    pub backend: PostgresBackend,
    name: String,
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
        let url = match admin.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => panic!("CONVO_TEST_DATABASE_URL must end with a database name"),
        };
        let pool = convo_store_postgres::connect(&url, 40).await.expect("connect to the test database");
        convo_store_postgres::migrate(&pool).await.expect("migrate the test database");
        Self { backend: PostgresBackend::new(pool), url, name }
    }

    pub async fn cleanup(self) {
        self.backend.pool().close().await;
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
            let _ =
                sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await;
        }
    }
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
            },
        };
        self.engine.conversations.execute(&conversation_id.to_string(), command, &meta()).await.expect("inbound");
        conversation_id
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

/// Runs one async contract test against both backends, as `postgres` and `sqlite` tests.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let pg = $crate::support::TestPg::new().await;
                    super::$name(pg.backend.clone()).await;
                    pg.cleanup().await;
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
