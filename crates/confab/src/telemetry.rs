//! Logs, request ids and metrics.
//!
//! Logs go to stderr through `tracing`, filtered by `CONFAB_LOG` (an
//! `EnvFilter`, default `info`), as JSON when `CONFAB_LOG_FORMAT=json`.
//! Each request runs in a span with its request id, which is also returned in
//! the `X-Request-Id` header. Metrics are kept by the `metrics` facade and
//! rendered in Prometheus text at `/metrics`.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::store::PoolStats;

/// Seconds; tuned for an API whose requests take a few milliseconds.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// Installs the log subscriber; a second call (tests) is a no-op.
pub fn init_tracing() {
    let filter = EnvFilter::try_from_env("CONFAB_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,sea_orm_migration=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, not in files or pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if std::env::var("CONFAB_LOG_FORMAT").as_deref() == Ok("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .expect("bucket list is not empty")
                .install_recorder()
                .expect("no other metrics recorder is installed")
        })
        .clone()
}

/// Counts requests by route and status and records their latency.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..2]).record(started.elapsed().as_secs_f64());
    response
}

/// The method as a label: the methods we route, else `other`. The method is
/// any token a client sends (`curl -X M1`...): as a label it would let
/// anyone create series without end.
fn method_label(method: &axum::http::Method) -> String {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ];
    if known.contains(method) {
        method.as_str().to_owned()
    } else {
        "other".to_owned()
    }
}

/// Drains histogram samples into their buckets now and then: without it
/// they pile up in memory until someone scrapes `/metrics`.
pub async fn keep_metrics_small(handle: PrometheusHandle) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        every.tick().await;
        handle.run_upkeep();
    }
}

/// Database pool use, sampled at scrape time.
pub fn record_pool(stats: PoolStats) {
    metrics::gauge!("db_pool_connections", "state" => "open").set(stats.size as f64);
    metrics::gauge!("db_pool_connections", "state" => "idle").set(stats.idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(stats.size.saturating_sub(stats.idle) as f64);
}
