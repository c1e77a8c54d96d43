//! The hostile-input suite: hundreds of malformed, oversized, wrongly typed
//! and hostile inputs to every endpoint and frame type. Each must get a 4xx
//! (or an `error` frame) in the contract's shape, never a 5xx, and leave the
//! database exactly as it was.

use std::collections::BTreeMap;

use confab::store::entities::{blacklisted_tokens, messages, notifications, room_members, rooms, user_roles, users};
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use sea_orm::EntityTrait;
use serde_json::{json, Map, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{call_raw, messages_path, spawn_app_with, TestApp, TestUser};
use crate::ws::{connect_user_socket, established, next_json, send, Socket};

/// Every row of every table, as text: equal snapshots mean nothing changed.
async fn snapshot(app: &TestApp) -> BTreeMap<&'static str, String> {
    let db = app.state.store.reader();
    let mut tables = BTreeMap::new();
    tables.insert("users", format!("{:?}", users::Entity::find().all(db).await.unwrap()));
    tables.insert(
        "user_roles",
        format!("{:?}", user_roles::Entity::find().all(db).await.unwrap()),
    );
    tables.insert("rooms", format!("{:?}", rooms::Entity::find().all(db).await.unwrap()));
    tables.insert(
        "room_members",
        format!("{:?}", room_members::Entity::find().all(db).await.unwrap()),
    );
    tables.insert(
        "messages",
        format!("{:?}", messages::Entity::find().all(db).await.unwrap()),
    );
    tables.insert(
        "notifications",
        format!("{:?}", notifications::Entity::find().all(db).await.unwrap()),
    );
    tables.insert(
        "blacklisted_tokens",
        format!("{:?}", blacklisted_tokens::Entity::find().all(db).await.unwrap()),
    );
    tables
}

fn deep(depth: usize) -> Value {
    let text = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    // serde_json refuses to build it past its recursion limit; send it as text.
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// Values no field accepts: wrong types, blanks, NULs, oversized, huge numbers.
fn invalid_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(1.5),
        json!(-1e300),
        json!(18_446_744_073_709_551_615u64),
        json!(-9_223_372_036_854_775_808i64),
        json!(""),
        json!("   "),
        json!("\u{0}"),
        json!(format!("a{}b", '\u{0}')),
        json!("x".repeat(10_001)),
        json!("😀".repeat(6_000)),
        json!([]),
        json!(["a", 1]),
        json!({}),
        json!({"$gt": ""}),
        deep(64),
    ]
}

/// The invalid values for one field: [`invalid_values`] less what the field
/// accepts, plus [`hostile_strings`] where no free text is taken.
fn invalid_for(field: &str) -> Vec<Value> {
    let free_text = ["name", "description", "content", "client_id", "username", "password"].contains(&field);
    let mut values = invalid_values();
    // Optional fields take null, and blank where it means "none".
    if ["description", "reply_to", "client_id", "message_type"].contains(&field) {
        values.retain(|v| !v.is_null());
    }
    if ["description", "client_id"].contains(&field) {
        values.retain(|v| v.as_str().is_none_or(|s| !s.trim().is_empty()));
    }
    if field == "is_typing" {
        values.retain(|v| !v.is_boolean());
    }
    if free_text {
        // DRF's CharField takes numbers as their text: valid, not hostile.
        values.retain(|v| !v.is_number());
    } else {
        // Enums, ids and tokens take no free text at all.
        values.extend(hostile_strings().into_iter().map(Value::from));
    }
    values
}

/// Strings aimed at the layers below: SQL, HTML, paths, formats.
fn hostile_strings() -> Vec<&'static str> {
    vec![
        "' OR '1'='1",
        "1; DROP TABLE users; --",
        "1 UNION SELECT password_hash FROM users",
        "\") OR 1=1 --",
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "../../../../etc/passwd",
        "%00",
        "%s%s%s%n",
        "${jndi:ldap://x}",
        "{{7*7}}",
        "\u{202e}gnp.exe",
        "9223372036854775808",
        "-1",
        "0x10",
        "1e3",
        "NaN",
    ]
}

fn with_field(body: &Value, field: &str, value: Value) -> Value {
    let mut map: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    map.insert(field.to_owned(), value);
    Value::Object(map)
}

async fn request(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (StatusCode, String) {
    let mut request = app.client.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.header("Content-Type", "application/json").body(body);
    }
    let response = request.send().await.expect("request sent");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

/// A 4xx whose body is DRF-shaped: `{"detail": ...}` or field errors.
fn assert_refused(what: &str, status: StatusCode, body: &str) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    let json: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{what}: not JSON: {body}"));
    assert!(
        json.is_object() && !json.as_object().unwrap().is_empty(),
        "{what}: {body}"
    );
}

struct World {
    app: TestApp,
    alice: TestUser,
    room: i64,
    private: i64,
}

async fn world() -> World {
    let app = spawn_app_with(|c| {
        // Hundreds of requests from one user in a few seconds: this suite is
        // about their contents, not their rate (tests/api/hardening.rs is).
        c.rest_write_rate = 100_000;
        c.rest_write_burst = 100_000;
        c.ws_frame_rate = 100_000;
        c.ws_frame_burst = 100_000;
        c.login_rate_per_user = 100_000;
    })
    .await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let private = app.room(&alice, "secret", "private").await;
    app.add_member(private, &alice, &bob, "member").await;
    let (status, _) = app
        .post(&messages_path(room), &alice, json!({"content": "hello"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    World {
        app,
        alice,
        room,
        private,
    }
}

#[tokio::test]
async fn hostile_request_bodies_get_4xx_and_change_nothing() {
    let World {
        app,
        alice,
        room,
        private,
        ..
    } = world().await;
    let before = snapshot(&app).await;
    let writes = [
        (
            Method::POST,
            "/api/token/".to_owned(),
            json!({"username": "alice", "password": "wrong-password"}),
            vec!["username", "password"],
        ),
        (
            Method::POST,
            "/api/token/refresh/".into(),
            json!({"refresh": "x"}),
            vec!["refresh"],
        ),
        (
            Method::POST,
            "/api/token/verify/".into(),
            json!({"token": "x"}),
            vec!["token"],
        ),
        (
            Method::POST,
            "/api/token/blacklist/".into(),
            json!({"refresh": "x"}),
            vec!["refresh"],
        ),
        (
            Method::POST,
            "/api/chat/rooms/".into(),
            json!({"name": "n", "room_type": "public", "description": "d"}),
            vec!["name", "room_type", "description"],
        ),
        (
            Method::PATCH,
            format!("/api/chat/rooms/{room}/"),
            json!({"name": "n"}),
            vec!["name", "room_type", "description"],
        ),
        (
            Method::POST,
            format!("/api/chat/rooms/{private}/members/"),
            json!({"user_id": 1}),
            vec!["user_id", "username"],
        ),
        (
            Method::PATCH,
            format!("/api/chat/rooms/{private}/members/2/"),
            json!({"role": "moderator"}),
            vec!["role"],
        ),
        (
            Method::POST,
            messages_path(room),
            json!({"content": "hi"}),
            vec!["content", "message_type", "reply_to", "client_id"],
        ),
    ];
    let mut tried = 0;
    for (method, path, base, fields) in &writes {
        for field in fields {
            let values = invalid_for(field);
            for value in values {
                let body = with_field(base, field, value.clone()).to_string();
                let (status, text) = request(&app, method.clone(), path, Some(&alice.token), Some(body)).await;
                assert_refused(&format!("{method} {path} {field}={value}"), status, &text);
                tried += 1;
            }
        }
    }
    // Bodies that are not JSON objects at all, to every write route.
    let not_objects = [
        "[1,2,3]".to_owned(),
        "\"text\"".into(),
        "42".into(),
        "null".into(),
        "{".into(),
        "{\"a\":}".into(),
        "{\"content\": \"\\ud800\"}".into(),
        format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)),
        "\u{feff}{}x".into(),
    ];
    // (Routes that take no body, such as `.../read/`, ignore it, as DRF's actions do.)
    let routes: Vec<(Method, String)> = writes.iter().map(|(m, p, _, _)| (m.clone(), p.clone())).collect();
    for (method, path) in &routes {
        for body in &not_objects {
            let (status, text) = request(&app, method.clone(), path, Some(&alice.token), Some(body.clone())).await;
            let short: String = body.chars().take(40).collect();
            assert_refused(&format!("{method} {path} body {short}"), status, &text);
            tried += 1;
        }
    }
    assert!(tried > 300, "{tried}");
    println!("{tried} hostile request bodies refused");
    assert_eq!(snapshot(&app).await, before, "the database changed");
}

#[tokio::test]
async fn hostile_paths_queries_and_headers_never_5xx() {
    let World { app, alice, room, .. } = world().await;
    let before = snapshot(&app).await;
    let mut segments: Vec<String> = hostile_strings().iter().map(|s| urlencode(s)).collect();
    segments.extend(
        [
            "0",
            "-1",
            "9223372036854775807",
            "9223372036854775808",
            "1.5",
            "%00",
            "%ff%fe",
        ]
        .map(String::from),
    );
    let mut tried = 0;
    for segment in &segments {
        for (method, template) in [
            (Method::GET, "/api/chat/rooms/{}/"),
            (Method::PATCH, "/api/chat/rooms/{}/"),
            (Method::DELETE, "/api/chat/rooms/{}/"),
            (Method::POST, "/api/chat/rooms/{}/join/"),
            (Method::POST, "/api/chat/rooms/{}/leave/"),
            (Method::GET, "/api/chat/rooms/{}/members/"),
            (Method::DELETE, "/api/chat/rooms/1/members/{}/"),
            (Method::GET, "/api/chat/rooms/{}/messages/"),
            (Method::POST, "/api/chat/messages/{}/read/"),
            (Method::DELETE, "/api/chat/messages/{}/delete/"),
            (Method::POST, "/api/chat/notifications/{}/read/"),
        ] {
            let path = template.replace("{}", segment);
            let (status, text) = request(&app, method.clone(), &path, Some(&alice.token), Some("{}".into())).await;
            assert_refused(&format!("{method} {path}"), status, &text);
            tried += 1;
        }
        // Query parameters: a 200 (a search is just a search) or a 4xx, never a 5xx.
        for query in ["search", "page", "page_size", "before", "after", "limit"] {
            for path in [
                "/api/chat/rooms/",
                "/api/chat/users/",
                "/api/chat/notifications/",
                &messages_path(room),
            ] {
                let url = format!("{path}?{query}={segment}");
                let (status, text) = request(&app, Method::GET, &url, Some(&alice.token), None).await;
                assert!(
                    status.is_success() || status.is_client_error(),
                    "{url}: {status} {text}"
                );
                tried += 1;
            }
        }
    }
    // Authorization headers that are not bearer tokens of ours.
    for header in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer ' OR 1=1",
        "Bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX2lkIjoiMSJ9.",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "bearer x",
    ] {
        let response = call_raw(&app, Method::GET, "/api/chat/rooms/", Some(header), None).await;
        assert!(response.status.is_client_error(), "{header}: {}", response.status);
        tried += 1;
    }
    // Methods nobody routes, and content types we do not read.
    for method in ["PUT", "TRACE", "M1", "PROPFIND"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, text) = request(&app, method.clone(), "/api/chat/rooms/", Some(&alice.token), None).await;
        assert_refused(&format!("{method}"), status, &text);
    }
    let response = app
        .client
        .post(app.url("/api/chat/rooms/"))
        .bearer_auth(&alice.token)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("name=x&room_type=public")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(tried > 300, "{tried}");
    println!("{tried} hostile paths, queries and headers answered without a 5xx");
    assert_eq!(snapshot(&app).await, before, "the database changed");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The next frame that is not presence; `None` when the socket closed.
async fn next_answer(socket: &mut Socket) -> Value {
    loop {
        let frame = next_json(socket).await;
        if !["user_joined", "user_left"].contains(&frame["type"].as_str().unwrap_or_default()) {
            return frame;
        }
    }
}

#[tokio::test]
async fn hostile_frames_get_error_frames_and_change_nothing() {
    let World {
        app,
        alice,
        room,
        private,
        ..
    } = world().await;
    let before = snapshot(&app).await;
    let (mut socket, _) = established(&app, room, &alice).await;
    let mut user_socket = connect_user_socket(&app, &alice, "").await;
    assert_eq!(next_json(&mut user_socket).await["type"], "connection_established");

    let mut frames: Vec<String> = vec![
        "".into(),
        "null".into(),
        "[]".into(),
        "\"chat_message\"".into(),
        "{}".into(),
        "{\"type\": null}".into(),
        "{\"type\": 7}".into(),
        "{\"type\": \"DROP TABLE messages\"}".into(),
        "{\"type\": \"chat_message\"".into(),
        format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
        format!("{{\"type\": \"{}\"}}", "x".repeat(10_000)),
        "{\"type\": \"chat_message\", \"content\": \"\\ud800\"}".into(),
    ];
    for (kind, field) in [
        ("chat_message", "content"),
        ("chat_message", "message_type"),
        ("chat_message", "reply_to"),
        ("chat_message", "client_id"),
        ("typing", "is_typing"),
        ("mark_read", "message_id"),
    ] {
        for value in invalid_for(field) {
            let mut frame = json!({"type": kind, field: value});
            if kind == "chat_message" && field != "content" {
                frame["content"] = json!("ok");
            }
            frames.push(frame.to_string());
        }
    }
    for text in hostile_strings() {
        frames.push(json!({"type": text}).to_string());
    }
    for id in [0i64, -1, i64::MAX, i64::MIN] {
        frames.push(json!({"type": "mark_read", "message_id": id}).to_string());
        frames.push(json!({"type": "chat_message", "content": "ok", "reply_to": id}).to_string());
    }
    let mut tried = 0;
    for text in &frames {
        socket.send(Message::text(text.clone())).await.unwrap();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), next_answer(&mut socket))
            .await
            .unwrap_or_else(|_| panic!("no answer to {}", text.chars().take(80).collect::<String>()));
        assert_eq!(answer["type"], "error", "{text}: {answer}");
        assert!(answer["code"].is_string() && answer["detail"].is_string(), "{answer}");
        tried += 1;
    }
    // The user socket: frames naming rooms that are not the user's, or none.
    for room_value in [
        json!(null),
        json!("1"),
        json!(-1),
        json!(999_999),
        json!(private + 1000),
    ] {
        for kind in ["chat_message", "typing", "mark_read"] {
            let frame = json!({"type": kind, "room": room_value, "content": "x", "is_typing": true, "message_id": 1});
            send(&mut user_socket, frame.clone()).await;
            let answer = next_answer(&mut user_socket).await;
            assert_eq!(answer["type"], "error", "{frame}: {answer}");
            tried += 1;
        }
    }
    // Binary frames are refused; the socket stays open.
    socket.send(Message::binary(vec![0u8, 159, 146, 150])).await.unwrap();
    assert_eq!(next_answer(&mut socket).await["code"], "invalid_json");
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next_answer(&mut socket).await["type"], "pong");
    assert!(tried > 150, "{tried}");
    println!("{tried} hostile frames answered with error frames");

    // Invalid UTF-8 in a text frame is a protocol error: the socket closes, nothing 5xx.
    let raw = Frame::message(vec![0xff, 0xfe, b'{', b'}'], OpCode::Data(Data::Text), true);
    socket.send(Message::Frame(raw)).await.unwrap();
    let closed = loop {
        match socket.next().await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break None,
        }
    };
    assert!(matches!(closed, Some(1007 | 1008) | None), "{closed:?}");
    assert_eq!(snapshot(&app).await, before, "the database changed");
}

#[tokio::test]
async fn hostile_text_is_stored_verbatim_and_inert() {
    let World { app, alice, room, .. } = world().await;
    let users_before = snapshot(&app).await["users"].clone();
    for text in hostile_strings() {
        let (status, posted) = app.post(&messages_path(room), &alice, json!({"content": text})).await;
        assert_eq!(status, StatusCode::CREATED, "{text}: {posted}");
        assert_eq!(posted["content"], text);
        let (status, found) = app
            .get(&format!("/api/chat/rooms/?search={}", urlencode(text)), &alice)
            .await;
        assert_eq!(status, StatusCode::OK, "{text}: {found}");
    }
    let (_, page) = app.get(&format!("{}?limit=200", messages_path(room)), &alice).await;
    let stored: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    for text in hostile_strings() {
        assert!(stored.contains(&text), "{text} came back changed");
    }
    assert_eq!(
        snapshot(&app).await["users"],
        users_before,
        "no injection reached the users table"
    );
}
