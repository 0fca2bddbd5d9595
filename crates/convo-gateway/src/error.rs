//! Every error as `application/problem+json` (RFC 9457) with a stable machine-readable `code`.
//! One table maps domain and store errors to a code and an HTTP status; internal errors are
//! logged and never described to the client.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use convo_domain::directory::{AgentError, TeamError};
use convo_domain::{ConversationError, InboxError, WindowActor};
use convo_store::{CommandError, StoreError};
use serde::Serialize;

/// Every error code the API answers: the one table (meilisearch's `Code`). A code knows its
/// HTTP status and its `type` URI; the OpenAPI document lists them from here, and no code is
/// written anywhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Code {
    /// A field, parameter or header is invalid (`errors` says which).
    Validation,
    /// The body is not JSON.
    MalformedRequest,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is over the limit.
    PayloadTooLarge,
    /// The route has no such method (`Allow` lists its methods).
    MethodNotAllowed,
    /// No API key, or an unknown or revoked one.
    Unauthorized,
    /// The key lacks the scope the operation needs.
    Forbidden,
    /// The key may not act as the `actor` the command names.
    ActorNotAllowed,
    /// The key is over its rate limit (`Retry-After`).
    RateLimited,
    /// No such resource in the key's workspace (another workspace's is the same).
    NotFound,
    /// The resource changed concurrently, or already exists.
    Conflict,
    /// The `Idempotency-Key` was used with another request.
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` still runs (`Retry-After`).
    IdempotencyKeyInFlight,
    /// The message was deleted.
    MessageDeleted,
    /// The channel's messaging window is closed for this actor (`forActor`, `expiresAt`).
    MessagingWindowClosed,
    /// The conversation's inbox is deleted.
    InboxRequired,
    /// The channel cannot carry this content for this actor.
    UnsupportedChannel,
    /// The conversation is not a group.
    NotAGroup,
    /// The inbox has left the group.
    GroupLeft,
    /// Only admins may send in announce mode.
    AnnounceOnly,
    /// The group keeps activity only, no bodies.
    ActivityOnly,
    /// The inbox's member is not an admin of the group.
    NotGroupAdmin,
    /// The group's creator cannot be removed or demoted.
    CreatorProtected,
    /// A mention names someone who is not a member.
    MentionNotMember,
    /// The group approves joins: ask with a join request.
    JoinApprovalRequired,
    /// The invite code is not the group's current one.
    InviteLinkRevoked,
    /// The agent is deactivated: they cannot be assigned or go online until reactivated.
    AgentDeactivated,
    /// A read model has not reached `min_position` in time (`Retry-After`).
    NotYetConsistent,
    /// A read model the query needs has stopped (`/readyz` says why).
    ReadModelStopped,
    /// The event store is unreachable (`Retry-After`).
    Unavailable,
    /// The request took too long (`Retry-After`); a command may have been written: retry with its `Idempotency-Key`.
    Timeout,
    /// This node cannot open a secret the request needs: it was sealed with another secrets key.
    SecretsKeyMismatch,
    /// An unexpected error; it is logged, never described.
    Internal,
}

impl Code {
    /// Every code, in the order of the table.
    pub const ALL: [Code; 33] = [
        Self::Validation,
        Self::MalformedRequest,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::MethodNotAllowed,
        Self::Unauthorized,
        Self::Forbidden,
        Self::ActorNotAllowed,
        Self::RateLimited,
        Self::NotFound,
        Self::Conflict,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInFlight,
        Self::MessageDeleted,
        Self::MessagingWindowClosed,
        Self::InboxRequired,
        Self::UnsupportedChannel,
        Self::NotAGroup,
        Self::GroupLeft,
        Self::AnnounceOnly,
        Self::ActivityOnly,
        Self::NotGroupAdmin,
        Self::CreatorProtected,
        Self::MentionNotMember,
        Self::JoinApprovalRequired,
        Self::InviteLinkRevoked,
        Self::AgentDeactivated,
        Self::NotYetConsistent,
        Self::ReadModelStopped,
        Self::Unavailable,
        Self::Timeout,
        Self::SecretsKeyMismatch,
        Self::Internal,
    ];

    /// Its name, as `code` in a problem.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::MalformedRequest => "malformedRequest",
            Self::UnsupportedMediaType => "unsupportedMediaType",
            Self::PayloadTooLarge => "payloadTooLarge",
            Self::MethodNotAllowed => "methodNotAllowed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::ActorNotAllowed => "actorNotAllowed",
            Self::RateLimited => "rateLimited",
            Self::NotFound => "notFound",
            Self::Conflict => "conflict",
            Self::IdempotencyKeyReused => "idempotencyKeyReused",
            Self::IdempotencyKeyInFlight => "idempotencyKeyInFlight",
            Self::MessageDeleted => "messageDeleted",
            Self::MessagingWindowClosed => "messagingWindowClosed",
            Self::InboxRequired => "inboxRequired",
            Self::UnsupportedChannel => "unsupportedChannel",
            Self::NotAGroup => "notAGroup",
            Self::GroupLeft => "groupLeft",
            Self::AnnounceOnly => "announceOnly",
            Self::ActivityOnly => "activityOnly",
            Self::NotGroupAdmin => "notGroupAdmin",
            Self::CreatorProtected => "creatorProtected",
            Self::MentionNotMember => "mentionNotMember",
            Self::JoinApprovalRequired => "joinApprovalRequired",
            Self::InviteLinkRevoked => "inviteLinkRevoked",
            Self::AgentDeactivated => "agentDeactivated",
            Self::NotYetConsistent => "notYetConsistent",
            Self::ReadModelStopped => "readModelStopped",
            Self::Unavailable => "unavailable",
            Self::Timeout => "timeout",
            Self::SecretsKeyMismatch => "secretsKeyMismatch",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status it is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::ActorNotAllowed => StatusCode::FORBIDDEN,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Conflict => StatusCode::CONFLICT,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInFlight => StatusCode::CONFLICT,
            Self::MessageDeleted => StatusCode::CONFLICT,
            Self::MessagingWindowClosed => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InboxRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedChannel => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotAGroup => StatusCode::UNPROCESSABLE_ENTITY,
            Self::GroupLeft => StatusCode::UNPROCESSABLE_ENTITY,
            Self::AnnounceOnly => StatusCode::UNPROCESSABLE_ENTITY,
            Self::ActivityOnly => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotGroupAdmin => StatusCode::FORBIDDEN,
            Self::CreatorProtected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::MentionNotMember => StatusCode::UNPROCESSABLE_ENTITY,
            Self::JoinApprovalRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InviteLinkRevoked => StatusCode::UNPROCESSABLE_ENTITY,
            Self::AgentDeactivated => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotYetConsistent => StatusCode::SERVICE_UNAVAILABLE,
            Self::ReadModelStopped => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::SecretsKeyMismatch => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether its answer says when to retry (`Retry-After`, 1 second unless said otherwise).
    pub const fn retries(self) -> bool {
        matches!(
            self,
            Self::RateLimited
                | Self::IdempotencyKeyInFlight
                | Self::NotYetConsistent
                | Self::Unavailable
                | Self::Timeout
        )
    }

    /// What it means, for the document's table of codes.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::Validation => "A field, parameter or header is invalid (`errors` says which).",
            Self::MalformedRequest => "The body is not JSON.",
            Self::UnsupportedMediaType => "The body is not `application/json`.",
            Self::PayloadTooLarge => "The body is over the limit.",
            Self::MethodNotAllowed => "The route has no such method (`Allow` lists its methods).",
            Self::Unauthorized => "No API key, or an unknown or revoked one.",
            Self::Forbidden => "The key lacks the scope the operation needs.",
            Self::ActorNotAllowed => "The key may not act as the `actor` the command names.",
            Self::RateLimited => "The key is over its rate limit (`Retry-After`).",
            Self::NotFound => "No such resource in the key's workspace (another workspace's is the same).",
            Self::Conflict => "The resource changed concurrently, or already exists.",
            Self::IdempotencyKeyReused => "The `Idempotency-Key` was used with another request.",
            Self::IdempotencyKeyInFlight => "The first request with this `Idempotency-Key` still runs (`Retry-After`).",
            Self::MessageDeleted => "The message was deleted.",
            Self::MessagingWindowClosed => {
                "The channel's messaging window is closed for this actor (`forActor`, `expiresAt`)."
            }
            Self::InboxRequired => "The conversation's inbox is deleted.",
            Self::UnsupportedChannel => "The channel cannot carry this content for this actor.",
            Self::NotAGroup => "The conversation is not a group.",
            Self::GroupLeft => "The inbox has left the group.",
            Self::AnnounceOnly => "Only admins may send in announce mode.",
            Self::ActivityOnly => "The group keeps activity only, no bodies.",
            Self::NotGroupAdmin => "The inbox's member is not an admin of the group.",
            Self::CreatorProtected => "The group's creator cannot be removed or demoted.",
            Self::MentionNotMember => "A mention names someone who is not a member.",
            Self::JoinApprovalRequired => "The group approves joins: ask with a join request.",
            Self::InviteLinkRevoked => "The invite code is not the group's current one.",
            Self::AgentDeactivated => {
                "The agent is deactivated: they cannot be assigned or go online until reactivated."
            }
            Self::NotYetConsistent => "A read model has not reached `min_position` in time (`Retry-After`).",
            Self::ReadModelStopped => "A read model the query needs has stopped (`/readyz` says why).",
            Self::Unavailable => "The event store is unreachable (`Retry-After`).",
            Self::Timeout => {
                "The request took too long (`Retry-After`); a command may have been written: retry with its `Idempotency-Key`."
            }
            Self::SecretsKeyMismatch => {
                "This node cannot open a secret the request needs: it was sealed with another secrets key \
                 (`sealed_with_key`) than this node's (`node_key`). Every node sharing the database needs the same \
                 `CONVO_SECRETS_KEY`: an operator's fix, nothing of the request's."
            }
            Self::Internal => "An unexpected error; it is logged, never described.",
        }
    }

    /// `type` in a problem: `https://convo.dev/problems/<code>`.
    pub fn type_uri(self) -> String {
        format!("https://convo.dev/problems/{}", self.name())
    }
}

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
    /// The stable error code (the `Code` table).
    pub code: Code,
    /// For `validation`: what is wrong, and where.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Extra members for some codes (the failing field, the window's expiry, …).
    #[serde(flatten, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Seconds, for a `Retry-After` header (1 for a code that [`Code::retries`]).
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
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        let status = code.status();
        Self {
            type_uri: code.type_uri(),
            title: status.canonical_reason().unwrap_or("Error"),
            status,
            detail: detail.into(),
            code,
            errors: Vec::new(),
            extra: serde_json::Map::new(),
            retry_after: code.retries().then_some(1),
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

    pub(crate) fn with(mut self, key: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.extra.insert(key.to_owned(), value);
        }
        self
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(Code::NotFound, detail)
    }

    /// A lookup service of an aggregate failed: the store is unreachable, nothing was written.
    fn lookup_failed(reason: &str) -> Self {
        tracing::error!(%reason, "lookup failed");
        Self::new(Code::Unavailable, "the event store is unreachable; retry later")
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(Code::MalformedRequest, detail)
    }

    /// A body field is invalid; `field` is its name, dotted for nested ones (`content.body`),
    /// with an index for an array's item (`members[2].member_id`: pointer `/members/2/member_id`).
    pub fn validation(field: &str, reason: impl Into<String>) -> Self {
        let path = field.replace('[', ".").replace(']', "");
        let pointer: String = path.split('.').flat_map(|part| ["/", part]).collect();
        Self::validation_at(pointer, reason).with("field", field)
    }

    /// A body field is invalid; `pointer` (RFC 6901) says where it is.
    pub fn validation_at(pointer: String, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let detail = if pointer.is_empty() { reason.clone() } else { format!("{pointer}: {reason}") };
        let mut error = Self::new(Code::Validation, detail);
        error.errors.push(FieldError { pointer: Some(pointer), parameter: None, detail: reason });
        error
    }

    /// A query or path parameter, or a header, is invalid.
    pub fn parameter(name: &str, reason: impl Into<String>) -> Self {
        let reason = reason.into();
        let mut error = Self::new(Code::Validation, format!("{name}: {reason}")).with("field", name);
        error.errors.push(FieldError { pointer: None, parameter: Some(name.to_owned()), detail: reason });
        error
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(Code::PayloadTooLarge, format!("the body is larger than {limit} bytes"))
    }

    /// The `Allow` header of the answer lists the methods the route has.
    pub fn method_not_allowed(method: &Method) -> Self {
        Self::new(
            Code::MethodNotAllowed,
            format!("{method} is not a method of this route; `Allow` lists those that are"),
        )
    }

    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error");
        Self::new(Code::Internal, "an internal error occurred; it has been logged")
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
                Self::new(Code::Unavailable, "the event store is unreachable; retry later")
            }
            StoreError::Conflict => Self::new(Code::Conflict, "the resource changed concurrently; retry"),
            other => Self::internal(&other),
        }
    }
}

/// A secret sealed with another key than this node's is `secretsKeyMismatch` (503: another
/// node, or this one once given the right key, answers it); one that does not open with this
/// node's key (altered) is an internal error, logged.
impl From<convo_webhooks::SealError> for ApiError {
    fn from(err: convo_webhooks::SealError) -> Self {
        match &err {
            convo_webhooks::SealError::WrongKey { sealed_with, this_node } => {
                tracing::error!(error = %err, "a secret sealed with another secrets key");
                let detail = format!(
                    "this node cannot open a secret this request needs: it was sealed with secrets key {sealed_with}, \
                     and this node has key {this_node}; every node sharing the database needs the same CONVO_SECRETS_KEY"
                );
                Self::new(Code::SecretsKeyMismatch, detail)
                    .with("sealed_with_key", sealed_with)
                    .with("node_key", this_node)
            }
            _ => Self::internal(&err),
        }
    }
}

impl From<convo_webhooks::SecretError> for ApiError {
    fn from(err: convo_webhooks::SecretError) -> Self {
        match err {
            convo_webhooks::SecretError::Store(e) => e.into(),
            convo_webhooks::SecretError::Sealed(e) => e.into(),
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
            E::MessageDeleted(id) => Self::new(Code::MessageDeleted, detail).with("message_id", id),
            E::DuplicateMessage(id) => Self::new(Code::Conflict, detail).with("message_id", id),
            E::MessagingWindowClosed { actor, expired_at } => {
                let actor = match actor {
                    WindowActor::Agent => "AGENT",
                    WindowActor::Bot => "BOT",
                };
                let e = Self::new(Code::MessagingWindowClosed, detail).with("forActor", actor);
                match expired_at {
                    Some(at) => e.with("expiresAt", at),
                    None => e,
                }
            }
            E::InboxRequired => Self::new(Code::InboxRequired, detail),
            E::InboxNotFound(id) => Self::not_found(detail).with("inbox_id", id),
            E::UnsupportedChannel { channel, content } => {
                Self::new(Code::UnsupportedChannel, detail).with("channel", channel).with("content_type", content)
            }
            E::NotAGroup => Self::new(Code::NotAGroup, detail),
            E::GroupExists => Self::new(Code::Conflict, detail),
            E::GroupLeft => Self::new(Code::GroupLeft, detail),
            E::AnnounceOnly => Self::new(Code::AnnounceOnly, detail),
            E::ActivityOnly => Self::new(Code::ActivityOnly, detail),
            E::NotGroupAdmin => Self::new(Code::NotGroupAdmin, detail),
            E::CreatorProtected => Self::new(Code::CreatorProtected, detail),
            E::MentionNotMember(member) => Self::new(Code::MentionNotMember, detail).with("member_id", member),
            E::JoinApprovalRequired => Self::new(Code::JoinApprovalRequired, detail),
            E::InviteLinkRevoked => Self::new(Code::InviteLinkRevoked, detail),
            E::MemberNotFound(member) => Self::not_found(detail).with("member_id", member),
            E::JoinRequestNotFound(id) => Self::not_found(detail).with("request_id", id),
            E::AgentNotFound(agent) => Self::not_found(detail).with("agent_id", agent),
            E::AgentDeactivated(agent) => Self::new(Code::AgentDeactivated, detail).with("agent_id", agent),
            E::TeamNotFound(team) => Self::not_found(detail).with("team_id", team),
            E::Validation { field, reason } => Self::validation(&field, reason),
            E::Lookup(reason) => Self::lookup_failed(&reason),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(err: AgentError) -> Self {
        let detail = err.to_string();
        match err {
            AgentError::NotFound => Self::not_found(detail),
            AgentError::AlreadyExists => Self::new(Code::Conflict, detail),
            AgentError::Deactivated(agent) => Self::new(Code::AgentDeactivated, detail).with("agent_id", agent),
            AgentError::Validation { field, reason } => Self::validation(&field, reason),
        }
    }
}

impl From<TeamError> for ApiError {
    fn from(err: TeamError) -> Self {
        let detail = err.to_string();
        match err {
            TeamError::NotFound => Self::not_found(detail),
            TeamError::AlreadyExists => Self::new(Code::Conflict, detail),
            TeamError::AgentNotFound(agent) => Self::not_found(detail).with("agent_id", agent),
            TeamError::Validation { field, reason } => Self::validation(&field, reason),
            TeamError::Lookup(reason) => Self::lookup_failed(&reason),
        }
    }
}

impl From<InboxError> for ApiError {
    fn from(err: InboxError) -> Self {
        let detail = err.to_string();
        match err {
            InboxError::NotFound => Self::not_found(detail),
            InboxError::AlreadyExists => Self::new(Code::Conflict, detail),
            InboxError::Validation { field, reason } => Self::validation(&field, reason),
            InboxError::TeamNotFound(team) => Self::not_found(detail).with("team_id", team),
            InboxError::Lookup(reason) => Self::lookup_failed(&reason),
        }
    }
}

impl From<convo_domain::contact::ContactError> for ApiError {
    fn from(err: convo_domain::contact::ContactError) -> Self {
        use convo_domain::contact::ContactError;
        let detail = err.to_string();
        match err {
            ContactError::NotFound | ContactError::Merged { .. } => Self::not_found(detail),
            ContactError::AlreadyExists => Self::new(Code::Conflict, detail),
            ContactError::Validation { field, reason } => Self::validation(&field, reason),
            ContactError::Lookup(reason) => Self::lookup_failed(&reason),
        }
    }
}

impl From<convo_domain::attribute::AttributeError> for ApiError {
    fn from(err: convo_domain::attribute::AttributeError) -> Self {
        use convo_domain::attribute::AttributeError;
        let detail = err.to_string();
        match err {
            AttributeError::NotFound => Self::not_found(detail),
            AttributeError::AlreadyExists => Self::new(Code::Conflict, detail),
            AttributeError::Validation { field, reason } => Self::validation(&field, reason),
        }
    }
}

impl From<convo_domain::contact::ContactIdentityError> for ApiError {
    fn from(err: convo_domain::contact::ContactIdentityError) -> Self {
        use convo_domain::contact::ContactIdentityError;
        let detail = err.to_string();
        match err {
            ContactIdentityError::NotFound => Self::not_found(detail),
            ContactIdentityError::HeldByAnother { .. } => Self::new(Code::Conflict, detail),
        }
    }
}

impl From<std::convert::Infallible> for ApiError {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

impl<E: std::error::Error + Into<ApiError>> From<CommandError<E>> for ApiError {
    fn from(err: CommandError<E>) -> Self {
        match err {
            CommandError::Rejected(e) => e.into(),
            CommandError::Contended { .. } => Self::new(Code::Conflict, err.to_string()),
            CommandError::Store(e) => e.into(),
            CommandError::Unknown(e) => {
                tracing::error!(error = %e, "the connection failed while a command was committed");
                let mut unknown = Self::new(
                    Code::Unavailable,
                    "the event store failed while the command was being committed: it may have been written; \
                     retry with the same Idempotency-Key to learn which",
                );
                unknown.maybe_written = true;
                unknown
            }
            other => Self::internal(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    /// A code is answered under one name: its serde name is the table's.
    #[test]
    fn each_code_serializes_as_its_name_and_every_code_is_listed_once() {
        let mut names = std::collections::BTreeSet::new();
        for code in Code::ALL {
            assert_eq!(serde_json::to_value(code).expect("json"), code.name());
            assert!(names.insert(code.name()), "{} listed twice", code.name());
            assert!(code.status().is_client_error() || code.status().is_server_error(), "{}", code.name());
        }
    }
}
