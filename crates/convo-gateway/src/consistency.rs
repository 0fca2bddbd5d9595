//! Reading your own writes. A command answers the `position` it produced; a query answered from
//! read models takes it back as `min_position` (or the `X-Convo-Min-Position` header) and waits,
//! bounded, until the read models it reads have folded the log that far. [`ReadQuery`] takes the
//! token out of such a query's parameters, [`MinPosition::wait`] waits on the models a handler
//! names (only it knows which: a list of conversations filtered by unread waits on one more).

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use convo_store::{Backend, ProjectionStatus};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::{KnownFormat, ObjectBuilder, Required, SchemaFormat, Type};

use crate::error::Code;
use crate::extract::{QueryParams, params, query_pairs};
use crate::{ApiError, AppState};

/// The header carrying a consistency token, as an alternative to the `min_position` parameter.
pub const MIN_POSITION_HEADER: &str = "x-convo-min-position";

/// The consistency token of a query: a global position, and the parameter or header it came in
/// (which a refusal names).
#[derive(Debug, Clone, Copy)]
pub struct MinPosition(Option<(i64, &'static str)>);

impl MinPosition {
    /// Read from the `min_position` parameter (its value, when given), else the header; a
    /// malformed or negative one in either is 422 naming it.
    fn read(parameter: Option<&str>, headers: &HeaderMap) -> Result<Self, ApiError> {
        let position = |text: &str, field: &'static str| {
            text.parse()
                .ok()
                .filter(|p: &i64| *p >= 0)
                .map(|p| (p, field))
                .ok_or_else(|| ApiError::parameter(field, "must be a position: an integer, 0 or more"))
        };
        let header = headers.get(MIN_POSITION_HEADER);
        let header =
            header.map(|v| position(v.to_str().unwrap_or_default().trim(), MIN_POSITION_HEADER)).transpose()?;
        let parameter = parameter.map(|text| position(text, "min_position")).transpose()?;
        Ok(Self(parameter.or(header)))
    }

    /// This token, or `position` (named `field`) when that is further: membership at a position
    /// needs the read model to have folded up to it.
    #[must_use]
    pub fn at_least(self, position: Option<i64>, field: &'static str) -> Self {
        match (self.0, position) {
            (Some((token, _)), Some(p)) if p > token => Self(Some((p, field))),
            (None, Some(p)) => Self(Some((p, field))),
            _ => self,
        }
    }

    /// Waits until every read model in `models` has folded the log up to the token. A position
    /// beyond the log's head is 422 at once: no command answered it, so no wait would reach it.
    /// One the log has but a read model does not reach in time is 503 `notYetConsistent`; a
    /// stopped read model is 503 `readModelStopped`.
    pub async fn wait<B: Backend>(self, state: &AppState<B>, models: &[&ProjectionStatus]) -> Result<(), ApiError> {
        let Some((position, field)) = self.0 else { return Ok(()) };
        for model in models {
            if let Some(error) = model.error() {
                tracing::error!(projection = model.name, %error, "query on a stopped read model");
                return Err(ApiError::new(
                    Code::ReadModelStopped,
                    format!("the {} read model has stopped; see /readyz", model.name),
                ));
            }
        }
        // Only when there is something to wait for: the head is `max(position)`, one index lookup.
        if models.iter().any(|model| model.position() < position) {
            let head = state.engine.log.head().await?;
            if position > head {
                return Err(ApiError::parameter(
                    field,
                    format!(
                        "position {position} is beyond the log's head ({head}): pass a position a command answered"
                    ),
                ));
            }
        }
        for model in models {
            if !model.wait_for(position, state.read.consistency_wait).await {
                return Err(ApiError::new(
                    Code::NotYetConsistent,
                    format!("the {} read model has not reached position {position} yet; retry", model.name),
                ));
            }
        }
        Ok(())
    }
}

/// The parameters of a query answered from read models: its own `P` (unknown names and
/// malformed values are 422 `validation`) and its consistency token. A list's own parameters
/// (`ListQuery<L, ReadQuery<P>>`), or a query's whole query string.
pub struct ReadQuery<P = crate::extract::NoParams>(pub P, pub MinPosition);

impl<P: DeserializeOwned> QueryParams for ReadQuery<P> {
    fn from_query(query: &str, headers: &HeaderMap) -> Result<Self, ApiError> {
        let mut token = None;
        let mut own = Vec::new();
        for (name, value, segment) in query_pairs(query)? {
            if name != "min_position" {
                own.push(segment);
            } else if token.replace(value).is_some() {
                return Err(ApiError::parameter("min_position", "given more than once"));
            }
        }
        let token = MinPosition::read(token.as_deref(), headers)?;
        Ok(Self(params(&own.join("&"))?, token))
    }
}

impl<S: Send + Sync, P: DeserializeOwned> FromRequestParts<S> for ReadQuery<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Self::from_query(parts.uri.query().unwrap_or_default(), &parts.headers)
    }
}

/// `P`'s parameters, `min_position` and its header, as the document states them.
impl<P: IntoParams> IntoParams for ReadQuery<P> {
    fn into_params(parameter_in: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let position = || {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                .minimum(Some(0))
        };
        let parameter = |name: &str, at: ParameterIn, description: &str| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(at)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(position()))
                .build()
        };
        let mut parameters = P::into_params(parameter_in);
        parameters.push(parameter(
            "min_position",
            ParameterIn::Query,
            "Consistency token: wait (bounded) until the read models reach this global position, e.g. a \
             command's `position`; one beyond the log's head is 422. The `X-Convo-Min-Position` header is \
             an alternative.",
        ));
        parameters.push(parameter(
            MIN_POSITION_HEADER,
            ParameterIn::Header,
            "The `min_position` parameter, as a header.",
        ));
        parameters
    }
}

/// A parameter that must be 0 or more (a position or a sequence).
pub(crate) fn not_negative(field: &str, value: Option<i64>) -> Result<Option<i64>, ApiError> {
    match value {
        Some(v) if v < 0 => Err(ApiError::parameter(field, "must be 0 or more")),
        other => Ok(other),
    }
}
