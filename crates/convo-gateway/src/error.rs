//! Every error as `application/problem+json` (RFC 9457) with a stable machine-readable `code`.
//! One table maps domain and store errors to a code and an HTTP status; internal errors are
//! logged and never described to the client.

use axum::extract::rejection::JsonRejection;
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
    /// Extra members for some codes (the failing field, the window's expiry, …).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Seconds, for a `Retry-After` header.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

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
            extra: serde_json::Map::new(),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
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

    pub fn validation(field: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", format!("{field}: {reason}")).with("field", field)
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

    pub(crate) fn from_json(err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", err.to_string()),
            Category::Syntax | Category::Eof | Category::Io => Self::bad_request(format!("malformed JSON: {err}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after) = (self.status, self.retry_after);
        let mut response = (status, axum::Json(self)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(Ok(seconds)) = retry_after.map(|s| HeaderValue::from_str(&s.to_string())) {
            headers.insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation", e.body_text()),
            JsonRejection::JsonSyntaxError(e) => Self::bad_request(e.body_text()),
            JsonRejection::MissingJsonContentType(e) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupportedMediaType", e.body_text())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payloadTooLarge", other.body_text())
            }
            other => Self::new(other.status(), "malformedRequest", other.body_text()),
        }
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
            other => Self::internal(&other),
        }
    }
}
