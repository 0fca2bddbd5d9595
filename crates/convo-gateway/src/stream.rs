//! `GET /v1/stream`: the workspace's events as server-sent events, after a position (the
//! `Last-Event-ID` a reconnecting client sends, or `?after=`), with heartbeats.
//!
//! One task per gateway follows the global log and broadcasts each event once; each client
//! first catches up from the log, then follows the broadcast. A client has a bounded buffer: one
//! whose buffer stays full for a while (`GatewayConfig::stream_slow_after`), or that falls behind the broadcast's ring, is
//! disconnected (and resumes with `Last-Event-ID`), so it never slows down writers or other
//! clients.

use std::convert::Infallible;
use std::sync::{Arc, Once};
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use convo_store::{Backend, EventLog, Fence, FollowError, Follower, Handled, LogEvent, ProjectionStatus, Start};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc, watch};

use crate::extract::ApiQuery;
use crate::extract::Workspace;
use crate::{ApiError, AppState};

const PAGE: usize = 500;

/// The gateway's one follower of the log, shared by every stream client.
pub(crate) struct StreamHub {
    sender: broadcast::Sender<Arc<LogEvent>>,
    started: Once,
    /// Where the follower started: every event up to it was readable then, every event after it
    /// is broadcast. A client catches up from the log only once this is known.
    start: watch::Sender<Option<i64>>,
    /// Events a client may have pending before it counts as too slow.
    client_buffer: usize,
    /// How long a client's buffer may stay full before it counts as too slow.
    slow_after: Duration,
    heartbeat: Duration,
    shutdown: Option<watch::Receiver<bool>>,
}

impl StreamHub {
    pub(crate) fn new(
        client_buffer: usize,
        slow_after: Duration,
        heartbeat: Duration,
        shutdown: Option<watch::Receiver<bool>>,
    ) -> Self {
        // The broadcast only has to absorb scheduling hiccups of the clients' forwarding tasks;
        // a client's own pace is bounded by its buffer, so the ring is a few times larger.
        let (sender, _) = broadcast::channel(client_buffer.max(16).saturating_mul(4).max(1024));
        let (start, _) = watch::channel(None);
        Self {
            sender,
            started: Once::new(),
            start,
            client_buffer: client_buffer.max(16),
            slow_after,
            heartbeat,
            shutdown,
        }
    }

    /// The broadcast, once the follower runs (so that catching up from the log afterwards
    /// covers everything the broadcast will not carry).
    async fn subscribe<B: Backend>(&self, log: &EventLog<B>) -> broadcast::Receiver<Arc<LogEvent>> {
        let mut start = self.start.subscribe();
        self.started.call_once(|| {
            let pump = Pump { log: log.clone(), sender: self.sender.clone(), start: self.start.clone(), after: None };
            // Every gateway runs its own pump (its clients are its own): no lease.
            tokio::spawn(convo_store::follow(pump, log.clone(), ProjectionStatus::new("stream"), PAGE, None));
        });
        let receiver = self.sender.subscribe();
        // The sender lives in the hub, so the wait ends when the follower has started.
        let _ = start.wait_for(Option::is_some).await;
        receiver
    }
}

/// The hub's follower of the log: from the log's readable head when it first starts (every
/// client catches up from the log itself before that), it broadcasts every event. It stores no
/// checkpoint: after a failure it resumes from the last event it broadcast, and clients resume
/// with `Last-Event-ID`.
struct Pump<B> {
    log: EventLog<B>,
    sender: broadcast::Sender<Arc<LogEvent>>,
    start: watch::Sender<Option<i64>>,
    /// The last event broadcast (or where it first started).
    after: Option<i64>,
}

impl<B: Backend> Follower for Pump<B> {
    async fn start(&mut self, _fence: Option<Fence>) -> Result<Start, FollowError> {
        let after = match self.after {
            Some(after) => after,
            None => {
                let head = self.log.head().await?;
                self.log.settle(head).await?;
                self.start.send_replace(Some(head));
                head
            }
        };
        self.after = Some(after);
        Ok(Start::at(after))
    }

    async fn handle(&mut self, events: &[Arc<LogEvent>], _progress: Start) -> Result<Handled, FollowError> {
        for event in events {
            // No receivers is fine: nobody is listening right now.
            let _ = self.sender.send(event.clone());
            self.after = Some(event.position);
        }
        Ok(Handled::Held)
    }

    async fn store(&mut self, _from: i64, _to: i64) -> Result<(), FollowError> {
        Ok(())
    }
}

/// One server-sent event of the live stream (heartbeats are comments, not events).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // only its schema is used
pub struct StreamEvent {
    /// The event's position in the global log: reconnect with it as `Last-Event-ID`.
    id: String,
    /// The event type, e.g. `MessageSent` (see schemas/events).
    event: String,
    /// The event as JSON, exactly as `/v1/events` shows it.
    data: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Start after this position (default: now). `Last-Event-ID` takes precedence.
    #[serde(default)]
    pub after: Option<u64>,
}

/// Follow the workspace's events live, as server-sent events: `id` is the event's position,
/// `event` its type, `data` the event as `/v1/events` shows it. Reconnect with `Last-Event-ID`
/// to resume right after the last event received. Idle streams get a heartbeat comment; a
/// client that falls too far behind is disconnected (and resumes the same way).
#[utoipa::path(
    get,
    path = "/v1/stream",
    tag = "log",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<u64>, Header, nullable = false, description = "Resume after this position (takes precedence over `after`)"),
    ),
    responses(
        (status = 200, description = "An endless `text/event-stream` of the workspace's events", content_type = "text/event-stream", body = StreamEvent),
    ),
    security(("apiKey" = ["read"])),
)]
pub async fn stream<B: Backend>(
    State(state): State<AppState<B>>,
    Workspace(ws): Workspace,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StreamParams>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .and_then(|p| i64::try_from(p).ok())
                .ok_or_else(|| ApiError::parameter("Last-Event-ID", "must be a position (a non-negative integer)"))?,
        ),
    };
    let after = params
        .after
        .map(i64::try_from)
        .transpose()
        .map_err(|_| ApiError::parameter("after", "must be a position (a non-negative integer)"))?;
    let hub = state.hub.clone();
    // Subscribe before catching up: whatever the catch-up misses, the broadcast carries.
    let live = hub.subscribe(&state.engine.log).await;
    let after = match last_event_id.or(after) {
        Some(after) => after,
        None => state.engine.log.head().await?,
    };
    // The first page before answering: a store outage is a 503 rather than an empty stream,
    // and a client with nothing to catch up on is following live from its first byte.
    let first = state.engine.log.read_workspace(&ws.to_string(), after, PAGE).await?;
    let (tx, rx) = mpsc::channel(hub.client_buffer);
    let (shutdown, slow_after) = (hub.shutdown.clone(), hub.slow_after);
    tokio::spawn(async move {
        let feed = feed(state.engine.log.clone(), ws.to_string(), after, first, live, tx, slow_after);
        match shutdown {
            // The stream ends (and its response with it) when the server shuts down.
            Some(mut shutdown) => {
                tokio::select! {
                    () = feed => {}
                    _ = shutdown.wait_for(|stop| *stop) => {}
                }
            }
            None => feed.await,
        }
    });
    let events = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(hub.heartbeat)))
}

fn sse_event(event: &LogEvent) -> Event {
    Event::default()
        .id(event.position.to_string())
        .event(&event.event_type)
        .json_data(event)
        .unwrap_or_else(|_| Event::default().comment("unserializable event"))
}

/// One client's feed: catch up from the log, then follow the broadcast; ends when the client
/// goes away or falls too far behind.
async fn feed<B: Backend>(
    log: EventLog<B>,
    workspace: String,
    mut after: i64,
    first: Vec<LogEvent>,
    mut live: broadcast::Receiver<Arc<LogEvent>>,
    tx: mpsc::Sender<Event>,
    slow_after: Duration,
) {
    let _gauge = ClientGauge::new();
    let mut next = Some(first);
    loop {
        let page = match next.take() {
            Some(page) => page,
            None => match log.read_workspace(&workspace, after, PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "stream: catching up failed; closing the stream");
                    return;
                }
            },
        };
        let Some(last) = page.last().map(|e| e.position) else { break };
        for event in &page {
            // Catching up, the client's own pace is fine: only this task waits.
            if tx.send(sse_event(event)).await.is_err() {
                return;
            }
        }
        after = last;
    }
    loop {
        match live.recv().await {
            Ok(event) if event.position > after && event.workspace_id.as_deref() == Some(workspace.as_str()) => {
                after = event.position;
                // A full buffer is not yet a slow client: one that just caught up has its buffer
                // full of the catch-up and is reading it. Only one that takes nothing for a
                // while is. Waiting here holds up this client alone (the broadcast never waits).
                match tx.send_timeout(sse_event(&event), slow_after).await {
                    Ok(()) => {}
                    Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                        tracing::info!(position = after, "stream: slow client disconnected");
                        metrics::counter!("convo_stream_slow_clients_total").increment(1);
                        return;
                    }
                    Err(mpsc::error::SendTimeoutError::Closed(_)) => return,
                }
            }
            Ok(_) => {}
            Err(broadcast::error::RecvError::Lagged(_)) => {
                tracing::info!(position = after, "stream: client fell behind the broadcast; disconnected");
                metrics::counter!("convo_stream_slow_clients_total").increment(1);
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Counts a client in `convo_stream_clients` while its feed runs.
struct ClientGauge;

impl ClientGauge {
    fn new() -> Self {
        metrics::gauge!("convo_stream_clients").increment(1.0);
        Self
    }
}

impl Drop for ClientGauge {
    fn drop(&mut self) {
        metrics::gauge!("convo_stream_clients").decrement(1.0);
    }
}
