//! What every request passes before its handler: the per-user budget of
//! REST writes, the request timeout, and the headers every response carries.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use tracing::Instrument;

use crate::app::AppState;
use crate::auth::extract::bearer_token;
use crate::auth::jwt::TokenType;
use crate::error::Error;

/// Swagger UI's page: its own scripts and styles (it sets some inline), nothing foreign.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// POST, PATCH and DELETE under `/api/chat/` spend the caller's
/// `rest_write_rate` budget: 429 with `Retry-After` beyond it. Keyed by the
/// token's user (checked without the database: the handler authenticates
/// properly); a request without a valid token goes on to get its 401.
pub async fn throttle_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let writes = matches!(
        *request.method(),
        Method::POST | Method::PATCH | Method::DELETE | Method::PUT
    );
    if writes && request.uri().path().starts_with("/api/chat") {
        let user = bearer_token(request.headers())
            .ok()
            .flatten()
            .and_then(|token| state.jwt.verify(token, Some(TokenType::Access)).ok())
            .map(|claims| claims.user_id);
        if let Some(user) = user {
            if let Err(retry_after_secs) = state.limits.rest_writes.check(&user) {
                return Error::RateLimited { retry_after_secs }.into_response();
            }
        }
    }
    next.run(request).await
}

/// A write runs to its end on its own task, even when its client hangs up:
/// hyper drops a request's future when the connection closes, and a use case
/// dropped between its commit and its notices (removing a member, then
/// disconnecting their sockets) would leave the sockets live. Reads need not.
pub async fn detach_writes(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    match tokio::spawn(next.run(request).in_current_span()).await {
        Ok(response) => response,
        Err(_) => Error::internal(anyhow::anyhow!("handler panicked")).into_response(),
    }
}

/// A REST request that takes longer than `http_request_timeout` (its body
/// included; an upload, `files_upload_timeout`) is answered 503. A WebSocket handshake answers at once, so the
/// socket it opens is not under this timer.
pub async fn time_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // An upload's body is as long as the file: it has a budget of its own.
    let upload = request.method() == Method::POST && request.uri().path().ends_with("/files");
    let seconds = if upload {
        state.config.files_upload_timeout
    } else {
        state.config.http_request_timeout
    };
    let limit = Duration::from_secs(seconds);
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            metrics::counter!("http_request_timeouts_total").increment(1);
            Error::Unavailable("the request took too long".into()).into_response()
        }
    }
}

/// `nosniff` on every response (a JSON error must never be read as HTML),
/// and a content security policy for the API docs' page.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let docs = request.uri().path().starts_with("/api/docs");
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if docs {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    response
}
