//! Request input: the JSON object body, whose fields [`Fields`] then checks
//! one by one the way a DRF serializer does, and the `Query` and `Path`
//! extractors, whose rejections become our errors.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};

pub use crate::chat::fields::{Fields, Text};
use crate::error::Error;

/// `axum::extract::Query` answering bad query strings with a 400 in our shape.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(Error))]
pub struct Query<T>(pub T);

/// `axum::extract::Path`; a segment that is not a valid id is simply not found,
/// as in Django's `<int:pk>` routes.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(Error))]
pub struct Path<T>(pub T);

impl From<QueryRejection> for Error {
    fn from(rejection: QueryRejection) -> Self {
        Error::BadRequest(format!("Invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for Error {
    fn from(_: PathRejection) -> Self {
        Error::NotFound
    }
}

/// A JSON object body. An empty body reads as `{}`, as in DRF.
pub struct JsonObject(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let content_type = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Error::PayloadTooLarge
            } else {
                Error::BadRequest("Could not read the request body.".into())
            }
        })?;
        if bytes.is_empty() {
            return Ok(JsonObject(Map::new()));
        }
        if !is_json(&content_type) {
            return Err(Error::UnsupportedMediaType(content_type));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(other) => Err(Error::field(
                "non_field_errors",
                format!("Invalid data. Expected a dictionary, but got {}.", json_type(&other)),
            )),
            Err(e) => Err(Error::BadRequest(format!("JSON parse error - {e}"))),
        }
    }
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// The client's address, for per-address budgets: the peer's, or behind a
/// trusted proxy (`trust_forwarded_for`) the one the proxy saw. `None` when
/// unknown (a test calling the router without a connection).
pub struct ClientAddress(pub Option<std::net::IpAddr>);

impl FromRequestParts<crate::app::AppState> for ClientAddress {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::app::AppState,
    ) -> Result<Self, Error> {
        Ok(ClientAddress(crate::listener::client_address(
            parts,
            state.config.trust_forwarded_for,
        )))
    }
}
