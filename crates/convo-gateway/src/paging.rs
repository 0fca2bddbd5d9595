//! Paging, declared once for every list. [`ListQuery`] takes `limit` and `cursor` (a default
//! and a maximum per list; anything else is 422 `validation` naming the parameter) beside the
//! list's own parameters; [`Page`] is how every list answers, `items` and `next_cursor`; and
//! [`Paging::answer`] adds `Link: <…>; rel="next"` (RFC 8288) when another page follows, so a
//! client can page through any list the same way. Each list is one [`List`] below: its page
//! size and its cursor, which keeps the keyset its read-model query pages by.

use std::marker::PhantomData;

use axum::Json;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use convo_domain::attribute::AttributeModel;
use convo_read::{Cursor, JoinRequestCursor, MemberCursor};
use serde::Serialize;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::openapi::{KnownFormat, ObjectBuilder, Ref, Required, SchemaFormat, Type};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::ApiError;
use crate::extract::{NoParams, QueryParams, query_pairs};

/// One page of a list: how every list answers.
// In the document, `Page_<item's schema>`: one component per list, all alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    #[schema(schema_with = items_of::<T>)]
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page (the `Link` header is that request); null on the
    /// last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A page's items as references to their schema: the derive would inline the whole schema
/// of a generic item into every page, and a generated client wants the item's own type.
fn items_of<T: ToSchema>() -> ArrayBuilder {
    ArrayBuilder::new()
        .items(Ref::from_schema_name(T::name()))
        .description(Some("This page's items, in the list's order."))
}

/// An answer that is a page: a [`Page`], or one with context beside it (the page flattened in).
pub trait Paginated: Serialize {
    fn next_cursor(&self) -> Option<&str>;
}

impl<T: Serialize> Paginated for Page<T> {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }
}

/// A list of the API: how big its pages are and where one ends.
pub trait List {
    /// What its items are, for the parameters' descriptions: `Conversations`.
    const ITEMS: &'static str;
    const DEFAULT_LIMIT: u32 = 25;
    const MAX_LIMIT: u32 = 200;
    /// The pattern of its cursors, as the document states it: [`List::decode`] takes exactly
    /// the texts it matches.
    const CURSOR_PATTERN: &'static str;
    /// The description of `after`, for a list that also takes its cursor under that name (a
    /// position or a sequence, as the log's readers keep it).
    const AFTER: Option<&'static str> = None;
    /// Where a page ends: the sort key of its last item.
    type Cursor: Send;
    fn encode(cursor: &Self::Cursor) -> String;
    fn decode(text: &str) -> Option<Self::Cursor>;
}

/// A list's query string: its paging and its own parameters `Q`: [`NoParams`] for a list of
/// the log, a `ReadQuery` for a list of a read model (unknown parameters and malformed values
/// are 422 `validation`, as everywhere).
pub struct ListQuery<L: List, Q = NoParams>(pub Paging<L>, pub Q);

/// The `limit` and `cursor` of a list request, and what it takes to link to the next page.
pub struct Paging<L: List> {
    pub limit: u32,
    pub cursor: Option<L::Cursor>,
    /// The request's path, and its query without the cursor: the next page's link adds one.
    path: String,
    query: Vec<String>,
    list: PhantomData<fn() -> L>,
}

impl<S: Send + Sync, L: List, Q: QueryParams> FromRequestParts<S> for ListQuery<L, Q> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The URI the client asked for, which the link is relative to.
        let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |original| &original.0);
        let (mut limit, mut cursor, mut after) = (None, None, None);
        let (mut own, mut kept) = (Vec::new(), Vec::new());
        for (name, value, segment) in query_pairs(uri.query().unwrap_or_default())? {
            // The next page is this request with its cursor replaced: all else is kept as sent.
            if name != "cursor" && name != "after" {
                kept.push(segment.to_owned());
            }
            let slot = match name.as_str() {
                "limit" => &mut limit,
                "cursor" => &mut cursor,
                "after" if L::AFTER.is_some() => &mut after,
                _ => {
                    own.push(segment);
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(ApiError::parameter(&name, "given more than once"));
            }
        }
        let params = Q::from_query(&own.join("&"), &parts.headers)?;
        let limit = match limit {
            None => L::DEFAULT_LIMIT,
            Some(text) => decimal(&text)
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| (1..=L::MAX_LIMIT).contains(n))
                .ok_or_else(|| ApiError::parameter("limit", format!("must be 1 to {}", L::MAX_LIMIT)))?,
        };
        let cursor = match (cursor, after) {
            (Some(_), Some(_)) => return Err(ApiError::parameter("cursor", "give cursor or after, not both")),
            (Some(text), None) => {
                Some(L::decode(&text).ok_or_else(|| ApiError::parameter("cursor", "not a cursor this list returned"))?)
            }
            (None, Some(text)) => {
                Some(L::decode(&text).ok_or_else(|| ApiError::parameter("after", "must be an integer, 0 or more"))?)
            }
            (None, None) => None,
        };
        let paging = Paging { limit, cursor, path: uri.path().to_owned(), query: kept, list: PhantomData };
        Ok(Self(paging, params))
    }
}

impl<L: List> Paging<L> {
    /// How many rows to read for a page: one more than it holds, which says whether another
    /// page follows.
    pub fn fetch(&self) -> u32 {
        self.limit + 1
    }

    /// The page of `rows` read with [`Paging::fetch`]: at most `limit` of them, and when more
    /// followed, the cursor after the last one kept.
    pub fn page<T>(&self, mut rows: Vec<T>, cursor_of: impl FnOnce(&T) -> L::Cursor) -> Page<T> {
        let more = rows.len() > self.limit as usize;
        rows.truncate(self.limit as usize);
        let next_cursor = if more { rows.last().map(|row| L::encode(&cursor_of(row))) } else { None };
        Page { items: rows, next_cursor }
    }

    /// The answer to this request: `body` as JSON, with the link to the next page if any.
    pub fn answer<B: Paginated>(&self, body: B) -> Listed<B> {
        let link = body.next_cursor().and_then(|next| self.link(next));
        Listed { body, link }
    }

    /// `Link: <…>; rel="next"` for the page at `next`: this request's path and query with its
    /// cursor replaced (and `after`, which it stands for), relative to this request.
    fn link(&self, next: &str) -> Option<HeaderValue> {
        let cursor = serde_urlencoded::to_string([("cursor", next)]).ok()?;
        let query: Vec<&str> = self.query.iter().map(String::as_str).chain([cursor.as_str()]).collect();
        HeaderValue::from_str(&format!("<{}?{}>; rel=\"next\"", self.path, query.join("&"))).ok()
    }
}

/// What a list handler answers: the page as JSON, and its `Link` header.
pub struct Listed<B> {
    body: B,
    link: Option<HeaderValue>,
}

impl<B: Serialize> IntoResponse for Listed<B> {
    fn into_response(self) -> Response {
        let mut response = Json(self.body).into_response();
        if let Some(link) = self.link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// `limit` and `cursor` (and `after`) as the document states them, for `params(...)`.
impl<L: List> IntoParams for Paging<L> {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let limit = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(1))
            .maximum(Some(L::MAX_LIMIT))
            .default(Some(L::DEFAULT_LIMIT.into()));
        let cursor = ObjectBuilder::new().schema_type(Type::String).pattern(Some(L::CURSOR_PATTERN));
        let mut parameters = vec![
            query_parameter(
                "limit",
                &format!("{} per page: 1 to {}, default {}.", L::ITEMS, L::MAX_LIMIT, L::DEFAULT_LIMIT),
                limit,
            ),
            query_parameter(
                "cursor",
                "Where the page starts: the `next_cursor` of the previous page, as it was given (a cursor \
                 is opaque: it names a place in this list, with the same other parameters).",
                cursor,
            ),
        ];
        if let Some(description) = L::AFTER {
            let after = ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
                .maximum(Some(MAX_DECIMAL));
            parameters.push(query_parameter("after", description, after));
        }
        parameters
    }
}

fn query_parameter(name: &str, description: &str, schema: ObjectBuilder) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The largest [`decimal`]: 18 digits, so every such text fits an `i64`.
const MAX_DECIMAL: i64 = 999_999_999_999_999_999;

/// A non-negative integer of 1 to 18 decimal digits, else `None` (signs, spaces and the other
/// forms `str::parse` takes are refused, as the document refuses them).
fn decimal(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The cursor of a list that pages by a number (a position, a sequence, a message's seq).
const NUMBER_PATTERN: &str = "^[0-9]{1,18}$";

// The lists. Each keeps the keyset its query pages by (`convo-read/src/models/`).

/// `GET /v1/conversations`: the sort value and the id of the last conversation.
pub struct Conversations;

impl List for Conversations {
    const ITEMS: &'static str = "Conversations";
    const CURSOR_PATTERN: &'static str = "^c1[0-9a-fA-F]{48}$";
    type Cursor = Cursor;

    fn encode(cursor: &Cursor) -> String {
        cursor.encode()
    }

    fn decode(text: &str) -> Option<Cursor> {
        Cursor::decode(text)
    }
}

/// `GET /v1/conversations/{id}/messages`: the last message's seq (newer or older by `order`).
pub struct Messages;

impl List for Messages {
    const ITEMS: &'static str = "Messages";
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    type Cursor = i64;

    fn encode(seq: &i64) -> String {
        seq.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

/// `GET /v1/attribute-definitions`: the last definition's model and key.
pub struct AttributeDefinitions;

impl List for AttributeDefinitions {
    const ITEMS: &'static str = "Definitions";
    const CURSOR_PATTERN: &'static str = "^d1([0-9a-f]{2})+$";
    type Cursor = (AttributeModel, String);

    fn encode((model, key): &(AttributeModel, String)) -> String {
        hex_cursor("d1", &format!("{}:{key}", model.name()))
    }

    fn decode(text: &str) -> Option<(AttributeModel, String)> {
        let text = from_hex_cursor("d1", text)?;
        let (model, key) = text.split_once(':')?;
        let model = match model {
            "contact" => AttributeModel::Contact,
            "conversation" => AttributeModel::Conversation,
            _ => return None,
        };
        Some((model, key.to_owned()))
    }
}

/// `GET /v1/agents/{id}/mentions`: the last note's global position (older ones follow).
pub struct Mentions;

impl List for Mentions {
    const ITEMS: &'static str = "Mentions";
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    type Cursor = i64;

    fn encode(position: &i64) -> String {
        position.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

/// `GET /v1/conversations/{id}/response-times`: the last response's seq.
pub struct ResponseTimes;

impl List for ResponseTimes {
    const ITEMS: &'static str = "Responses";
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    type Cursor = i64;

    fn encode(seq: &i64) -> String {
        seq.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

/// `GET /v1/events`: the last event's global position, which `after` also takes.
pub struct Events;

impl List for Events {
    const ITEMS: &'static str = "Events";
    const DEFAULT_LIMIT: u32 = 100;
    const MAX_LIMIT: u32 = 1000;
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    const AFTER: Option<&'static str> = Some(
        "A global position: the page starts after it. The same as `cursor`, for a reader that keeps \
         the last position it saw (to follow the log past its last page); not with `cursor`.",
    );
    type Cursor = i64;

    fn encode(position: &i64) -> String {
        position.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

/// `GET /v1/conversations/{id}/events`: the last event's sequence, which `after` also takes.
pub struct ConversationEvents;

impl List for ConversationEvents {
    const ITEMS: &'static str = "Events";
    const DEFAULT_LIMIT: u32 = 100;
    const MAX_LIMIT: u32 = 1000;
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    const AFTER: Option<&'static str> = Some(
        "A sequence of the conversation: the page starts after it. The same as `cursor`, for a \
         reader that keeps the last sequence it saw; not with `cursor`.",
    );
    type Cursor = i64;

    fn encode(sequence: &i64) -> String {
        sequence.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

/// `GET /v1/conversations/{id}/members`: the members' order (self, admins, joining time, id).
pub struct Members;

impl List for Members {
    const ITEMS: &'static str = "Members";
    const CURSOR_PATTERN: &'static str = "^m1\\.[01]\\.[01]\\.-?[0-9]+\\.([0-9a-f]{2})+$";
    type Cursor = MemberCursor;

    fn encode(cursor: &MemberCursor) -> String {
        cursor.encode()
    }

    fn decode(text: &str) -> Option<MemberCursor> {
        MemberCursor::decode(text)
    }
}

/// `GET /v1/conversations/{id}/join-requests`: where the last request was asked, and its id.
pub struct JoinRequests;

impl List for JoinRequests {
    const ITEMS: &'static str = "Join requests";
    const CURSOR_PATTERN: &'static str = "^r1\\.[0-9]{1,18}\\.[0-9a-f]{32}$";
    type Cursor = JoinRequestCursor;

    fn encode(cursor: &JoinRequestCursor) -> String {
        cursor.encode()
    }

    fn decode(text: &str) -> Option<JoinRequestCursor> {
        JoinRequestCursor::decode(text)
    }
}

/// `GET /v1/inboxes`: the last inbox's id.
pub struct Inboxes;

impl List for Inboxes {
    const ITEMS: &'static str = "Inboxes";
    const CURSOR_PATTERN: &'static str = "^i1[0-9a-f]{32}$";
    type Cursor = Uuid;

    fn encode(inbox_id: &Uuid) -> String {
        format!("i1{}", inbox_id.simple())
    }

    fn decode(text: &str) -> Option<Uuid> {
        // Exactly what `encode` writes: `Uuid::try_parse` takes other forms too.
        let hex = text.strip_prefix("i1").filter(|h| h.len() == 32 && h.bytes().all(is_lower_hex))?;
        Uuid::try_parse(hex).ok()
    }
}

/// `GET /v1/contacts`: the last contact's id.
pub struct Contacts;

impl List for Contacts {
    const ITEMS: &'static str = "Contacts";
    const CURSOR_PATTERN: &'static str = "^c1[0-9a-f]{32}$";
    type Cursor = Uuid;

    fn encode(contact_id: &Uuid) -> String {
        format!("c1{}", contact_id.simple())
    }

    fn decode(text: &str) -> Option<Uuid> {
        // Exactly what `encode` writes: `Uuid::try_parse` takes other forms too.
        let hex = text.strip_prefix("c1").filter(|h| h.len() == 32 && h.bytes().all(is_lower_hex))?;
        Uuid::try_parse(hex).ok()
    }
}

/// `GET /v1/agents` and the other lists of agents: the last agent's id, its UTF-8 bytes in hex.
pub struct Agents;

impl List for Agents {
    const ITEMS: &'static str = "Agents";
    const CURSOR_PATTERN: &'static str = "^a1([0-9a-f]{2})+$";
    type Cursor = String;

    fn encode(agent_id: &String) -> String {
        hex_cursor("a1", agent_id)
    }

    fn decode(text: &str) -> Option<String> {
        from_hex_cursor("a1", text)
    }
}

/// `GET /v1/labels`: the last label, its UTF-8 bytes in hex.
pub struct Labels;

impl List for Labels {
    const ITEMS: &'static str = "Labels";
    const CURSOR_PATTERN: &'static str = "^l1([0-9a-f]{2})+$";
    type Cursor = String;

    fn encode(label: &String) -> String {
        hex_cursor("l1", label)
    }

    fn decode(text: &str) -> Option<String> {
        from_hex_cursor("l1", text)
    }
}

/// `prefix` and `text`'s UTF-8 bytes in lower-case hex: a cursor of a list keyed by a string.
fn hex_cursor(prefix: &str, text: &str) -> String {
    let mut cursor = String::with_capacity(prefix.len() + 2 * text.len());
    cursor.push_str(prefix);
    for byte in text.bytes() {
        cursor.push_str(&format!("{byte:02x}"));
    }
    cursor
}

/// The string [`hex_cursor`] wrote after `prefix`; `None` for anything else.
fn from_hex_cursor(prefix: &str, cursor: &str) -> Option<String> {
    let hex =
        cursor.strip_prefix(prefix).filter(|h| !h.is_empty() && h.len() % 2 == 0 && h.bytes().all(is_lower_hex))?;
    let bytes =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// `GET /v1/teams`: the last team's id.
pub struct Teams;

impl List for Teams {
    const ITEMS: &'static str = "Teams";
    const CURSOR_PATTERN: &'static str = "^t1[0-9a-f]{32}$";
    type Cursor = Uuid;

    fn encode(team_id: &Uuid) -> String {
        format!("t1{}", team_id.simple())
    }

    fn decode(text: &str) -> Option<Uuid> {
        // Exactly what `encode` writes: `Uuid::try_parse` takes other forms too.
        let hex = text.strip_prefix("t1").filter(|h| h.len() == 32 && h.bytes().all(is_lower_hex))?;
        Uuid::try_parse(hex).ok()
    }
}

/// `GET /v1/keys`: the last key's id.
pub struct Keys;

impl List for Keys {
    const ITEMS: &'static str = "Keys";
    const CURSOR_PATTERN: &'static str = "^k1[0-9a-f]{1,64}$";
    type Cursor = String;

    fn encode(key_id: &String) -> String {
        format!("k1{key_id}")
    }

    fn decode(text: &str) -> Option<String> {
        let id = text.strip_prefix("k1").filter(|id| (1..=64).contains(&id.len()) && id.bytes().all(is_lower_hex))?;
        Some(id.to_owned())
    }
}

/// `GET /v1/webhooks`: the last endpoint's id.
pub struct Webhooks;

impl List for Webhooks {
    const ITEMS: &'static str = "Webhooks";
    const CURSOR_PATTERN: &'static str = "^w1[0-9a-f]{32}$";
    type Cursor = Uuid;

    fn encode(endpoint_id: &Uuid) -> String {
        format!("w1{}", endpoint_id.simple())
    }

    fn decode(text: &str) -> Option<Uuid> {
        let hex = text.strip_prefix("w1").filter(|h| h.len() == 32 && h.bytes().all(is_lower_hex))?;
        Uuid::try_parse(hex).ok()
    }
}

/// `GET /v1/webhooks/attempts`: the last attempt's number in the attempt log (newest first,
/// so the next page is of older ones).
pub struct WebhookAttempts;

impl List for WebhookAttempts {
    const ITEMS: &'static str = "Attempts";
    const CURSOR_PATTERN: &'static str = NUMBER_PATTERN;
    type Cursor = i64;

    fn encode(attempt_id: &i64) -> String {
        attempt_id.to_string()
    }

    fn decode(text: &str) -> Option<i64> {
        decimal(text)
    }
}

fn is_lower_hex(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'a'..=b'f')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<L: List>(cursor: L::Cursor)
    where
        L::Cursor: PartialEq + std::fmt::Debug,
    {
        let text = L::encode(&cursor);
        assert_eq!(L::decode(&text), Some(cursor), "{text} decodes to what it encodes");
    }

    #[test]
    fn every_list_reads_back_the_cursors_it_writes() {
        round_trips::<Conversations>(Cursor { value: -5, conversation_id: Uuid::from_u128(7) });
        round_trips::<Messages>(0);
        round_trips::<ResponseTimes>(12);
        round_trips::<Events>(MAX_DECIMAL);
        round_trips::<ConversationEvents>(3);
        round_trips::<Members>(MemberCursor {
            self_rank: 1,
            role_rank: 0,
            joined_at_us: -3,
            member_id: "+4915100001".into(),
        });
        round_trips::<JoinRequests>(JoinRequestCursor { position: 9, request_id: Uuid::from_u128(3) });
        round_trips::<Inboxes>(Uuid::from_u128(0xfeed));
        round_trips::<Contacts>(Uuid::from_u128(0xc0));
        round_trips::<Teams>(Uuid::from_u128(0x7e));
        round_trips::<Agents>("agent-ada".to_owned());
        round_trips::<Agents>("ユーザー@x".to_owned());
        round_trips::<Labels>("billing-2026".to_owned());
        round_trips::<Mentions>(4_096);
        round_trips::<AttributeDefinitions>((AttributeModel::Conversation, "plan_2026".to_owned()));
        round_trips::<Keys>("0123456789abcdef".into());
        round_trips::<Webhooks>(Uuid::from_u128(0xbeef));
        round_trips::<WebhookAttempts>(42);
    }

    #[test]
    fn a_number_cursor_is_1_to_18_digits_and_nothing_else() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("007"), Some(7));
        for bad in ["", "-1", "+1", " 1", "1 ", "1.5", "1e3", "9999999999999999999", "0x10"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_inbox_or_key_cursor_is_only_the_form_it_is_written_in() {
        let id = Uuid::from_u128(0xfeed);
        for bad in [id.simple().to_string(), format!("i1{id}"), format!("i1{}", id.simple()).to_uppercase()] {
            assert_eq!(Inboxes::decode(&bad), None, "{bad}");
        }
        for bad in [id.simple().to_string(), format!("w1{id}"), format!("i1{}", id.simple())] {
            assert_eq!(Webhooks::decode(&bad), None, "{bad}");
        }
        for bad in ["k1", "K1ab", "k1AB", "k1a-b", "ab"] {
            assert_eq!(Keys::decode(bad), None, "{bad}");
        }
    }
}
