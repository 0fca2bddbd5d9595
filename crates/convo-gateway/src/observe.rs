//! Observability at the door: a request id on every request (the caller's `X-Request-Id`, or a
//! new one) echoed in the response and carried by every log line of the request; one
//! structured log line and one latency observation per request; the Prometheus registry behind
//! `GET /metrics` (command latency by command, projection lag, store and bus errors, requests).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use uuid::Uuid;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Latency buckets, in seconds: 0.5 ms to 10 s.
const BUCKETS: [f64; 14] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's Prometheus registry, installed as the `metrics` recorder on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only convo's own registry");
        }
        // Histograms are drained into their buckets by upkeep.
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .ok();
        handle
    })
}

/// Prometheus metrics of this process (text exposition format 0.0.4): requests, command
/// latency by command, projection lag, append batch sizes, store and bus errors.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The metrics", body = String, content_type = "text/plain; version=0.0.4")),
)]
pub(crate) async fn render_metrics() -> Response {
    let handle = metrics_handle();
    handle.run_upkeep();
    (StatusCode::OK, [("content-type", "text/plain; version=0.0.4")], handle.render()).into_response()
}

fn request_id(request: &Request) -> HeaderValue {
    request
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic))
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_str(&Uuid::now_v7().to_string()).expect("a UUID is a header value"))
}

/// Request id, log line and latency for every request.
pub(crate) async fn observe(request: Request, next: Next) -> Response {
    let id = request_id(&request);
    let method = request.method().to_string();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let span = tracing::info_span!("request", request_id = id.to_str().unwrap_or(""), %method, %route);
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "answered");
    });
    metrics::histogram!("convo_http_request_duration_seconds", "method" => method, "route" => route, "status" => status.to_string())
        .record(elapsed.as_secs_f64());
    response.headers_mut().insert(REQUEST_ID_HEADER, id);
    response
}
