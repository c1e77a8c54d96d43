//! Health, readiness, metrics, request ids and the OpenAPI document.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let (status, _) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.state.store.close().await;
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/chat/rooms/", "/nope"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let id = response
            .headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 36, "{path}: {id}");
    }
    // A caller's own request id is kept.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_report_the_pool() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    app.get("/api/chat/rooms/", &alice).await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/api/chat/rooms\",status=\"200\"}"),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("db_pool_connections{state=\"open\"}"), "{text}");
}

/// The document lists every endpoint of this server, with its bodies and
/// errors, and every documented path answers (none is a dead entry).
#[tokio::test]
async fn openapi_describes_every_endpoint() {
    let app = spawn_app().await;
    let (status, doc) = app.call(Method::GET, "/api/schema/", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for expected in [
        "/api/token/",
        "/api/token/refresh/",
        "/api/token/verify/",
        "/api/auth/me/",
        "/api/chat/users/",
        "/api/chat/rooms/",
        "/api/chat/rooms/{id}/",
        "/api/chat/rooms/{id}/join/",
        "/api/chat/rooms/{id}/leave/",
        "/api/chat/rooms/{id}/members/",
        "/api/chat/rooms/{id}/members/{user_id}/",
        "/api/chat/direct/",
        "/api/chat/messages/{id}/",
        "/api/chat/messages/{id}/reactions/",
        "/api/chat/messages/{id}/reactions/{emoji}/",
        "/api/chat/search/",
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/schema/",
    ] {
        assert!(paths.contains_key(expected), "missing {expected}");
    }
    // The socket frames, as schemas (OpenAPI has no paths for sockets).
    let schemas = &doc["components"]["schemas"];
    let server_frames = schemas["ServerEvent"].to_string();
    for kind in [
        "chat_message",
        "message_edited",
        "message_deleted",
        "reaction_added",
        "reaction_removed",
        "resync_required",
    ] {
        assert!(server_frames.contains(kind), "ServerEvent lacks {kind}");
    }
    assert!(server_frames.contains("change_seq"), "{server_frames}");
    let client_frames = schemas["ClientFrame"].to_string();
    for kind in ["chat_message", "typing", "mark_read", "ping"] {
        assert!(client_frames.contains(kind), "ClientFrame lacks {kind}");
    }
    let create = &paths["/api/chat/rooms/"]["post"];
    assert!(create["requestBody"].is_object());
    assert!(create["responses"]["400"].is_object());
    for (path, operations) in paths {
        let concrete = path.replace("{id}", "1").replace("{user_id}", "1");
        for method in operations.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, _) = raw_status(&app, method.clone(), &concrete).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                status != StatusCode::NOT_FOUND || path.contains("{id}"),
                "{method} {path} is not routed"
            );
        }
    }
}

async fn raw_status(app: &crate::helpers::TestApp, method: Method, path: &str) -> (StatusCode, String) {
    let response = app.client.request(method, app.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn docs_page_is_served_without_external_assets() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("swagger"), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from the internet"
    );
    let (status, _) = raw_status(&app, Method::GET, "/api/docs/swagger-ui.css").await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = raw_status(&app, Method::GET, "/api/docs/swagger-initializer.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("/api/docs/openapi.json"), "{body}");
    let spec: Value = app
        .client
        .get(app.url("/api/docs/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["paths"].is_object());
}
