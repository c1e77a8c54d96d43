//! Bad input of every kind gets a 4xx in DRF's shape, never a 5xx.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with};

#[tokio::test]
async fn unknown_paths_and_methods() {
    let app = spawn_app().await;
    let (status, body) = app.call(Method::GET, "/api/nope/", None, None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, json!({"detail": "Not found."})));
    let (status, body) = app.call(Method::PUT, "/api/chat/rooms/", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, json!({"detail": "Method \"PUT\" not allowed."}));
}

#[tokio::test]
async fn malformed_bodies() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let cases: [(&str, &str, StatusCode); 5] = [
        ("application/json", "{\"name\": ", StatusCode::BAD_REQUEST),
        ("application/json", "[1, 2]", StatusCode::BAD_REQUEST),
        ("application/json", "\"just a string\"", StatusCode::BAD_REQUEST),
        ("text/plain", "{\"name\": \"x\"}", StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (
            "application/x-www-form-urlencoded",
            "name=x",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
    ];
    for (content_type, body, expected) in cases {
        let response = app
            .client
            .post(app.url("/api/chat/rooms/"))
            .bearer_auth(&alice.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{content_type} {body}");
        let json: Value = response.json().await.unwrap();
        assert!(
            json.is_object()
                && json
                    .as_object()
                    .unwrap()
                    .values()
                    .all(|v| v.is_string() || v.is_array()),
            "{json}"
        );
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let app = spawn_app_with(|c| c.max_body_bytes = 4096).await;
    let alice = app.developer("alice").await;
    let (status, body) = app
        .post(
            "/api/chat/rooms/",
            &alice,
            json!({"name": "x", "description": "y".repeat(10_000)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body["detail"].is_string());
}

#[tokio::test]
async fn hostile_ids_and_strings_never_cause_5xx() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    for path in [
        "/api/chat/rooms/abc/",
        "/api/chat/rooms/99999999999999999999999/",
        "/api/chat/rooms/-1/",
        "/api/chat/rooms/0/",
        "/api/chat/rooms/1.5/join/",
        "/api/chat/rooms/%00/",
        &format!("/api/chat/rooms/{room}/members/abc/"),
    ] {
        for method in [Method::GET, Method::POST, Method::PATCH, Method::DELETE] {
            let (status, body) = app
                .call(method.clone(), path, Some(&alice.token), Some(json!({})))
                .await;
            assert!(status.is_client_error(), "{method} {path}: {status} {body}");
        }
    }
    for query in [
        "?page=abc",
        "?page=-3",
        "?page=99999999999999999999",
        "?page_size=-1",
        "?search=%00",
        "?search=%ff%fe",
    ] {
        let (status, body) = app.get(&format!("/api/chat/rooms/{query}"), &alice).await;
        assert!(
            status.is_success() || status.is_client_error(),
            "{query}: {status} {body}"
        );
    }
    let nasty = [
        "\u{0}",
        "x".repeat(10_000).as_str(),
        "'; DROP TABLE rooms; --",
        "😀🚀",
        "\u{202e}evil",
    ]
    .map(str::to_owned);
    for name in nasty {
        let (status, body) = app.post("/api/chat/rooms/", &alice, json!({"name": name})).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::BAD_REQUEST,
            "{status} {body}"
        );
        if status == StatusCode::CREATED {
            assert_eq!(body["name"], name.trim(), "stored and returned unchanged");
        }
    }
}
