//! `GET /app`: the reference dashboard, a client of the public API like any other, served from
//! files embedded in the binary (`crates/convo-gateway/app/`: ES modules and one vendored
//! library, no build step). It holds no key: the person signing in types one, kept in the
//! tab's `sessionStorage`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// Every file of the app: its name under `/app/`, its media type and its bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    ("index.html", "text/html; charset=utf-8", include_bytes!("../app/index.html")),
    ("main.js", "text/javascript; charset=utf-8", include_bytes!("../app/main.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("../app/api.js")),
    ("stream.js", "text/javascript; charset=utf-8", include_bytes!("../app/stream.js")),
    ("views.js", "text/javascript; charset=utf-8", include_bytes!("../app/views.js")),
    ("style.css", "text/css; charset=utf-8", include_bytes!("../app/style.css")),
    ("vendor/htm-preact.js", "text/javascript; charset=utf-8", include_bytes!("../app/vendor/htm-preact.js")),
];

/// The page may load its own files and talk to its own origin only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/app", get(|| async { Redirect::permanent("/app/") }))
        .route("/app/", get(|| async { file("index.html") }))
        .route("/app/{*path}", get(|Path(path): Path<String>| async move { file(&path) }))
}

fn file(path: &str) -> Response {
    let Some((_, media_type, bytes)) = FILES.iter().find(|(name, ..)| *name == path) else {
        return crate::ApiError::not_found("no such file of the app").into_response();
    };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    // The files change with the binary only: revalidate, never serve a stale app.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
