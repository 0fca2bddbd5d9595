//! What every string the engine is given must not hold: the NUL character (U+0000).
//!
//! PostgreSQL cannot store it in text or jsonb, SQLite can; rather than two behaviours, the
//! gateway refuses it everywhere, before anything runs: a 422 `validation` naming the body
//! field (as a JSON pointer) or the parameter. Every other character (control characters,
//! 4-byte characters) is stored and answered back as given; a lone surrogate is not JSON a
//! string can hold, so it is a 400 like any malformed body.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::ApiError;

/// Refuses a request whose path or query string holds a NUL (`%00`; a raw NUL cannot be in a URI).
pub(crate) async fn refuse_nul_in_uri(request: Request, next: Next) -> Response {
    let uri = request.uri();
    if uri.path().contains("%00") {
        return ApiError::parameter("path", "must not contain the NUL character").into_response();
    }
    if let Some(pair) = uri.query().and_then(|q| q.split('&').find(|pair| pair.contains("%00"))) {
        let name = pair.split('=').next().unwrap_or(pair);
        let name = if name.contains("%00") { "query" } else { name };
        return ApiError::parameter(name, "must not contain the NUL character").into_response();
    }
    next.run(request).await
}

/// Refuses a JSON body with a NUL in any string or object key, naming where it is.
pub(crate) fn refuse_nul_in_json(body: &[u8]) -> Result<(), ApiError> {
    // In JSON a NUL can only be written `\u0000`; a body without those six bytes has none, so
    // the common case costs one scan. (`\\u0000`, an escaped backslash, is a false alarm the
    // walk below clears.)
    if !body.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(()); // malformed: the extractor says so
    };
    match nul_at(&value, &mut String::new()) {
        Some(pointer) => Err(ApiError::validation_at(pointer, "must not contain the NUL character")),
        None => Ok(()),
    }
}

/// The JSON pointer of the first string (or key) holding a NUL.
fn nul_at(value: &Value, pointer: &mut String) -> Option<String> {
    let len = pointer.len();
    let found = match value {
        Value::String(s) => s.contains('\0').then(|| pointer.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            pointer.truncate(len);
            pointer.push_str(&format!("/{i}"));
            nul_at(item, pointer)
        }),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            pointer.truncate(len);
            pointer.push('/');
            pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
            if key.contains('\0') { Some(pointer.clone()) } else { nul_at(item, pointer) }
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    };
    pointer.truncate(len);
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(body: &str) -> Option<String> {
        refuse_nul_in_json(body.as_bytes()).err().and_then(|e| e.errors[0].pointer.clone())
    }

    #[test]
    fn a_nul_anywhere_in_the_body_is_refused_with_its_pointer() {
        assert_eq!(pointer(r#"{"content": {"body": "a\u0000b"}}"#).as_deref(), Some("/content/body"));
        assert_eq!(pointer(r#"{"members": [{"id": "x"}, {"id": "\u0000"}]}"#).as_deref(), Some("/members/1/id"));
        assert_eq!(pointer(r#"{"params": {"a/b\u0000": 1}}"#).as_deref(), Some("/params/a~1b\u{0}"));
    }

    #[test]
    fn other_characters_and_an_escaped_backslash_pass() {
        assert_eq!(pointer(r#"{"body": "\u0001 \ud83d\ude00 \\u0000"}"#), None);
        assert_eq!(pointer(r#"{"body": "plain"}"#), None);
    }
}
