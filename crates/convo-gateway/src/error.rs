//! Every error as `application/problem+json` (RFC 9457) with a stable machine-readable `code`.
//! One table maps domain and store errors to a code and an HTTP status; internal errors are
//! logged and never described to the client.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use convo_domain::{ConversationError, InboxError, WindowActor};
use convo_store::{CommandError, StoreError};
use serde::Serialize;

/// A problem (RFC 9457), served as `application/problem+json`. `code` is the stable,
/// machine-readable name of the error; `type` is a URI made from it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ApiError {
    /// `https://convo.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// The HTTP status's reason phrase.
    pub title: &'static str,
    /// The HTTP status code.
    #[serde(serialize_with = "serialize_status")]
    #[schema(value_type = u16)]
    pub status: StatusCode,
    /// What went wrong, for humans.
    pub detail: String,
    /// The stable error code, e.g. `validation`, `notFound`, `conflict`, `messagingWindowClosed`.
    pub code: &'static str,
    /// For `validation`: what is wrong, and where.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for some codes (the failing field, the window's expiry, …).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Seconds, for a `Retry-After` header.
    #[serde(skip)]
    pub retry_after: Option<u32>,
    /// The command may have been written although it failed (see [`MaybeWritten`]).
    #[serde(skip)]
    pub maybe_written: bool,
}

/// One thing wrong with a request: in the body (`pointer`, RFC 6901) or in a parameter or
/// header (`parameter`, its name).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where in the JSON body, e.g. `/content/body` (empty for the body as a whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The query or path parameter, or the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// What is wrong with it.
    pub detail: String,
}

/// Marks a response to a command whose events may be in the log although it failed (the
/// connection broke while they were committed): its idempotency key is not released, so a retry
/// looks in the log and answers what was written rather than writing it again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MaybeWritten;

fn serialize_status<S: serde::Serializer>(status: &StatusCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(status.as_u16())
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("https://convo.dev/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            code,
            errors: Vec::new(),
            extra: serde_json::Map::new(),
            retry_after: None,
            maybe_written: false,
        }
    }

    #[must_use]
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Names the body field at fault (as a pointer in `errors`).
    pub(crate) fn with_field(mut self, field: &str) -> Self {
        let detail = self.detail.clone();
        self.errors.push(FieldError { pointer: Some(format!("/{field}")), parameter: None, detail });
        self
    }

    fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), value);
        }
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "notFound", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformedRequest", detail)
    }

    /// A body field is invalid; `field` is its name, dotted for nested ones (`content.body`).
    pub fn validation(field: &str, reason: impl Into<String>) -> Self {
        let pointer: String = field.split('.').flat_map(|part| ["/", part]).collect();
        Self::validation_at(pointer, reason).with("field", field)
    }

    /// A body field is invalid; `pointer` (RFC 6901) says where it is.
    pub fn validation_at(pointer: String, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let detail = if pointer.is_empty() { reason.clone() } else { format!("{pointer}: {reason}") };
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", detail);
        error.errors.push(FieldError { pointer: Some(pointer), parameter: None, detail: reason });
        error
    }

    /// A query or path parameter, or a header, is invalid.
    pub fn parameter(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut error =
            Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", format!("{name}: {reason}")).with("field", name);
        error.errors.push(FieldError { pointer: None, parameter: Some(name.to_owned()), detail: reason });
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge", format!("the body is larger than {limit} bytes"))
    }

    /// The `Allow` header of the answer lists the methods the route has.
    pub fn method_not_allowed(method: &Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "methodNotAllowed",
            format!("{method} is not a method of this route; `Allow` lists those that are"),
        )
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
    }

    /// A body that is not JSON (400) or not of the expected shape (422, naming where).
    pub(crate) fn from_json(err: serde_path_to_error::Error<serde_json::Error>) -> Self {
        use serde_json::error::Category;
        let mut pointer = pointer_of(err.path());
        let err = err.into_inner();
        match err.classify() {
            Category::Data => {
                let reason = readable(&err);
                // serde names the object a missing field is missing from; point at the field.
                if let Some(field) = reason.strip_prefix("missing field `").and_then(|f| f.strip_suffix('`')) {
                    pointer.push('/');
                    pointer.push_str(&field.replace('~', "~0").replace('/', "~1"));
                }
                Self::validation_at(pointer, reason)
            }
            Category::Syntax | Category::Eof | Category::Io => Self::bad_request(format!("malformed JSON: {err}")),
        }
    }
}

/// The JSON pointer (RFC 6901) of a path serde reports.
fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(format!("/{index}")),
            Segment::Map { key } => Some(format!("/{}", key.replace('~', "~0").replace('/', "~1"))),
            Segment::Enum { .. } | Segment::Unknown => None,
        })
        .collect()
}

/// serde's message without the position and without Rust type names ("expected struct
/// InboundMessage"), which mean nothing to a client.
fn readable(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = message.split(" at line ").next().unwrap_or(&message);
    let mut out = Vec::new();
    let mut words = message.split(' ');
    while let Some(word) = words.next() {
        match word {
            "struct" | "enum" if out.last() == Some(&"expected") => {
                words.next(); // the Rust type's name
                out.push(if word == "struct" { "an object" } else { "one of the documented values" });
            }
            other => out.push(other),
        }
    }
    out.join(" ")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after, maybe_written) = (self.status, self.retry_after, self.maybe_written);
        let mut response = (status, axum::Json(self)).into_response();
        if maybe_written {
            response.extensions_mut().insert(MaybeWritten);
        }
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(Ok(seconds)) = retry_after.map(|s| HeaderValue::from_str(&s.to_string())) {
            headers.insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Connection(_) => {
                tracing::error!(error = %err, "store unreachable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the event store is unreachable; retry later")
                    .retry_after(1)
            }
            StoreError::Conflict => {
                Self::new(StatusCode::CONFLICT, "conflict", "the resource changed concurrently; retry")
            }
            other => Self::internal(&other),
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(err: ConversationError) -> Self {
        use ConversationError as E;
        let detail = err.to_string();
        match err {
            E::NotFound => Self::not_found(detail),
            E::MessageNotFound(id) => Self::not_found(detail).with("message_id", id),
            E::MessageDeleted(id) => Self::new(StatusCode::CONFLICT, "messageDeleted", detail).with("message_id", id),
            E::DuplicateMessage(id) => Self::new(StatusCode::CONFLICT, "conflict", detail).with("message_id", id),
            E::MessagingWindowClosed { actor, expired_at } => {
                let actor = match actor {
                    WindowActor::Agent => "AGENT",
                    WindowActor::Bot => "BOT",
                };
                let e = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "messagingWindowClosed", detail)
                    .with("forActor", actor);
                match expired_at {
                    Some(at) => e.with("expiresAt", at),
                    None => e,
                }
            }
            E::InboxRequired => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "inboxRequired", detail),
            E::InboxNotFound(id) => Self::not_found(detail).with("inbox_id", id),
            E::UnsupportedChannel { channel, content } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unsupportedChannel", detail)
                    .with("channel", channel)
                    .with("content_type", content)
            }
            E::NotAGroup => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "notAGroup", detail),
            E::GroupExists => Self::new(StatusCode::CONFLICT, "conflict", detail),
            E::GroupLeft => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "groupLeft", detail),
            E::AnnounceOnly => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "announceOnly", detail),
            E::ActivityOnly => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "activityOnly", detail),
            E::NotGroupAdmin => Self::new(StatusCode::FORBIDDEN, "notGroupAdmin", detail),
            E::CreatorProtected => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "creatorProtected", detail),
            E::MentionNotMember(member) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "mentionNotMember", detail).with("member_id", member)
            }
            E::JoinApprovalRequired => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "joinApprovalRequired", detail),
            E::InviteLinkRevoked => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "inviteLinkRevoked", detail),
            E::MemberNotFound(member) => Self::not_found(detail).with("member_id", member),
            E::JoinRequestNotFound(id) => Self::not_found(detail).with("request_id", id),
            E::Validation { field, reason } => Self::validation(&field, reason),
            E::Lookup(reason) => {
                tracing::error!(%reason, "lookup failed");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the event store is unreachable; retry later")
                    .retry_after(1)
            }
        }
    }
}

impl From<InboxError> for ApiError {
    fn from(err: InboxError) -> Self {
        let detail = err.to_string();
        match err {
            InboxError::NotFound => Self::not_found(detail),
            InboxError::AlreadyExists => Self::new(StatusCode::CONFLICT, "conflict", detail),
            InboxError::Validation { field, reason } => Self::validation(&field, reason),
        }
    }
}

impl<E: std::error::Error + Into<ApiError>> From<CommandError<E>> for ApiError {
    fn from(err: CommandError<E>) -> Self {
        match err {
            CommandError::Rejected(e) => e.into(),
            CommandError::Contended { .. } => Self::new(StatusCode::CONFLICT, "conflict", err.to_string()),
            CommandError::Store(e) => e.into(),
            CommandError::Unknown(e) => {
                tracing::error!(error = %e, "the connection failed while a command was committed");
                let mut unknown = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the event store failed while the command was being committed: it may have been written; \
                     retry with the same Idempotency-Key to learn which",
                )
                .retry_after(1);
                unknown.maybe_written = true;
                unknown
            }
            other => Self::internal(&other),
        }
    }
}
