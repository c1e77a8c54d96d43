//! The one error type. Domain code returns [`Error`]; this module alone decides
//! how each kind looks on the wire, in Django REST Framework's shapes:
//!
//! - 400 `{"field": ["msg", ...]}` (validation) or `{"detail": "..."}`
//! - 401 `{"detail": ..., "code": ...}` with `WWW-Authenticate: Bearer realm="api"`
//! - 403 / 404 / 405 / 413 / 415 / 429 / 5xx `{"detail": "..."}`
//!
//! Internal errors are logged (inside the request's span, so with its request
//! id) and answered with a generic body: no SQL text or stack trace leaks.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Field name -> messages, as a DRF serializer reports them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A request body or query failed validation: 400 with per-field messages.
    #[error("invalid input: {0:?}")]
    Invalid(FieldErrors),
    /// A request that is well-formed but not acceptable: 400 `{"detail"}`.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Missing or bad credentials: 401. `code` is SimpleJWT's machine-readable
    /// code (`token_not_valid`), which clients use to decide to refresh.
    #[error("unauthorized: {detail}")]
    Unauthorized { detail: String, code: Option<&'static str> },
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Not found, or not visible to the caller: the two look the same on purpose.
    #[error("not found")]
    NotFound,
    /// DRF's answer to a `?page=` that is not a page.
    #[error("invalid page")]
    InvalidPage,
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    #[error("payload too large")]
    PayloadTooLarge,
    /// 413 with a detail of its own (a file over its limit, a quota).
    #[error("payload too large: {0}")]
    PayloadTooLargeBecause(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("rate limited, retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    /// A dependency (the database) is down; the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    /// A single-field validation error.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        Self::Invalid(errors)
    }

    pub fn forbidden() -> Self {
        Self::Forbidden("You do not have permission to perform this action.".into())
    }

    pub fn not_authenticated() -> Self {
        Self::Unauthorized {
            detail: "Authentication credentials were not provided.".into(),
            code: None,
        }
    }

    pub fn token_not_valid(detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            detail: detail.into(),
            code: Some("token_not_valid"),
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    pub fn status(&self) -> StatusCode {
        // Exhaustive on purpose: a new kind must choose its status here.
        match self {
            Error::Invalid(_) | Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::NotFound | Error::InvalidPage => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Error::PayloadTooLarge | Error::PayloadTooLargeBecause(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body a client sees.
    pub fn body(&self) -> serde_json::Value {
        match self {
            Error::Invalid(fields) => json!(fields),
            Error::BadRequest(detail) | Error::Forbidden(detail) => json!({ "detail": detail }),
            Error::Unauthorized {
                detail,
                code: Some(code),
            } => json!({ "detail": detail, "code": code }),
            Error::Unauthorized { detail, code: None } => json!({ "detail": detail }),
            Error::NotFound => json!({ "detail": "Not found." }),
            Error::InvalidPage => json!({ "detail": "Invalid page." }),
            Error::MethodNotAllowed(method) => {
                json!({ "detail": format!("Method \"{method}\" not allowed.") })
            }
            Error::PayloadTooLarge => json!({ "detail": "Request body is too large." }),
            Error::PayloadTooLargeBecause(detail) => json!({ "detail": detail }),
            Error::UnsupportedMediaType(media) => {
                json!({ "detail": format!("Unsupported media type \"{media}\" in request.") })
            }
            Error::RateLimited { retry_after_secs } => json!({
                "detail": format!("Request was throttled. Expected available in {retry_after_secs} seconds.")
            }),
            Error::Unavailable(_) => {
                json!({ "detail": "Service temporarily unavailable, try again later." })
            }
            Error::Internal(_) => json!({ "detail": "A server error occurred." }),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Internal(error) => tracing::error!(error = ?error, "internal error"),
            Error::Unavailable(reason) => tracing::warn!(%reason, "dependency unavailable"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            Error::Unauthorized { .. } => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                );
            }
            Error::RateLimited { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

impl From<sea_orm::DbErr> for Error {
    /// A database that cannot be reached is a 503 the client may retry; any
    /// other database error is a bug or a broken invariant: a logged 500.
    fn from(error: sea_orm::DbErr) -> Self {
        use sea_orm::sqlx::Error as SqlxError;
        use sea_orm::{DbErr, RuntimeErr};
        let unreachable = match &error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => match e {
                SqlxError::Io(_) | SqlxError::PoolTimedOut | SqlxError::PoolClosed | SqlxError::WorkerCrashed => true,
                SqlxError::Database(db) => is_retryable(db.as_ref()),
                _ => false,
            },
            _ => false,
        };
        if unreachable {
            Error::Unavailable(error.to_string())
        } else {
            Error::Internal(error.into())
        }
    }
}

/// Database errors that say "not now" rather than "never": the database
/// is busy, locked, out of space or connections, or chose this transaction
/// as a deadlock's victim. A retry may succeed.
fn is_retryable(error: &dyn sea_orm::sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else { return false };
    let backend = if error.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>().is_some() {
        Retryable::Sqlite
    } else if error
        .try_downcast_ref::<sea_orm::sqlx::mysql::MySqlDatabaseError>()
        .is_some()
    {
        Retryable::MySql
    } else {
        Retryable::Postgres
    };
    backend.says(&code)
}

#[derive(Clone, Copy)]
enum Retryable {
    Sqlite,
    MySql,
    Postgres,
}

impl Retryable {
    fn says(self, code: &str) -> bool {
        match self {
            // The extended result code; its low byte is the primary one:
            // BUSY, LOCKED, IOERR, FULL.
            Retryable::Sqlite => code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13)),
            // Too many connections, lock wait timeout, deadlock, disk full.
            Retryable::MySql => matches!(code, "1040" | "1205" | "1213" | "1021" | "1114"),
            // Serialization failure, deadlock, disk full, out of memory, too
            // many connections, shutting down.
            Retryable::Postgres => matches!(
                code,
                "40001" | "40P01" | "53100" | "53200" | "53300" | "57P01" | "57P02" | "57P03"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_follow_drf() {
        assert_eq!(
            Error::field("name", "This field is required.").body(),
            json!({"name": ["This field is required."]})
        );
        assert_eq!(Error::NotFound.body(), json!({"detail": "Not found."}));
        assert_eq!(
            Error::token_not_valid("Token is invalid or expired").body(),
            json!({"detail": "Token is invalid or expired", "code": "token_not_valid"})
        );
        let internal = Error::internal(anyhow::anyhow!("SELECT secret FROM users"));
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.body().to_string().contains("SELECT"));
    }

    #[test]
    fn busy_and_full_databases_are_retryable() {
        for code in ["5", "517", "6", "13", "778"] {
            assert!(Retryable::Sqlite.says(code), "{code}");
        }
        assert!(!Retryable::Sqlite.says("2067"), "a unique violation is final");
        assert!(Retryable::MySql.says("1213") && !Retryable::MySql.says("1062"));
        assert!(Retryable::Postgres.says("40P01") && !Retryable::Postgres.says("23505"));
    }

    #[test]
    fn unauthorized_carries_www_authenticate() {
        let response = Error::not_authenticated().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer realm=\"api\"");
    }
}
