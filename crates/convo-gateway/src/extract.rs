//! Request extractors whose rejections are problem+json, never axum's plain-text defaults.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::ApiError;
use crate::error::Code;

/// JSON body; malformed JSON is 400, a body of the wrong shape (or with a NUL in a string)
/// 422 naming the field, a wrong content type 415, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "expected a body with `Content-Type: application/json`",
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse(&bytes).map(Self)
    }
}

/// An optional JSON body: absent (no content type and no bytes) or `null` is `None`.
pub struct OptionalJson<T>(pub Option<T>);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let has_type = req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        let bytes = body_bytes(req, state).await?;
        if bytes.is_empty() && !has_type {
            return Ok(Self(None));
        }
        parse::<Option<T>>(&bytes).map(Self)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(Ok(value)) = headers.get(axum::http::header::CONTENT_TYPE).map(|v| v.to_str()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state).await.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(Code::PayloadTooLarge, e.body_text()),
        _ => ApiError::bad_request(e.body_text()),
    })
}

/// The one way a body becomes a command's input: NUL refused, then parsed with the path of
/// whatever does not fit, every object of the body's type read from a JSON object only.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    crate::input::refuse_nul_in_json(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(objects::Objects(&mut deserializer)).map_err(ApiError::from_json)?;
    deserializer.end().map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// The request's workspace: the one its API key belongs to.
pub struct Workspace(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for Workspace {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        crate::auth::principal(&parts.extensions).map(|key| Self(key.workspace_id))
    }
}

/// Path parameters; a malformed id is a 400 validation error.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e| ApiError::parameter("path", e.body_text()))
    }
}

/// Query-string parameters; unknown ones and malformed values are a 422 validation error.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e| ApiError::parameter("query", e.body_text()))
    }
}

/// What the parameters of a query string are read into once a list has taken its own from it
/// (`ListQuery<L, Q>`): [`NoParams`], or a read's `ReadQuery`.
pub trait QueryParams: Sized {
    /// From `query`, the query string's remaining segments as sent, and the request's headers.
    fn from_query(query: &str, headers: &HeaderMap) -> Result<Self, ApiError>;
}

/// The parameters of a query that has none of its own.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl QueryParams for NoParams {
    fn from_query(query: &str, _: &HeaderMap) -> Result<Self, ApiError> {
        params(query)
    }
}

/// `T` from a query string: unknown parameters and malformed values are 422 `validation`.
pub(crate) fn params<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|e| ApiError::parameter("query", format!("{e}")))
}

/// A query string's parameters in order, each with its name and value decoded beside the
/// segment as it was sent.
pub(crate) fn query_pairs(query: &str) -> Result<Vec<(String, String, &str)>, ApiError> {
    query
        .split('&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(segment)
                .ok()
                .and_then(|pairs| pairs.into_iter().next())
                .map(|(name, value)| (name, value, segment))
                .ok_or_else(|| ApiError::parameter("query", format!("cannot decode {segment:?}")))
        })
        .collect()
}

/// serde's derive reads a struct from a JSON object, and also from an array of its fields in
/// order: `[null, null]` would be a `RotateInviteLink`, and `{"settings": [true]}` a settings
/// patch. The document says objects, and no client means an array: [`Objects`] wraps a
/// deserializer so that a struct (or a struct variant), at any depth, refuses an array
/// ("invalid type: sequence, expected an object"). Everything else is passed through, each
/// nested value read through the wrapper again.
mod objects {
    use std::fmt;

    use serde::de::{
        DeserializeSeed, Deserializer, EnumAccess, Error, MapAccess, SeqAccess, Unexpected, VariantAccess, Visitor,
    };

    /// A deserializer whose structs are read from objects only.
    pub struct Objects<D>(pub D);

    /// The visitor of a value read through [`Objects`]: what it visits is wrapped too; a
    /// struct's (`object`) refuses a sequence.
    struct Wrap<V> {
        visitor: V,
        object: bool,
    }

    fn wrap<V>(visitor: V) -> Wrap<V> {
        Wrap { visitor, object: false }
    }

    fn object<V>(visitor: V) -> Wrap<V> {
        Wrap { visitor, object: true }
    }
    struct Seq<A>(A);
    struct Map<A>(A);
    struct Enum<A>(A);
    struct Variant<A>(A);
    struct Seed<S>(S);

    macro_rules! forward_deserialize {
        ($($method:ident)*) => {$(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method(wrap(visitor))
            }
        )*};
    }

    impl<'de, D: Deserializer<'de>> Deserializer<'de> for Objects<D> {
        type Error = D::Error;

        forward_deserialize! {
            deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
            deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
            deserialize_f32 deserialize_f64 deserialize_char deserialize_str deserialize_string deserialize_bytes
            deserialize_byte_buf deserialize_option deserialize_unit deserialize_seq deserialize_map
            deserialize_identifier deserialize_ignored_any
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_struct(name, fields, object(visitor))
        }

        fn deserialize_unit_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_unit_struct(name, wrap(visitor))
        }

        fn deserialize_newtype_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_newtype_struct(name, wrap(visitor))
        }

        fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple(len, wrap(visitor))
        }

        fn deserialize_tuple_struct<V: Visitor<'de>>(
            self,
            name: &'static str,
            len: usize,
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_tuple_struct(name, len, wrap(visitor))
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            name: &'static str,
            variants: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, D::Error> {
            self.0.deserialize_enum(name, variants, wrap(visitor))
        }

        fn is_human_readable(&self) -> bool {
            self.0.is_human_readable()
        }
    }

    macro_rules! forward_visit {
        ($($method:ident($ty:ty))*) => {$(
            fn $method<E: Error>(self, v: $ty) -> Result<V::Value, E> {
                self.visitor.$method(v)
            }
        )*};
    }

    impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
        type Value = V::Value;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            self.visitor.expecting(formatter)
        }

        forward_visit! {
            visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
            visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128) visit_f32(f32)
            visit_f64(f64) visit_char(char) visit_str(&str) visit_borrowed_str(&'de str) visit_string(String)
            visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
        }

        fn visit_none<E: Error>(self) -> Result<V::Value, E> {
            self.visitor.visit_none()
        }

        fn visit_unit<E: Error>(self) -> Result<V::Value, E> {
            self.visitor.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
            self.visitor.visit_some(Objects(deserializer))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
            self.visitor.visit_newtype_struct(Objects(deserializer))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
            if self.object {
                return Err(A::Error::invalid_type(Unexpected::Seq, &self));
            }
            self.visitor.visit_seq(Seq(seq))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
            self.visitor.visit_map(Map(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
            self.visitor.visit_enum(Enum(data))
        }
    }

    impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Seq<A> {
        type Error = A::Error;

        fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, A::Error> {
            self.0.next_element_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: MapAccess<'de>> MapAccess<'de> for Map<A> {
        type Error = A::Error;

        fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
            self.0.next_key_seed(Seed(seed))
        }

        fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
            self.0.next_value_seed(Seed(seed))
        }

        fn size_hint(&self) -> Option<usize> {
            self.0.size_hint()
        }
    }

    impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Enum<A> {
        type Error = A::Error;
        type Variant = Variant<A::Variant>;

        fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self::Variant), A::Error> {
            self.0.variant_seed(Seed(seed)).map(|(value, variant)| (value, Variant(variant)))
        }
    }

    impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Variant<A> {
        type Error = A::Error;

        fn unit_variant(self) -> Result<(), A::Error> {
            self.0.unit_variant()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
            self.0.newtype_variant_seed(Seed(seed))
        }

        fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
            self.0.tuple_variant(len, wrap(visitor))
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            fields: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, A::Error> {
            self.0.struct_variant(fields, object(visitor))
        }
    }

    impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<S> {
        type Value = S::Value;

        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
            self.0.deserialize(Objects(deserializer))
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::parse;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(default)]
        a: Option<u8>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Plain,
        Shaped { a: u8 },
    }

    fn error(json: &str) -> serde_json::Value {
        let err = parse::<Body>(json.as_bytes()).expect_err(json);
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{json}");
        serde_json::to_value(&err).expect("json")
    }

    #[test]
    fn an_object_is_read_from_an_object_at_any_depth() {
        let body: Body =
            parse(br#"{"inner": {"a": 1}, "list": [{"a": 2}, {}], "kind": {"shaped": {"a": 3}}}"#).expect("an object");
        assert_eq!(body.inner, Some(Inner { a: Some(1) }));
        assert_eq!(body.list, vec![Inner { a: Some(2) }, Inner { a: None }]);
        assert_eq!(body.kind, Some(Kind::Shaped { a: 3 }));
        let plain: Body = parse(br#"{"kind": "plain", "inner": null}"#).expect("a unit variant");
        assert_eq!(plain.kind, Some(Kind::Plain));
    }

    #[test]
    fn an_array_is_not_an_object_however_deep() {
        // serde's derive alone would take each of these as the fields in order.
        for (json, pointer) in [
            ("[null, null, null]", ""),
            ("[]", ""),
            (r#"{"inner": [7]}"#, "/inner"),
            (r#"{"list": [{"a": 1}, [2]]}"#, "/list/1"),
            (r#"{"kind": {"shaped": [3]}}"#, "/kind"),
        ] {
            let problem = error(json);
            assert_eq!(problem["code"], "validation", "{json}");
            assert_eq!(problem["errors"][0]["pointer"], pointer, "{json}: {problem}");
            let detail = problem["errors"][0]["detail"].as_str().unwrap_or_default();
            assert!(detail.contains("expected an object") || detail.contains("expected"), "{json}: {detail}");
        }
    }
}
