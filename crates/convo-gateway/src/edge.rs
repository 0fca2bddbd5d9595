//! The request body at the edge of the connection. A request is often refused before its body
//! is read (401, 403, 405, 413, 415, 429): hyper then closes the connection, but only after
//! answering as if it stayed open, so a client that reuses it at once races the close and sees
//! it dropped without an answer; and a close with the body still arriving resets the
//! connection, which can make the client lose the answer (curl does when it is still sending).
//! So the rest of a body the routes left unread is read and discarded after the answer: a small
//! one keeps the connection, a larger one or one of unknown length is answered with
//! `Connection: close` and read for a while (a lingering close, as nginx does) so the client
//! gets to read the answer. A body not sent yet (`Expect: 100-continue`) is never asked for.
//! A body over the limit is refused from its `Content-Length` before any of it is read, so a
//! client that asks first never sends it.

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use http_body::{Frame, SizeHint};
use tokio::sync::oneshot;

use crate::ApiError;

/// The most of a refused request's body read to keep its connection (Go's net/http reads 256 KiB).
const KEEP_ALIVE_DRAIN: u64 = 256 * 1024;
/// The most read of a body too large for that before the connection is closed anyway.
const LINGER_DRAIN: u64 = 16 * 1024 * 1024;
/// How long the rest of a refused request's body may take to arrive: a slower one is dropped
/// with its connection (as hyper does at once).
const DRAIN_FOR: Duration = Duration::from_secs(5);

/// Reads the rest of a body the routes left unread, after the answer: see the module's comment.
pub(crate) async fn keep_connection(request: Request, next: Next) -> Response {
    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let http1 = request.version() <= Version::HTTP_11;
    // hyper sends `100 Continue` when the body is first read, and not after the answer: the
    // client then never sends it, and hyper closes the connection.
    let expects_continue =
        request.headers().get(header::EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let (parts, body) = request.into_parts();
    let (unread, mut left) = oneshot::channel();
    let body = Body::new(Watched { body: Some(body), unread: Some(unread) });
    let mut response = next.run(Request::from_parts(parts, body)).await;
    // Empty when the body was read to its end (or is still held by whoever answered).
    let Ok(rest) = left.try_recv() else { return response };
    let small = rest.size_hint().exact().is_some_and(|n| n <= KEEP_ALIVE_DRAIN);
    if http1 && (expects_continue || !small) {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if !expects_continue {
        tokio::spawn(drain(rest, if small { KEEP_ALIVE_DRAIN } else { LINGER_DRAIN }));
    }
    response
}

/// Reads and discards up to `limit` bytes of `body` within [`DRAIN_FOR`]; hyper closes the
/// connection of a body left unfinished.
async fn drain(body: Body, limit: u64) {
    let mut data = body.into_data_stream();
    let mut read = 0;
    let discard = async {
        while let Some(Ok(chunk)) = data.next().await {
            read += chunk.len() as u64;
            if read > limit {
                break;
            }
        }
    };
    drop(tokio::time::timeout(DRAIN_FOR, discard).await);
}

/// 413 to a request whose `Content-Length` is over the limit, before any of its body is read:
/// a client that sent `Expect: 100-continue` gets it instead of `100 Continue`.
pub(crate) async fn refuse_too_large(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared = request.body().size_hint().lower();
    if usize::try_from(declared).is_ok_and(|n| n <= limit) {
        next.run(request).await
    } else {
        ApiError::payload_too_large(limit).into_response()
    }
}

/// A request body that hands back what its reader left of it when dropped.
struct Watched {
    /// `None` once read to its end.
    body: Option<Body>,
    unread: Option<oneshot::Sender<Body>>,
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else { return Poll::Ready(None) };
        let frame = ready!(Pin::new(body).poll_frame(cx));
        // At its end or broken, there is nothing left worth reading.
        if !matches!(frame, Some(Ok(_))) {
            self.body = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let (Some(body), Some(unread)) = (self.body.take(), self.unread.take())
            && !body.is_end_stream()
        {
            drop(unread.send(body));
        }
    }
}
