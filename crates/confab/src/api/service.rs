//! Health, readiness, metrics and the API's own description.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use utoipa::OpenApi;

use super::ApiDoc;
use crate::app::AppState;
use crate::auth::extract::bearer_token;
use crate::error::Error;
use crate::telemetry;

/// Up while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database (and, in a cluster, Redis) answers; 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "Ready"), (status = 503, description = "A dependency is down")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let timeout = std::time::Duration::from_secs(2);
    let database_ok = match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            false
        }
        Err(_) => false,
    };
    // Without Redis a node still serves its own sockets and REST, but not as
    // part of the cluster: degraded, and not ready (the contract).
    let backplane_ok = state.cluster.as_ref().map(|cluster| cluster.is_connected());
    let label = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = match (database_ok, backplane_ok) {
        (false, _) => "unavailable",
        (true, Some(false)) => "degraded",
        (true, _) => "ok",
    };
    let mut body = serde_json::json!({ "status": status, "database": label(database_ok) });
    if let Some(ok) = backplane_ok {
        body["backplane"] = label(ok).into();
    }
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

/// Prometheus text exposition. With `metrics_token` set, only for
/// `Authorization: Bearer <metrics_token>`.
#[utoipa::path(get, path = "/metrics", tag = "service",
    responses((status = 200, description = "Prometheus text", content_type = "text/plain"),
        (status = 401, description = "metrics_token is set and was not given", body = super::ErrorBody)))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse, Error> {
    if let Some(expected) = &state.config.metrics_token {
        let given = bearer_token(&headers).ok().flatten().unwrap_or_default();
        // Compared in constant time: the token is a password.
        let same: bool = subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into();
        if !same {
            return Err(Error::not_authenticated());
        }
    }
    telemetry::record_pool(state.store.pool_stats());
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    ))
}

/// This document.
#[utoipa::path(get, path = "/api/schema/", tag = "service", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn schema() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
