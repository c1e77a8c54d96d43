//! SimpleJWT-compatible token endpoints, `/api/auth/me/` and the developer gate.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_detail, spawn_app, spawn_app_with, JWT_SECRET, PASSWORD};

async fn obtain(app: &crate::helpers::TestApp, username: &str, password: &str) -> (StatusCode, serde_json::Value) {
    app.call(
        Method::POST,
        "/api/token/",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

#[tokio::test]
async fn obtain_refresh_verify_round_trip() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let (status, pair) = obtain(&app, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (access, refresh) = (pair["access"].as_str().unwrap(), pair["refresh"].as_str().unwrap());

    let (status, me) = app.call(Method::GET, "/api/auth/me/", Some(access), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({"id": alice.id, "username": "alice", "roles": ["developer"], "is_developer": true})
    );

    let (status, refreshed) = app
        .call(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": refresh})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(refreshed["access"].is_string());
    assert!(refreshed.get("refresh").is_none(), "no rotation by default");

    for token in [access, refresh] {
        let (status, body) = app
            .call(Method::POST, "/api/token/verify/", None, Some(json!({"token": token})))
            .await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
    }
}

#[tokio::test]
async fn usernames_are_case_insensitive_at_login() {
    let app = spawn_app().await;
    app.developer("Alice").await;
    let (status, _) = obtain(&app, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_credentials_are_401_for_known_and_unknown_users_alike() {
    let app = spawn_app().await;
    app.developer("alice").await;
    for (user, password) in [("alice", "wrong-password"), ("nobody", PASSWORD), ("alice", "")] {
        let (status, body) = obtain(&app, user, password).await;
        if password.is_empty() {
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["password"], json!(["This field may not be blank."]));
        } else {
            assert_detail(status, &body, StatusCode::UNAUTHORIZED);
            assert_eq!(body["detail"], "No active account found with the given credentials");
        }
    }
}

#[tokio::test]
async fn obtain_validates_fields() {
    let app = spawn_app().await;
    let (status, body) = app.call(Method::POST, "/api/token/", None, Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({"username": ["This field is required."], "password": ["This field is required."]})
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/token/",
            None,
            Some(json!({"username": {"a": 1}, "password": ["x"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["username"], json!(["Not a valid string."]));
}

#[tokio::test]
async fn deactivated_users_cannot_log_in_refresh_or_call() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    confab::auth::accounts::set_active(&app.state.store, "alice", false)
        .await
        .unwrap();

    let (status, _) = obtain(&app, "alice", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["refresh"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app.get("/api/auth/me/", &alice).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refresh_tokens_are_never_access_tokens_and_vice_versa() {
    let app = spawn_app().await;
    app.developer("alice").await;
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    let (status, body) = app
        .call(
            Method::GET,
            "/api/chat/rooms/",
            Some(pair["refresh"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_not_valid");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["access"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_not_valid");
}

#[tokio::test]
async fn rotation_returns_a_new_refresh_token_when_enabled() {
    let app = spawn_app_with(|c| c.rotate_refresh_tokens = true).await;
    app.developer("alice").await;
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/token/refresh/",
            None,
            Some(json!({"refresh": pair["refresh"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["refresh"].is_string());
}

#[tokio::test]
async fn bad_tokens_are_401_with_simplejwt_bodies() {
    let app = spawn_app().await;
    for header in ["Bearer garbage", "Bearer a.b.c", "Bearer", "Bearer a b"] {
        let response = app
            .client
            .get(app.url("/api/chat/rooms/"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"api\"");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["detail"].is_string() && body["code"].is_string(),
            "{header}: {body}"
        );
    }
    let (status, body) = app.call(Method::GET, "/api/chat/rooms/", None, None).await;
    assert_detail(status, &body, StatusCode::UNAUTHORIZED);
    assert_eq!(body["detail"], "Authentication credentials were not provided.");
    let (status, _) = app
        .call(Method::POST, "/api/token/verify/", None, Some(json!({"token": "nope"})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_tokens_are_rejected() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"token_type": "access", "exp": now - 10, "iat": now - 310, "jti": "00", "user_id": alice.id.to_string()});
    let token = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap();
    let (status, body) = app.call(Method::GET, "/api/auth/me/", Some(&token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "token_not_valid");
}

/// A token minted by a Django deployment sharing the signing key: SimpleJWT's
/// claim layout, `user_id` as a number (SimpleJWT < 5.5) or a string (5.5).
#[tokio::test]
async fn tokens_minted_by_django_with_the_same_secret_are_accepted() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let now = chrono::Utc::now().timestamp();
    for user_id in [json!(alice.id), json!(alice.id.to_string())] {
        let claims = json!({
            "token_type": "access", "exp": now + 300, "iat": now,
            "jti": "4f1c3a0e9b8d4c2a9e7f6b5a4c3d2e1f", "user_id": user_id
        });
        let token = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        )
        .unwrap();
        let (status, body) = app.call(Method::GET, "/api/auth/me/", Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["username"], "alice");
    }
}

#[tokio::test]
async fn non_developers_get_403_on_chat_but_can_read_me() {
    let app = spawn_app().await;
    let carol = app.user("carol", false).await;
    let (status, me) = app.get("/api/auth/me/", &carol).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["is_developer"], false);
    assert_eq!(me["roles"], json!([]));
    let (status, body) = app.get("/api/chat/rooms/", &carol).await;
    assert_detail(status, &body, StatusCode::FORBIDDEN);
    let (status, _) = app.get("/api/chat/users/", &carol).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
