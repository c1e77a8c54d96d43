//! Health, readiness, metrics and the API's own description.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use utoipa::OpenApi;

use super::ApiDoc;
use crate::app::AppState;
use crate::telemetry;

/// Up while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "service", responses((status = 200, description = "Alive")))]
pub async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers; 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "service",
    responses((status = 200, description = "Ready"), (status = 503, description = "A dependency is down")))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let timeout = std::time::Duration::from_secs(2);
    match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ok", "database": "ok" })),
        ),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database unavailable");
            unavailable()
        }
        Err(_) => unavailable(),
    }
}

fn unavailable() -> (StatusCode, Json<serde_json::Value>) {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(serde_json::json!({ "status": "unavailable", "database": "unavailable" })),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "Prometheus text", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    telemetry::record_pool(state.store.pool_stats());
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/api/schema/", tag = "service", responses((status = 200, description = "OpenAPI 3 document")))]
pub async fn schema() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
