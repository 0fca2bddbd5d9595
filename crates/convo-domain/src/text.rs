//! The free-text inputs the domain checks, as JSON Schema components, so that the OpenAPI
//! document says exactly what a command accepts. Only their schemas are used: fields stay
//! `String` and refer to these with `#[schema(value_type = ...)]`.
//!
//! "Not blank" is the rule of `str::trim().is_empty()`: at least one character that is not
//! Unicode `White_Space` (`char::is_whitespace`). The pattern spells those characters out rather
//! than `\S`, which regex engines read differently (ASCII only, or ECMAScript's own set).

/// An id the domain checks (`agent_id`, `team_id`, `user_id`, a contact or group id, a failure
/// code, an inbox name): 1 to 200 characters, not blank.
#[derive(utoipa::ToSchema)]
#[schema(
    min_length = 1,
    max_length = 200,
    pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)]
#[allow(dead_code)] // only its schema is used
pub struct Id(String);

/// Text that must not be blank: at least one character that is not whitespace.
#[derive(utoipa::ToSchema)]
#[schema(min_length = 1, pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
#[allow(dead_code)] // only its schema is used
pub struct NotBlank(String);

/// The body of a text message: 1 to 4096 characters (WhatsApp's limit), not blank.
#[derive(utoipa::ToSchema)]
#[schema(
    min_length = 1,
    max_length = 4096,
    pattern = r"[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)]
#[allow(dead_code)] // only its schema is used
pub struct MessageText(String);

/// A contact's tag: one word of 1 to 64 characters, none of them whitespace or a control
/// character (`vip`, `billing-2026`); kept in lower case.
#[derive(utoipa::ToSchema)]
#[schema(
    min_length = 1,
    max_length = 64,
    pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+$"
)]
#[allow(dead_code)] // only its schema is used
pub struct Tag(String);

/// An agent's id, the caller's own user id for them: 1 to 200 characters, none of them
/// whitespace or a control character.
#[derive(utoipa::ToSchema)]
#[schema(
    min_length = 1,
    max_length = 200,
    pattern = r"^[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+$"
)]
#[allow(dead_code)] // only its schema is used
pub struct AgentId(String);

/// An agent's email: `local@domain`, one `@`, no whitespace inside, at most 254 characters;
/// surrounding whitespace is trimmed, and blank is none. Kept in lower case.
#[derive(utoipa::ToSchema)]
#[schema(
    max_length = 254,
    pattern = r"^[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*([^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+@[^@\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+)?[\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$"
)]
#[allow(dead_code)] // only its schema is used
pub struct Email(String);

/// A contact's avatar URL: `http://` or `https://` and at least one character after it, none of
/// them whitespace or a control character, at most 2048 characters; empty for none.
#[derive(utoipa::ToSchema)]
#[schema(
    max_length = 2048,
    pattern = r"^(https?://[^\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\x00-\x1f\x7f-\x9f]+)?$"
)]
#[allow(dead_code)] // only its schema is used
pub struct AvatarUrl(String);

/// A contact's custom attributes, by key: at most 100, each key 1 to 64 characters of `a-z`,
/// `0-9` and `_`, each value any JSON (`null` removes one where a change takes it). Written out
/// by hand: the derive has no way to say what the keys may be.
#[allow(dead_code)] // only its schema is used
pub struct Attributes;

impl utoipa::ToSchema for Attributes {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Attributes")
    }
}

impl utoipa::PartialSchema for Attributes {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let key = ObjectBuilder::new().schema_type(Type::String).pattern(Some("^[a-z0-9_]{1,64}$"));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property_names(Some(key))
            .max_properties(Some(crate::contact::MAX_ATTRIBUTES))
            .into()
    }
}

#[cfg(test)]
mod tests {
    /// The pattern's characters are exactly the ones `char::is_whitespace` (and so `trim`) skips.
    #[test]
    fn the_not_blank_pattern_lists_exactly_the_whitespace_that_trim_removes() {
        let listed: Vec<char> = ['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\u{85}', '\u{a0}', '\u{1680}']
            .into_iter()
            .chain('\u{2000}'..='\u{200a}')
            .chain(['\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}'])
            .collect();
        let whitespace: Vec<char> = (0..=0x10ffff).filter_map(char::from_u32).filter(|c| c.is_whitespace()).collect();
        assert_eq!(listed, whitespace);
    }

    /// The lengths in the schemas are the ones the checks use.
    #[test]
    fn the_lengths_are_the_domains() {
        use utoipa::PartialSchema;
        let max = |schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
            serde_json::to_value(schema).expect("json")["maxLength"].as_u64()
        };
        let id = max(super::Id::schema());
        assert_eq!(id, Some(crate::conversation::MAX_ID_CHARS as u64));
        assert_eq!(id, Some(crate::inbox::MAX_INBOX_NAME_CHARS as u64));
        assert_eq!(max(super::MessageText::schema()), Some(crate::message::MAX_TEXT_CHARS as u64));
    }
}
