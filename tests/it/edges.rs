//! The gateway's HTTP edges, seen by a client on a real socket: a request refused before its
//! body was read leaves its keep-alive connection usable, a body too large is refused with a
//! 413 problem+json (before it is sent, when the client asks first with `Expect: 100-continue`),
//! and a method a route does not have is a 405 problem+json with an `Allow` header.
//!
//! One backend (SQLite) is enough: nothing here reaches the store beyond the API keys.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use convo_gateway::GatewayConfig;
use convo_gateway::Scope;
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower::ServiceExt;

use crate::support::{API_WS, TestSqlite, api_key, authed, engine, read_models, test_config};

/// The body limit of the gateway under test: small, so that a body over it is small too.
const LIMIT: usize = 1024;
/// Long enough for any answer of a healthy local server; a connection the server dropped is
/// seen long before (as end of stream).
const PATIENCE: Duration = Duration::from_secs(10);

/// A gateway on SQLite served on a port of its own, with an admin and a read-only key.
struct Server {
    addr: SocketAddr,
    admin: String,
    reader: String,
    _db: TestSqlite,
}

async fn serve(body_limit: usize) -> Server {
    let db = TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let config = GatewayConfig { body_limit, ..test_config() };
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &config);
    let (admin, reader) = (api_key(&t, API_WS, &[Scope::Admin]).await, api_key(&t, API_WS, &[Scope::Read]).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    Server { addr, admin, reader, _db: db }
}

/// One HTTP/1.1 answer, as read off the wire.
#[derive(Debug)]
struct Answer {
    status: u16,
    /// Lower-case names.
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn closes(&self) -> bool {
        self.headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// A client speaking HTTP/1.1 over one TCP connection, byte by byte as written.
struct Connection {
    stream: BufReader<TcpStream>,
}

impl Connection {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self { stream: BufReader::new(stream) }
    }

    async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.get_mut().write_all(bytes).await
    }

    /// The next answer; an error when the server closed the connection without one.
    async fn answer(&mut self) -> std::io::Result<Answer> {
        tokio::time::timeout(PATIENCE, read_answer(&mut self.stream))
            .await
            .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer")))
    }
}

async fn read_answer<R: tokio::io::AsyncBufRead + Unpin>(stream: &mut R) -> std::io::Result<Answer> {
    let closed = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed without response");
    let mut line = String::new();
    if stream.read_line(&mut line).await? == 0 {
        return Err(closed());
    }
    let status = line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(closed)?;
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if stream.read_line(&mut line).await? == 0 {
            return Err(closed());
        }
        let Some((name, value)) = line.trim_end().split_once(':') else { break };
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await?;
    Ok(Answer { status, headers, body })
}

/// A request's head (with `Content-Length` for `body`) and its body, apart.
fn request(method: &str, path: &str, key: Option<&str>, content_type: &str, body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: convo\r\ncontent-type: {content_type}\r\n");
    if let Some(key) = key {
        head.push_str(&format!("authorization: Bearer {key}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    (head.into_bytes(), body.to_vec())
}

/// How a client puts a request on the wire.
#[derive(Debug, Clone, Copy)]
enum Pace {
    /// Head and body in one write.
    Together,
    /// Head, then body, in two writes (what httpx does).
    Apart,
    /// Head, then the body once the answer is in: a body still on its way (a slow link, a larger
    /// body) when the gateway refuses the request from its head alone.
    AfterTheAnswer,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_leaves_its_keep_alive_connection_usable() {
    let server = serve(LIMIT).await;
    let json = "application/json";
    let inbox = br#"{"name": "Support", "channel_type": "sms"}"#.as_slice();
    let padded = format!(r#"{{"name": "{}", "channel_type": "sms"}}"#, "x".repeat(700)).into_bytes();
    let too_large = format!(r#"{{"name": "{}", "channel_type": "sms"}}"#, "x".repeat(3 * LIMIT)).into_bytes();
    let (admin, reader) = (Some(server.admin.as_str()), Some(server.reader.as_str()));
    let refusals = [
        ("no key", request("POST", "/v1/inboxes", None, json, &padded), 401),
        ("a read key writing", request("POST", "/v1/inboxes", reader, json, &padded), 403),
        ("a body over the limit", request("POST", "/v1/inboxes", admin, json, &too_large), 413),
        ("not JSON", request("POST", "/v1/inboxes", admin, "text/plain", inbox), 415),
        ("no such method", request("PUT", "/v1/inboxes", admin, json, &padded), 405),
    ];
    let paces = [Pace::Together, Pace::Apart, Pace::AfterTheAnswer];
    let (next_head, _) = request("GET", "/v1/inboxes", admin, json, b"");

    let mut connection = Connection::open(server.addr).await;
    let mut failures = Vec::new();
    for round in 0..200 {
        let (what, (head, body), status) = &refusals[round % refusals.len()];
        let pace = paces[round / refusals.len() % paces.len()];
        let outcome = async {
            match pace {
                Pace::Together => connection.send(&[head.as_slice(), body].concat()).await?,
                Pace::Apart => {
                    connection.send(head).await?;
                    connection.send(body).await?;
                }
                Pace::AfterTheAnswer => connection.send(head).await?,
            }
            let refused = connection.answer().await?;
            if let Pace::AfterTheAnswer = pace {
                connection.send(body).await?;
            }
            connection.send(&next_head).await?;
            let next = connection.answer().await?;
            Ok::<_, std::io::Error>((refused, next))
        }
        .await;
        match outcome {
            Ok((refused, next)) if refused.status == *status && !refused.closes() && next.status == 200 => {}
            other => {
                failures.push(format!("round {round}, {what}, {pace:?}: {other:?}"));
                connection = Connection::open(server.addr).await;
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 200 rounds failed, e.g. {:#?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_body_announced_with_expect_100_continue_is_refused_before_it_is_sent() {
    let server = serve(LIMIT).await;
    let mut connection = Connection::open(server.addr).await;
    let head = format!(
        "POST /v1/inboxes HTTP/1.1\r\nhost: convo\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
         content-length: 10485760\r\nexpect: 100-continue\r\n\r\n",
        server.admin
    );
    connection.send(head.as_bytes()).await.expect("send the head");
    let answer = connection.answer().await.expect("an answer before the body");
    assert_eq!(answer.status, 413, "the final answer, not 100 Continue: {answer:?}");
    assert_eq!(answer.headers.get("content-type").map(String::as_str), Some("application/problem+json"));
    assert_eq!(answer.json()["code"], "payloadTooLarge");
    // The body was never sent: the connection cannot go on, and says so.
    assert!(answer.closes(), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_upload_reads_its_413_problem_json() {
    let server = serve(GatewayConfig::default().body_limit).await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let head = format!(
        "POST /v1/inboxes HTTP/1.1\r\nhost: convo\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        server.admin,
        10 * 1024 * 1024
    );
    // The client sends it all, as Python's requests does, and reads the answer after.
    let upload = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..160 {
            write.write_all(&chunk).await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let answer = tokio::time::timeout(PATIENCE, read_answer(&mut BufReader::new(read)))
        .await
        .expect("an answer in time")
        .expect("an answer, not a reset");
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.headers.get("content-type").map(String::as_str), Some("application/problem+json"));
    assert_eq!(answer.json()["code"], "payloadTooLarge");
    assert!(answer.closes(), "the connection does not go on: {answer:?}");
    // The gateway read the rest before closing: the client could send it all, not reset
    // mid-upload (curl, for one, stops there and never reads the answer).
    let sent = upload.await.expect("the upload task");
    assert!(sent.is_ok(), "the upload was cut off: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_method_a_route_lacks_is_405_problem_json_listing_the_allowed_ones() {
    let db = TestSqlite::new().await;
    let t = engine(db.backend.clone());
    let router = convo_gateway::router(t.engine.clone(), read_models(&t), &test_config());
    let app = authed(router.clone(), api_key(&t, API_WS, &[Scope::Admin]).await);

    let allowed = |response: &axum::response::Response| -> BTreeSet<String> {
        let allow = response.headers().get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or_default();
        allow.split(',').map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()).collect()
    };
    for (app, method, uri, allow) in [
        (&app, "PUT", "/v1/inboxes", ["GET", "HEAD", "POST"].as_slice()),
        (&app, "PATCH", "/v1/keys/cvk_x", ["DELETE"].as_slice()),
        (&router, "POST", "/healthz", ["GET", "HEAD"].as_slice()),
    ] {
        let request = Request::builder().method(method).uri(uri).body(Body::empty()).expect("a request");
        let response = app.clone().oneshot(request).await.expect("an answer");
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(allowed(&response), allow.iter().map(|m| (*m).to_owned()).collect(), "{method} {uri}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json", "{method} {uri}");
        let body = response.into_body().collect().await.expect("a body").to_bytes();
        let problem: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        assert_eq!((problem["code"].as_str(), problem["status"].as_u64()), (Some("methodNotAllowed"), Some(405)));
    }

    // Without a key, a /v1 route says nothing about itself but that a key is needed.
    let anonymous = Request::put("/v1/inboxes").body(Body::empty()).expect("a request");
    assert_eq!(router.oneshot(anonymous).await.expect("an answer").status(), StatusCode::UNAUTHORIZED);
}
