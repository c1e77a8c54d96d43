//! The test harness: [`spawn_app`] starts a server on `127.0.0.1:0` with a
//! fresh database of its own: SQLite in a temporary directory by default, or
//! a new PostgreSQL / MySQL database with `CONFAB_TEST_BACKEND=postgres|mysql`
//! (see `tests/common/testdb.rs`). [`TestApp`] creates users and sends
//! requests. Set `TEST_LOG=1` to see the server's logs.

use std::net::SocketAddr;

use confab::app::{AppState, Server};
use confab::auth::accounts;
use confab::auth::jwt::TokenType;
use confab::config::Config;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::testdb::{Backend, TestDatabase};

pub const PASSWORD: &str = "correct-horse-battery";
pub const JWT_SECRET: &str = "integration-test-secret-0123456789";

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// The server's own state, to create users the way the admin CLI does.
    pub state: AppState,
    _data_dir: tempfile::TempDir,
    // Field order matters: the server stops before its database is dropped.
    shutdown: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: i64,
    pub username: String,
    pub token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        confab::telemetry::init_tracing();
    }
    let data_dir = tempfile::tempdir().expect("temp dir");
    let backend = Backend::from_env();
    // The run asked for this backend explicitly: an unreachable server is a failure.
    let database = TestDatabase::create(backend).await.unwrap_or_else(|e| panic!("{e}"));
    let mut config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.path().to_path_buf(),
        database_url: database.url.clone(),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Config::default()
    };
    adjust(&mut config);
    let server = Server::build(config).await.expect("server starts");
    let addr = server.local_addr();
    let state = server.state().clone();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = rx.await;
    }));
    TestApp {
        addr,
        client: reqwest::Client::new(),
        state,
        _data_dir: data_dir,
        shutdown: Some(tx),
        _database: database,
    }
}

impl TestApp {
    /// Starts the server's graceful shutdown, as SIGTERM would.
    pub fn stop_server(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A user with a fresh access token; `developer` grants the chat role.
    pub async fn user(&self, username: &str, developer: bool) -> TestUser {
        let user = accounts::create_user(&self.state.store, username, PASSWORD, developer)
            .await
            .expect("user created");
        TestUser {
            id: user.id,
            username: user.username,
            token: self.state.jwt.issue(user.id, TokenType::Access),
        }
    }

    pub async fn developer(&self, username: &str) -> TestUser {
        self.user(username, true).await
    }

    /// Sends a request and returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} with a non-JSON body: {text}"))
        };
        (status, json)
    }

    pub async fn get(&self, path: &str, user: &TestUser) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(&user.token), None).await
    }

    pub async fn post(&self, path: &str, user: &TestUser, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(&user.token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, user: &TestUser, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(&user.token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, user: &TestUser) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, Some(&user.token), None).await
    }

    /// Creates a room as `owner` and returns its id.
    pub async fn room(&self, owner: &TestUser, name: &str, room_type: &str) -> i64 {
        let (status, body) = self
            .post(
                "/api/chat/rooms/",
                owner,
                serde_json::json!({"name": name, "room_type": room_type}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// `user` joins a public room; expects 200.
    pub async fn join(&self, room: i64, user: &TestUser) {
        let (status, body) = self
            .post(&format!("/api/chat/rooms/{room}/join/"), user, serde_json::json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Adds `member` to a room as `by`, then sets `role` if it is not `member`.
    pub async fn add_member(&self, room: i64, by: &TestUser, member: &TestUser, role: &str) {
        let path = format!("/api/chat/rooms/{room}/members/");
        let (status, body) = self.post(&path, by, serde_json::json!({"user_id": member.id})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        if role != "member" {
            let path = format!("/api/chat/rooms/{room}/members/{}/", member.id);
            let (status, body) = self.patch(&path, by, serde_json::json!({"role": role})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    }

    /// Notifications stored for a user: `(type, room id)`, oldest first.
    pub async fn notifications_of(&self, user: &TestUser) -> Vec<(String, Option<i64>)> {
        use confab::store::entities::notifications;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        notifications::Entity::find()
            .filter(notifications::Column::UserId.eq(user.id))
            .order_by_asc(notifications::Column::Id)
            .all(self.state.store.reader())
            .await
            .unwrap()
            .into_iter()
            .map(|n| (n.notification_type, n.room_id))
            .collect()
    }
}

/// A response as a bare client sees it.
pub struct RawResponse {
    pub status: StatusCode,
    pub www_authenticate: Option<String>,
    pub json: Value,
}

/// Sends a request with exactly this `Authorization` header (or none), for
/// the tests of the authentication gate.
pub async fn call_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    authorization: Option<&str>,
    body: Option<&Value>,
) -> RawResponse {
    let mut request = app.client.request(method, app.url(path));
    if let Some(authorization) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, authorization);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let json: Value = response.json().await.expect("a JSON body");
    RawResponse {
        status,
        www_authenticate,
        json,
    }
}

pub fn messages_path(room: i64) -> String {
    format!("/api/chat/rooms/{room}/messages/")
}

/// The `id` of an object in a response.
pub fn id_of(value: &Value) -> i64 {
    value["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("expected an object with an id, got {value}"))
}

/// Ids of a page's results, in order.
pub fn page_ids(page: &Value) -> Vec<i64> {
    page["results"]
        .as_array()
        .unwrap_or_else(|| panic!("expected a page, got {page}"))
        .iter()
        .map(id_of)
        .collect()
}

pub fn not_found() -> Value {
    serde_json::json!({"detail": "Not found."})
}

pub fn forbidden() -> Value {
    serde_json::json!({"detail": "You do not have permission to perform this action."})
}

/// Asserts an RFC 3339 UTC timestamp, e.g. `2024-01-01T12:00:00.123456Z`.
pub fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("expected a timestamp, got {value}"));
    assert!(text.ends_with('Z'), "not UTC: {text}");
    chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("not RFC 3339: {text}: {e}"));
}

/// Asserts a DRF-shaped error: `{"detail": "..."}`.
pub fn assert_detail(status: StatusCode, body: &Value, expected: StatusCode) {
    assert_eq!(status, expected, "{body}");
    assert!(body["detail"].is_string(), "expected a detail message, got {body}");
}
