//! The checks of a contact's inputs. Each refusal is a [`ContactError::Validation`] naming the
//! field as the API does: `name`, `avatar_url`, `identities`, `tags`, `attributes` (their
//! number) or `attributes.<key>` (one of them).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{
    ContactError, MAX_ATTRIBUTE_KEY_CHARS, MAX_ATTRIBUTES, MAX_AVATAR_URL_CHARS, MAX_CONTACT_NAME_CHARS,
    MAX_IDENTITIES, MAX_TAG_CHARS, MAX_TAGS,
};
use crate::Identity;

/// A tag in its one canonical spelling: 1 to [`MAX_TAG_CHARS`] characters, none of them
/// whitespace (a tag is one word: `vip`, `billing-2026`) or a control character, kept in lower
/// case: `VIP` and `vip` are the same tag. (`text::Tag` is its schema, exactly this rule.)
pub fn canonical_tag(tag: &str) -> Result<String, ContactError> {
    let chars = tag.chars().count();
    if chars == 0 || chars > MAX_TAG_CHARS || tag.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ContactError::validation(
            "tags",
            format!("each tag must be 1 to {MAX_TAG_CHARS} characters, without spaces or control characters"),
        ));
    }
    Ok(tag.to_lowercase())
}

/// A name of at most [`MAX_CONTACT_NAME_CHARS`] characters as given (the schema's
/// `maxLength`), kept trimmed: none when blank.
pub(super) fn name(name: Option<String>) -> Result<Option<String>, ContactError> {
    if name.as_deref().is_some_and(|n| n.chars().count() > MAX_CONTACT_NAME_CHARS) {
        return Err(ContactError::validation(
            "name",
            format!("must be 1 to {MAX_CONTACT_NAME_CHARS} characters (blank for none)"),
        ));
    }
    Ok(name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned))
}

/// An avatar URL: none when empty, else `http://` or `https://` and something after it, without
/// whitespace or control characters, at most [`MAX_AVATAR_URL_CHARS`] characters
/// (`text::AvatarUrl` is its schema, exactly this rule). Only its shape is checked; nothing here
/// fetches it.
pub(super) fn avatar_url(url: Option<String>) -> Result<Option<String>, ContactError> {
    let Some(url) = url.as_deref().filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let fits = rest.is_some_and(|r| !r.is_empty())
        && url.chars().count() <= MAX_AVATAR_URL_CHARS
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !fits {
        return Err(ContactError::validation(
            "avatar_url",
            format!("must be an http:// or https:// URL of at most {MAX_AVATAR_URL_CHARS} characters, without spaces"),
        ));
    }
    Ok(Some(url.to_owned()))
}

/// Identities sorted, each once, at most [`MAX_IDENTITIES`] of them.
pub(super) fn identities(mut identities: Vec<Identity>) -> Result<Vec<Identity>, ContactError> {
    identities.sort();
    identities.dedup();
    at_most("identities", identities.len(), MAX_IDENTITIES)?;
    Ok(identities)
}

/// Tags in their canonical spelling, sorted, each once, at most [`MAX_TAGS`] of them.
pub(super) fn tags(tags: Vec<String>) -> Result<Vec<String>, ContactError> {
    let tags = tags.iter().map(|t| canonical_tag(t)).collect::<Result<BTreeSet<_>, _>>()?;
    at_most("tags", tags.len(), MAX_TAGS)?;
    Ok(tags.into_iter().collect())
}

/// Attributes with valid keys, at most [`MAX_ATTRIBUTES`] of them; a `null` one is none.
pub(super) fn attributes(mut attributes: BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, ContactError> {
    for key in attributes.keys() {
        attribute_key(key)?;
    }
    attributes.retain(|_, value| !value.is_null());
    at_most("attributes", attributes.len(), MAX_ATTRIBUTES)?;
    Ok(attributes)
}

/// An attribute key: 1 to [`MAX_ATTRIBUTE_KEY_CHARS`] characters of `a-z`, `0-9` and `_`.
pub(super) fn attribute_key(key: &str) -> Result<(), ContactError> {
    let fits = (1..=MAX_ATTRIBUTE_KEY_CHARS).contains(&key.len())
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !fits {
        return Err(ContactError::validation(
            format!("attributes.{key}"),
            format!("a key must be 1 to {MAX_ATTRIBUTE_KEY_CHARS} characters of a-z, 0-9 and _"),
        ));
    }
    Ok(())
}

/// Refuses `count` of `field` beyond `max`: a contact's lists stay bounded.
pub(super) fn at_most(field: &str, count: usize, max: usize) -> Result<(), ContactError> {
    if count > max {
        return Err(ContactError::validation(field, format!("a contact has at most {max} {field}")));
    }
    Ok(())
}
