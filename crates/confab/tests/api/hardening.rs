//! Hostile clients and revoked users: each test here failed before the fix
//! it names (issue 12), against a real server on port 0.

use std::time::Duration;

use confab::auth::accounts;
use confab::chat::types::DEVELOPER_ROLE;
use futures::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{messages_path, spawn_app, spawn_app_with, TestApp, PASSWORD};
use crate::ws::{connect_as, connect_user_socket, established, expect_close, next_json, next_of, send, Socket};

/// Longer than a ping interval of one second, with room for a slow machine.
const WITHIN: Duration = Duration::from_secs(10);

async fn obtain(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/api/token/",
        None,
        Some(json!({"username": username, "password": password})),
    )
    .await
}

async fn token_call(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, path, None, Some(body)).await
}

/// Skips frames (presence, ...) until the close, which must carry `code`.
async fn closes_with(socket: &mut Socket, code: u16) {
    while let Some(message) = socket.next().await {
        match message {
            Ok(Message::Close(Some(frame))) => return assert_eq!(u16::from(frame.code), code, "{frame:?}"),
            Ok(Message::Close(None)) | Err(_) => break,
            Ok(_) => continue,
        }
    }
    panic!("expected a close with {code}");
}

#[tokio::test]
async fn revoked_users_lose_their_open_sockets_within_a_ping_interval() {
    let app = spawn_app_with(|c| c.ws_ping_interval = 1).await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let dave = app.developer("dave").await;
    let room = app.room(&alice, "secret", "private").await;
    for user in [&bob, &carol, &dave] {
        app.add_member(room, &alice, user, "member").await;
    }
    let (mut bob_room, _) = established(&app, room, &bob).await;
    let mut bob_all = connect_user_socket(&app, &bob, "").await;
    assert_eq!(next_json(&mut bob_all).await["type"], "connection_established");
    let (mut carol_room, _) = established(&app, room, &carol).await;
    let (mut dave_room, _) = established(&app, room, &dave).await;
    let (mut alice_room, _) = established(&app, room, &alice).await;

    // Changed in the database only, as `confab user ...` in another process
    // (or on another node) does: no notice reaches this server's hub.
    let store = &app.state.store;
    accounts::set_active(store, "bob", false).await.unwrap();
    accounts::set_role(store, "carol", DEVELOPER_ROLE, false).await.unwrap();
    accounts::set_password(store, "dave", "a-brand-new-password")
        .await
        .unwrap();
    let revoked = async {
        closes_with(&mut bob_room, 4001).await;
        closes_with(&mut bob_all, 4001).await;
        closes_with(&mut carol_room, 4003).await;
        closes_with(&mut dave_room, 4001).await;
    };
    tokio::time::timeout(WITHIN, revoked)
        .await
        .expect("closed within a ping interval or two");

    // Dave's token predates his new password: refused everywhere.
    let (status, body) = app.get("/api/auth/me/", &dave).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "token_not_valid");
    let (status, body) = obtain(&app, "dave", "a-brand-new-password").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Alice was not touched: her socket is still live.
    send(&mut alice_room, json!({"type": "ping"})).await;
    assert_eq!(next_of(&mut alice_room, "pong").await["type"], "pong");
}

/// In a cluster a node may miss a removal's or a deletion's notice (Redis
/// loses notices); the membership sweep reads the truth from the database.
#[tokio::test]
async fn the_membership_sweep_catches_lost_removals_and_deletions() {
    let app = spawn_app().await;
    let (alice, bob, carol) = (
        app.developer("alice").await,
        app.developer("bob").await,
        app.developer("carol").await,
    );
    let room = app.room(&alice, "ops", "private").await;
    let doomed = app.room(&alice, "doomed", "private").await;
    app.add_member(room, &alice, &bob, "member").await;
    app.add_member(doomed, &alice, &carol, "member").await;
    let (mut bob_room, _) = established(&app, room, &bob).await;
    let mut bob_all = connect_user_socket(&app, &bob, "").await;
    assert_eq!(next_json(&mut bob_all).await["type"], "connection_established");
    let (mut carol_room, _) = established(&app, doomed, &carol).await;
    let (mut alice_room, _) = established(&app, room, &alice).await;
    assert_eq!(next_of(&mut bob_all, "user_joined").await["user"]["id"], alice.id);

    // Changed in the database only: no notice reaches this node's hub.
    let store = &app.state.store;
    let membership = confab::store::members::find(store.reader(), room, bob.id)
        .await
        .unwrap()
        .unwrap();
    let txn = store.begin().await.unwrap();
    confab::store::members::delete(&txn, membership.id).await.unwrap();
    confab::store::rooms::deactivate(&txn, doomed).await.unwrap();
    txn.commit().await.unwrap();
    let cut = confab::realtime::revocation::sweep_memberships(store, &app.state.hub).await;
    assert_eq!(cut.unwrap(), 2, "bob in ops (both his sockets), carol in doomed");

    let closed = async {
        closes_with(&mut bob_room, 4003).await;
        closes_with(&mut carol_room, 4004).await;
    };
    tokio::time::timeout(WITHIN, closed).await.expect("closed at once");
    // Bob's user socket stays, and hears the room no more.
    send(&mut alice_room, json!({"type": "chat_message", "content": "after"})).await;
    assert_eq!(
        next_of(&mut alice_room, "chat_message").await["message"]["content"],
        "after"
    );
    send(&mut bob_all, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut bob_all).await["type"],
        "pong",
        "no frame of the room first"
    );
    let again = confab::realtime::revocation::sweep_memberships(store, &app.state.hub).await;
    assert_eq!(again.unwrap(), 0, "nothing left to cut");
}

#[tokio::test]
async fn logout_blacklists_the_refresh_token() {
    let app = spawn_app().await;
    app.developer("alice").await;
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    let refresh = pair["refresh"].as_str().unwrap().to_owned();

    let (status, body) = token_call(&app, "/api/token/blacklist/", json!({"refresh": refresh})).await;
    assert_eq!((status, body), (StatusCode::OK, json!({})));
    let blacklisted = json!({"detail": "Token is blacklisted", "code": "token_not_valid"});
    let (status, body) = token_call(&app, "/api/token/refresh/", json!({"refresh": refresh})).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, blacklisted.clone()));
    let (status, body) = token_call(&app, "/api/token/blacklist/", json!({"refresh": refresh})).await;
    assert_eq!((status, body), (StatusCode::UNAUTHORIZED, blacklisted));
    let (status, body) = token_call(&app, "/api/token/verify/", json!({"token": refresh})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body, json!({"non_field_errors": ["Token is blacklisted"]}));

    // The access token is not a refresh token; garbage is a 401; nothing is a 400.
    let access = pair["access"].as_str().unwrap();
    let (status, _) = token_call(&app, "/api/token/blacklist/", json!({"refresh": access})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = token_call(&app, "/api/token/blacklist/", json!({})).await;
    assert_eq!(
        (status, body),
        (StatusCode::BAD_REQUEST, json!({"refresh": ["This field is required."]}))
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_works_once_and_a_password_change_ends_the_session() {
    let app = spawn_app_with(|c| c.rotate_refresh_tokens = true).await;
    app.developer("alice").await;
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    let first = pair["refresh"].as_str().unwrap().to_owned();
    let (status, rotated) = token_call(&app, "/api/token/refresh/", json!({"refresh": first})).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let second = rotated["refresh"].as_str().unwrap().to_owned();
    let (status, body) = token_call(&app, "/api/token/refresh/", json!({"refresh": first})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["detail"], "Token is blacklisted");

    // Two clients racing with one token: exactly one gets a new pair.
    let race = [second.clone(), second.clone()].map(|token| {
        let (client, url) = (app.client.clone(), app.url("/api/token/refresh/"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"refresh": token}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut statuses = Vec::new();
    for call in race {
        statuses.push(call.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, vec![StatusCode::OK, StatusCode::UNAUTHORIZED]);

    // Tokens from before a password change are refused.
    let (_, pair) = obtain(&app, "alice", PASSWORD).await;
    accounts::set_password(&app.state.store, "alice", "another-good-password")
        .await
        .unwrap();
    let (status, _) = token_call(&app, "/api/token/refresh/", json!({"refresh": pair["refresh"]})).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn token_requests_are_throttled_per_username_and_per_address() {
    let app = spawn_app_with(|c| {
        c.login_rate_per_user = 3;
        c.login_rate_per_address = 5;
        c.trust_forwarded_for = true;
    })
    .await;
    app.developer("alice").await;
    // Only failures count: a client that logs in often is never refused.
    for _ in 0..10 {
        let (status, body) = obtain(&app, "alice", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for _ in 0..3 {
        let (status, _) = obtain(&app, "alice", "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let response = app
        .client
        .post(app.url("/api/token/"))
        .json(&json!({"username": "ALICE", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "usernames are case-insensitive"
    );
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("Request was throttled. Expected available in"),
        "{body}"
    );

    // Per address (as a trusted proxy reports it): many names from one client.
    let from = |address: &'static str, name: String| {
        app.client
            .post(app.url("/api/token/"))
            .header("X-Forwarded-For", format!("198.51.100.1, {address}"))
            .json(&json!({"username": name, "password": "wrong-password"}))
            .send()
    };
    for n in 0..5 {
        assert_eq!(
            from("203.0.113.7", format!("nobody{n}")).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        from("203.0.113.7", "nobody9".into()).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        from("203.0.113.8", "nobody9".into()).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Without the header the peer counts, loopback like any other address:
    // alice's three failures above came from here, two more spend the five.
    for n in 0..2 {
        let (status, _) = obtain(&app, &format!("stranger{n}"), "wrong-password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = obtain(&app, "stranger9", "wrong-password").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(tcp: &mut TcpStream) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(WITHIN, tcp.read_to_end(&mut received))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

#[tokio::test]
async fn slow_headers_and_idle_keep_alive_connections_are_closed() {
    let app = spawn_app_with(|c| c.http_header_timeout = 1).await;
    // Slowloris: headers that never end.
    let mut slow = TcpStream::connect(app.addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(!answer.contains("200 OK"), "{answer}");

    // A keep-alive connection that goes quiet after its request.
    let mut idle = TcpStream::connect(app.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut idle).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn connections_over_the_cap_are_refused_with_503() {
    let app = spawn_app_with(|c| c.max_connections = 2).await;
    let held = [
        TcpStream::connect(app.addr).await.unwrap(),
        TcpStream::connect(app.addr).await.unwrap(),
    ];
    // Give the server time to take both before the third knocks.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(app.addr).await.unwrap();
    let answer = read_to_close(&mut third).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("Too many connections"), "{answer}");
    drop(held);
    // Slots come back with the connections.
    let mut fourth = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut tcp).await;
        if answer.starts_with("HTTP/1.1 200") {
            fourth = Some(answer);
            break;
        }
    }
    assert!(fourth.is_some(), "a freed slot is taken again");
}

#[tokio::test]
async fn rest_writes_are_budgeted_per_user() {
    let app = spawn_app_with(|c| {
        c.rest_write_rate = 1;
        c.rest_write_burst = 3;
    })
    .await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await; // one write
    for n in 0..2 {
        let (status, body) = app
            .post(&messages_path(room), &alice, json!({"content": format!("m{n}")}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let response = app
        .client
        .post(app.url(&messages_path(room)))
        .bearer_auth(&alice.token)
        .json(&json!({"content": "one too many"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    // Reads are not writes, and other users have their own budget.
    assert_eq!(app.get(&messages_path(room), &alice).await.0, StatusCode::OK);
    let (status, body) = app
        .post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_socket_frame_is_budgeted_and_typing_is_coalesced() {
    let app = spawn_app_with(|c| {
        c.ws_frame_rate = 1;
        c.ws_frame_burst = 4;
    })
    .await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let (mut a, _) = established(&app, room, &alice).await;
    let (mut b, _) = established(&app, room, &bob).await;

    // A typing storm reaches the room once; the change of state goes at once.
    for _ in 0..3 {
        send(&mut a, json!({"type": "typing", "is_typing": true})).await;
    }
    send(&mut a, json!({"type": "typing", "is_typing": false})).await;
    let first = next_of(&mut b, "typing").await;
    assert_eq!(first["is_typing"], true);
    let second = next_of(&mut b, "typing").await;
    assert_eq!(second["is_typing"], false, "the repeats were coalesced");

    // The budget (4) is spent: pings and garbage are refused, messages are not.
    send(&mut a, json!({"type": "ping"})).await;
    a.send(Message::text("not json")).await.unwrap();
    let refused = next_of(&mut a, "error").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    let refused = next_of(&mut a, "error").await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    send(&mut a, json!({"type": "chat_message", "content": "still heard"})).await;
    let echo = next_of(&mut a, "chat_message").await;
    assert_eq!(echo["message"]["content"], "still heard");
}

#[tokio::test]
async fn sockets_per_user_are_capped() {
    let app = spawn_app_with(|c| c.ws_max_sockets_per_user = 2).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (_one, _) = established(&app, room, &alice).await;
    let mut two = connect_user_socket(&app, &alice, "").await;
    assert_eq!(next_json(&mut two).await["type"], "connection_established");
    let mut three = connect_as(&app, room, &alice).await;
    expect_close(&mut three, 1013).await;
    drop(two);
    // The slot comes back once the server has seen the close.
    let mut reopened = false;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = connect_as(&app, room, &alice).await;
        if let Some(Ok(Message::Text(text))) = again.next().await {
            reopened = text.contains("connection_established");
            break;
        }
    }
    assert!(reopened);
}

#[tokio::test]
async fn a_resume_naming_a_room_thousands_of_times_replays_it_once() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    for n in 0..3 {
        app.post(&messages_path(room), &alice, json!({"content": format!("m{n}")}))
            .await;
    }
    // A few thousand pairs fit in a request line; ids of other rooms are ignored.
    let mut points = vec![format!("{room}:0"); 2000];
    points.push("999999:0".into());
    let mut socket = connect_user_socket(&app, &alice, &format!("&after={}", points.join(","))).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    for n in 0..3 {
        let frame = next_json(&mut socket).await;
        assert_eq!(frame["message"]["content"], format!("m{n}"), "{frame}");
    }
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut socket).await["type"], "pong", "nothing replayed twice");
}

#[tokio::test]
async fn browsers_from_other_origins_cannot_open_sockets() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://chat.example.com".into()]).await;
    let alice = app.developer("alice").await;
    let url = format!("ws://{}/ws/chat/?token={}", app.addr, alice.token);
    let with_origin = |origin: String| {
        let mut request = url.as_str().into_client_request().unwrap();
        request.headers_mut().insert("Origin", origin.parse().unwrap());
        tokio_tungstenite::connect_async(request)
    };
    let refused = with_origin("https://evil.example".into()).await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
    for allowed in [format!("http://{}", app.addr), "https://chat.example.com".into()] {
        let (mut socket, _) = with_origin(allowed).await.expect("allowed origin");
        assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    }
    // Scripts send no Origin at all.
    let (mut socket, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
}

#[tokio::test]
async fn metrics_take_no_client_made_labels_and_can_be_guarded() {
    let app = spawn_app_with(|c| c.metrics_token = Some("metrics-token-0123456789".into())).await;
    let method = Method::from_bytes(b"M1X").unwrap();
    app.client.request(method, app.url("/healthz")).send().await.unwrap();
    let (status, body) = app.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let text = app
        .client
        .get(app.url("/metrics"))
        .bearer_auth("metrics-token-0123456789")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("method=\"other\""), "{text}");
    assert!(!text.contains("M1X"));
}

#[tokio::test]
async fn extreme_cursors_and_long_searches_are_answered_not_crashed() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    for query in [
        "after=9223372036854775807",
        "before=9223372036854775807",
        "after=0&limit=9223372036854775807",
    ] {
        let (status, body) = app.get(&format!("{}?{query}", messages_path(room)), &alice).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
    }
    let long = "x".repeat(5000);
    for path in ["/api/chat/rooms/", "/api/chat/users/"] {
        let (status, body) = app.get(&format!("{path}?search={long}"), &alice).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["search"][0].as_str().unwrap().contains("150"), "{body}");
    }
}

#[tokio::test]
async fn api_responses_are_not_sniffed_and_the_docs_have_a_policy() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/api/chat/rooms/")).send().await.unwrap();
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let docs = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    let policy = docs.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    let page = app.client.get(app.url("/")).send().await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        policy.contains("connect-src 'self';") && !policy.contains("ws:"),
        "{policy}"
    );
}

/// Every text field at its documented maximum, on each backend the suite
/// runs on: PostgreSQL and MySQL enforce column lengths, SQLite does not.
#[tokio::test]
async fn the_longest_names_and_texts_fit_every_column() {
    let app = spawn_app().await;
    let long_alice = format!("a{}", "l".repeat(149));
    let long_bob = format!("b{}", "o".repeat(149));
    let alice = app.developer(&long_alice).await;
    let bob = app.developer(&long_bob).await;
    let name = "R".repeat(100);
    let (status, room) = app
        .post(
            "/api/chat/rooms/",
            &alice,
            json!({"name": name, "description": "d".repeat(500), "room_type": "group"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let room = room["id"].as_i64().unwrap();
    let (status, body) = app
        .post(
            &format!("/api/chat/rooms/{room}/members/"),
            &alice,
            json!({"username": long_bob}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, first) = app
        .post(
            &messages_path(room),
            &alice,
            json!({"content": "é".repeat(5000), "client_id": "c".repeat(64)}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // A reply that mentions: two notifications whose titles hold both names.
    let content = format!("@{long_alice} {}", "x".repeat(4000));
    let (status, reply) = app
        .post(
            &messages_path(room),
            &bob,
            json!({"content": content, "reply_to": first["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let (status, page) = app.get("/api/chat/notifications/", &alice).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let titles: Vec<&str> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.iter().any(|t| t.chars().count() > 260 && t.contains(&name)),
        "{titles:?}"
    );
}
