//! The room socket `/ws/chat/{room_id}/`, with real tokio-tungstenite clients.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{spawn_app, spawn_app_with, TestApp, TestUser};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

pub(crate) async fn connect(app: &TestApp, room: i64, query: &str) -> Socket {
    let url = format!("ws://{}/ws/chat/{room}/{query}", app.addr);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake completes");
    socket
}

pub(crate) async fn connect_as(app: &TestApp, room: i64, user: &TestUser) -> Socket {
    connect(app, room, &format!("?token={}", user.token)).await
}

/// The next text frame as JSON, skipping pings.
pub(crate) async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time")
            .expect("open");
        match message.expect("no protocol error") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next frame of `kind`, skipping presence frames.
pub(crate) async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == kind {
            return frame;
        }
        assert!(
            ["user_joined", "user_left", "member_added"].contains(&frame["type"].as_str().unwrap_or_default()),
            "expected {kind}, got {frame}"
        );
    }
}

/// Asserts the socket's next frame is a close with `code`.
pub(crate) async fn expect_close(socket: &mut Socket, code: u16) {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a frame in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), code, "{frame:?}");
                return;
            }
            Some(Ok(Message::Ping(_))) => continue,
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
}

pub(crate) async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

pub(crate) async fn established(app: &TestApp, room: i64, user: &TestUser) -> (Socket, Value) {
    let mut socket = connect_as(app, room, user).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    (socket, hello)
}

#[tokio::test]
async fn refusals_close_with_the_contract_codes_and_say_nothing_first() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.user("carol", false).await;
    let public = app.room(&alice, "public", "public").await;
    let private = app.room(&alice, "private", "private").await;
    let cases: Vec<(i64, String, u16)> = vec![
        (public, String::new(), 4001),
        (public, "?token=garbage".into(), 4001),
        (public, format!("?token={}", carol.token), 4003),
        (public, format!("?token={}", bob.token), 4003),
        (private, format!("?token={}", bob.token), 4004),
        (999_999, format!("?token={}", alice.token), 4004),
    ];
    for (room, query, code) in cases {
        let mut socket = connect(&app, room, &query).await;
        expect_close(&mut socket, code).await;
    }
    app.delete(&format!("/api/chat/rooms/{public}/"), &alice).await;
    let mut socket = connect_as(&app, public, &alice).await;
    expect_close(&mut socket, 4004).await;
}

#[tokio::test]
async fn the_authorization_header_works_too() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let mut request = format!("ws://{}/ws/chat/{room}/", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Authorization", format!("Bearer {}", alice.token).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
}

#[tokio::test]
async fn connection_established_then_messages_both_ways() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;

    let (mut a, hello) = established(&app, room, &alice).await;
    assert_eq!(hello["room"]["id"], room);
    assert_eq!(hello["room"]["name"], "general");
    assert_eq!(hello["user"], json!({"id": alice.id, "username": "alice"}));
    assert_eq!(hello["online"], json!([{"id": alice.id, "username": "alice"}]));
    let (mut b, hello) = established(&app, room, &bob).await;
    assert_eq!(hello["online"].as_array().unwrap().len(), 2);
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "user_joined", "user": {"id": bob.id, "username": "bob"}})
    );

    // A socket message is stored, then reaches everyone, the sender included.
    send(
        &mut a,
        json!({"type": "chat_message", "content": " hi bob ", "client_id": "c-1"}),
    )
    .await;
    let echo = next_of(&mut a, "chat_message").await;
    let received = next_of(&mut b, "chat_message").await;
    assert_eq!(echo, received, "one frame for everyone");
    let message = &echo["message"];
    assert_eq!(message["content"], "hi bob");
    assert_eq!(message["client_id"], "c-1");
    assert_eq!(message["sender"]["id"], alice.id);
    let (status, history) = app.get(&format!("/api/chat/rooms/{room}/messages/"), &bob).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(history["results"][0]["id"], message["id"]);

    // A REST post reaches the sockets too.
    let (status, posted) = app
        .post(
            &format!("/api/chat/rooms/{room}/messages/"),
            &bob,
            json!({"content": "from rest"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    for socket in [&mut a, &mut b] {
        let frame = next_of(socket, "chat_message").await;
        assert_eq!(frame["message"]["id"], posted["id"]);
    }

    // Read marks and deletes are broadcast.
    app.post(&format!("/api/chat/messages/{}/read/", posted["id"]), &alice, json!({}))
        .await;
    let read = next_of(&mut b, "message_read").await;
    assert_eq!(
        read,
        json!({"type": "message_read", "message_id": posted["id"], "user": {"id": alice.id, "username": "alice"}})
    );
    app.delete(&format!("/api/chat/messages/{}/delete/", posted["id"]), &bob)
        .await;
    assert_eq!(next_of(&mut a, "message_read").await["type"], "message_read");
    assert_eq!(
        next_of(&mut a, "message_deleted").await,
        json!({"type": "message_deleted", "message_id": posted["id"], "change_seq": 3})
    );
}

#[tokio::test]
async fn typing_goes_to_the_others_only_and_ping_pongs() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;
    let (mut a, _) = established(&app, room, &alice).await;
    let (mut b, _) = established(&app, room, &bob).await;
    next_of(&mut a, "user_joined").await;

    send(&mut a, json!({"type": "typing", "is_typing": true})).await;
    let typing = next_json(&mut b).await;
    assert_eq!(
        typing,
        json!({"type": "typing", "user": {"id": alice.id, "username": "alice"}, "is_typing": true})
    );
    // Alice's next frame is her pong, not her own typing.
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut a).await, json!({"type": "pong"}));
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut a, _) = established(&app, room, &alice).await;
    let cases = [
        ("not json", "invalid_json"),
        ("[1,2]", "invalid_json"),
        (r#"{"type":"dance"}"#, "unknown_type"),
        (r#"{"content":"no type"}"#, "unknown_type"),
        (r#"{"type":"chat_message","content":"   "}"#, "invalid_field"),
        (
            r#"{"type":"chat_message","content":"x","message_type":"system"}"#,
            "invalid_field",
        ),
        (r#"{"type":"typing"}"#, "invalid_field"),
        (r#"{"type":"mark_read","message_id":"x"}"#, "invalid_field"),
        (r#"{"type":"mark_read","message_id":424242}"#, "not_found"),
    ];
    for (text, code) in cases {
        a.send(Message::text(text)).await.unwrap();
        let frame = next_json(&mut a).await;
        assert_eq!(frame["type"], "error", "{text}: {frame}");
        assert_eq!(frame["code"], code, "{text}: {frame}");
        assert!(frame["detail"].is_string(), "{frame}");
    }
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut a).await["type"], "pong");
}

#[tokio::test]
async fn frames_over_64_kib_close_with_1009() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut a, _) = established(&app, room, &alice).await;
    let huge = json!({"type": "chat_message", "content": "x".repeat(70 * 1024)}).to_string();
    a.send(Message::text(huge)).await.unwrap();
    expect_close(&mut a, 1009).await;
}

#[tokio::test]
async fn presence_counts_a_users_sockets() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;
    let (mut a, _) = established(&app, room, &alice).await;
    let (b1, _) = established(&app, room, &bob).await;
    assert_eq!(next_json(&mut a).await["type"], "user_joined");
    let (b2, _) = established(&app, room, &bob).await;
    let (_, members) = app.get(&format!("/api/chat/rooms/{room}/members/"), &alice).await;
    assert!(
        members.as_array().unwrap().iter().all(|m| m["is_online"] == true),
        "{members}"
    );
    drop(b1);
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut a).await["type"],
        "pong",
        "bob is still online through his second socket"
    );
    drop(b2);
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "user_left", "user": {"id": bob.id, "username": "bob"}})
    );
}

#[tokio::test]
async fn removal_and_deletion_close_sockets() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "team", "group").await;
    app.add_member(room, &alice, &bob, "member").await;
    let (mut a, _) = established(&app, room, &alice).await;
    let (mut b, _) = established(&app, room, &bob).await;
    let (status, _) = app
        .delete(&format!("/api/chat/rooms/{room}/members/{}/", bob.id), &alice)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Bob learns why, sees himself removed, then his socket of that room closes.
    assert_eq!(
        next_json(&mut b).await["notification"]["notification_type"],
        "removed_from_room"
    );
    assert_eq!(next_json(&mut b).await["type"], "member_removed");
    expect_close(&mut b, 4003).await;
    let removed = next_of(&mut a, "member_removed").await;
    assert_eq!(removed["user"], json!({"id": bob.id, "username": "bob"}));
    app.delete(&format!("/api/chat/rooms/{room}/"), &alice).await;
    loop {
        match tokio::time::timeout(WAIT, a.next()).await.unwrap() {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(frame.code, CloseCode::from(4004));
                break;
            }
            Some(Ok(Message::Text(_))) => continue, // user_left of bob
            other => panic!("expected close 4004, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn resume_replays_missed_messages_then_goes_live() {
    let app = spawn_app_with(|c| c.ws_resume_max = 5).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = format!("/api/chat/rooms/{room}/messages/");
    let mut ids = Vec::new();
    for i in 0..4 {
        let (_, m) = app.post(&path, &alice, json!({"content": format!("m{i}")})).await;
        ids.push(m["id"].as_i64().unwrap());
    }
    app.delete(&format!("/api/chat/messages/{}/delete/", ids[2]), &alice)
        .await;
    let mut socket = connect(&app, room, &format!("?token={}&after={}", alice.token, ids[0])).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    for expected in [ids[1], ids[3]] {
        assert_eq!(next_json(&mut socket).await["message"]["id"], expected);
    }
    let (_, live) = app.post(&path, &alice, json!({"content": "live"})).await;
    assert_eq!(next_json(&mut socket).await["message"]["id"], live["id"]);

    // More than ws_resume_max missed: resync instead.
    for i in 0..6 {
        app.post(&path, &alice, json!({"content": format!("n{i}")})).await;
    }
    let mut socket = connect(&app, room, &format!("?token={}&after={}", alice.token, ids[0])).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    assert_eq!(next_json(&mut socket).await, json!({"type": "resync_required"}));
}

/// Resume while others post: the replay and the live frames join without a
/// gap or a duplicate.
#[tokio::test]
async fn resume_under_concurrent_posting_has_no_gap_and_no_duplicate() {
    let app = spawn_app_with(|c| c.ws_resume_max = 10_000).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let path = format!("/api/chat/rooms/{room}/messages/");
    for i in 0..20 {
        app.post(&path, &alice, json!({"content": format!("before {i}")})).await;
    }
    let poster = {
        let (client, url, token) = (app.client.clone(), app.url(&path), alice.token.clone());
        tokio::spawn(async move {
            for i in 0..60 {
                client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&json!({"content": format!("during {i}")}))
                    .send()
                    .await
                    .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut socket = connect(&app, room, &format!("?token={}&after=0", alice.token)).await;
    assert_eq!(next_json(&mut socket).await["type"], "connection_established");
    poster.await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 80 {
        seen.push(
            next_of(&mut socket, "chat_message").await["message"]["id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "ascending, no duplicate: {seen:?}"
    );
    let (_, history) = app.get(&format!("{path}?limit=200"), &alice).await;
    let stored: Vec<i64> = history["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect();
    assert_eq!(seen, stored, "every stored message exactly once");
}

/// Many clients, each sending many messages into one room: every client
/// receives every message exactly once, in id order.
#[tokio::test]
async fn fifty_clients_a_hundred_messages_each_all_in_order() {
    const CLIENTS: usize = 50;
    const MESSAGES: usize = 100;
    let app = spawn_app_with(|c| {
        c.ws_message_rate = 10_000;
        c.ws_message_burst = 10_000;
        c.ws_queue_capacity = 8192;
    })
    .await;
    let owner = app.developer("owner").await;
    let room = app.room(&owner, "busy", "public").await;
    let mut users = Vec::new();
    for i in 0..CLIENTS {
        let user = if i == 0 {
            owner.clone()
        } else {
            app.developer(&format!("user{i}")).await
        };
        if i > 0 {
            app.post(&format!("/api/chat/rooms/{room}/join/"), &user, json!({}))
                .await;
        }
        users.push(user);
    }
    let mut sockets = Vec::new();
    for user in &users {
        let (socket, _) = established(&app, room, user).await;
        sockets.push(socket);
    }
    let total = CLIENTS * MESSAGES;
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(i, socket)| {
            tokio::spawn(async move {
                let (mut sink, mut stream) = socket.split();
                let writer = async {
                    for n in 0..MESSAGES {
                        let frame = json!({"type": "chat_message", "content": format!("c{i} m{n}")});
                        sink.send(Message::text(frame.to_string())).await.unwrap();
                    }
                };
                let reader = async {
                    let mut ids = Vec::with_capacity(total);
                    while ids.len() < total {
                        let message = tokio::time::timeout(Duration::from_secs(60), stream.next())
                            .await
                            .unwrap();
                        if let Some(Ok(Message::Text(text))) = message {
                            let frame: Value = serde_json::from_str(&text).unwrap();
                            if frame["type"] == "chat_message" {
                                ids.push(frame["message"]["id"].as_i64().unwrap());
                            } else {
                                assert_ne!(frame["type"], "error", "{frame}");
                            }
                        }
                    }
                    ids
                };
                let ((), ids) = tokio::join!(writer, reader);
                ids
            })
        })
        .collect();
    let mut first: Option<Vec<i64>> = None;
    for task in tasks {
        let ids = task.await.unwrap();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "every client sees ascending ids, each once"
        );
        match &first {
            None => first = Some(ids),
            Some(expected) => assert_eq!(&ids, expected, "every client sees the same messages"),
        }
    }
    assert_eq!(first.unwrap().len(), total);
}

#[tokio::test]
async fn notifications_reach_the_recipients_open_sockets() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let lobby = app.room(&alice, "lobby", "public").await;
    app.post(&format!("/api/chat/rooms/{lobby}/join/"), &bob, json!({}))
        .await;
    let (mut b, _) = established(&app, lobby, &bob).await;

    // A mention in this room: the message, then bob's notification.
    let (_, posted) = app
        .post(
            &format!("/api/chat/rooms/{lobby}/messages/"),
            &alice,
            json!({"content": "hey @bob"}),
        )
        .await;
    assert_eq!(next_of(&mut b, "chat_message").await["message"]["id"], posted["id"]);
    let pushed = next_of(&mut b, "notification").await["notification"].clone();
    assert_eq!(pushed["notification_type"], "mention");
    assert_eq!(pushed["message"], posted["id"]);
    let (_, listed) = app.get("/api/chat/notifications/", &bob).await;
    assert_eq!(listed["results"][0], pushed, "the pushed object is the listed one");

    // Being added to another room is pushed to the socket bob has open.
    let team = app.room(&alice, "team", "group").await;
    app.add_member(team, &alice, &bob, "member").await;
    let invite = next_of(&mut b, "notification").await["notification"].clone();
    assert_eq!(invite["notification_type"], "room_invite");
    assert_eq!(invite["room"], team);
}

#[tokio::test]
async fn a_socket_that_stops_answering_pings_is_closed() {
    let app = spawn_app_with(|c| c.ws_ping_interval = 1).await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut silent, _) = established(&app, room, &alice).await;
    // Not reading means not answering the server's pings.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    loop {
        match tokio::time::timeout(WAIT, silent.next()).await.unwrap() {
            Some(Ok(Message::Ping(_))) => continue,
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1001, "{frame:?}");
                break;
            }
            // The client answers the queued pings as it reads them, and the
            // server has already gone: the close can surface as a broken pipe.
            Some(Err(_)) | None => break,
            other => panic!("expected a close, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let mut app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut socket, _) = established(&app, room, &alice).await;
    app.stop_server();
    expect_close(&mut socket, 1001).await;
}

#[tokio::test]
async fn socket_metrics_are_exported() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut socket, _) = established(&app, room, &alice).await;
    send(&mut socket, json!({"type": "chat_message", "content": "counted"})).await;
    next_of(&mut socket, "chat_message").await;
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "ws_open_sockets",
        "ws_frames_in_total{type=\"chat_message\"}",
        "ws_frames_out_total{type=\"chat_message\"}",
        "ws_fanout_latency_seconds_bucket",
        "ws_queue_depth",
        // Posts per group-commit transaction.
        "pipeline_batch_size",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

pub(crate) async fn connect_user_socket(app: &TestApp, user: &TestUser, query: &str) -> Socket {
    let url = format!("ws://{}/ws/chat/?token={}{query}", app.addr, user.token);
    tokio_tungstenite::connect_async(url)
        .await
        .expect("handshake completes")
        .0
}

#[tokio::test]
async fn the_user_socket_carries_every_room_and_notifications() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.user("carol", false).await;
    let one = app.room(&alice, "one", "public").await;
    let two = app.room(&alice, "two", "group").await;
    app.add_member(two, &alice, &bob, "member").await;
    let three = app.room(&alice, "three", "public").await;

    let (mut anonymous, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws/chat/", app.addr))
        .await
        .unwrap();
    expect_close(&mut anonymous, 4001).await;
    let mut not_developer = connect_user_socket(&app, &carol, "").await;
    expect_close(&mut not_developer, 4003).await;

    let mut a = connect_user_socket(&app, &alice, "").await;
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "connection_established", "user": {"id": alice.id, "username": "alice"}, "rooms": [one, two, three]})
    );

    // Frames of every room arrive, tagged with the room.
    app.post(
        &format!("/api/chat/rooms/{two}/messages/"),
        &bob,
        json!({"content": "in two"}),
    )
    .await;
    let frame = next_of(&mut a, "chat_message").await;
    assert_eq!(frame["room"], two);
    assert_eq!(frame["message"]["content"], "in two");

    // Client frames name their room; rooms the user is not in are refused.
    send(
        &mut a,
        json!({"type": "chat_message", "room": one, "content": "hello one"}),
    )
    .await;
    let echo = next_of(&mut a, "chat_message").await;
    assert_eq!(
        (echo["room"].clone(), echo["message"]["content"].clone()),
        (json!(one), json!("hello one"))
    );
    let other = app.room(&bob, "bobs", "public").await;
    send(
        &mut a,
        json!({"type": "chat_message", "room": other, "content": "nope"}),
    )
    .await;
    let error = next_json(&mut a).await;
    assert_eq!(
        (error["type"].clone(), error["code"].clone()),
        (json!("error"), json!("not_a_member")),
        "{error}"
    );
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut a).await, json!({"type": "pong"}));

    // Joining a room while connected: member_added, then its frames.
    app.post(&format!("/api/chat/rooms/{other}/join/"), &alice, json!({}))
        .await;
    let added = next_of(&mut a, "member_added").await;
    assert_eq!(
        (added["room"].clone(), added["user"]["id"].clone()),
        (json!(other), json!(alice.id))
    );
    app.post(
        &format!("/api/chat/rooms/{other}/messages/"),
        &bob,
        json!({"content": "welcome @alice"}),
    )
    .await;
    assert_eq!(next_of(&mut a, "chat_message").await["room"], other);
    // Notifications arrive once, untagged, however many rooms the socket hears.
    let notification = next_of(&mut a, "notification").await;
    assert_eq!(notification["notification"]["notification_type"], "mention");
    assert!(notification.get("room").is_none(), "{notification}");

    // Leaving: member_removed, then that room falls silent.
    app.post(&format!("/api/chat/rooms/{other}/leave/"), &alice, json!({}))
        .await;
    let removed = next_of(&mut a, "member_removed").await;
    assert_eq!(removed["room"], other);
    app.post(
        &format!("/api/chat/rooms/{other}/messages/"),
        &bob,
        json!({"content": "unheard"}),
    )
    .await;
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "pong"}),
        "no frame of the room left"
    );
}

/// Rooms created or deleted while connected start and stop on the user socket.
#[tokio::test]
async fn the_user_socket_follows_rooms_created_and_deleted() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let mut a = connect_user_socket(&app, &alice, "").await;
    assert_eq!(next_json(&mut a).await["rooms"], json!([]));
    let mut b = connect_user_socket(&app, &bob, "").await;
    next_of(&mut b, "connection_established").await;

    let room = app.room(&alice, "fresh", "public").await;
    let added = next_of(&mut a, "member_added").await;
    assert_eq!(
        (added["room"].clone(), added["user"]["id"].clone()),
        (json!(room), json!(alice.id))
    );
    app.post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;
    next_of(&mut b, "member_added").await;
    app.post(
        &format!("/api/chat/rooms/{room}/messages/"),
        &bob,
        json!({"content": "hi"}),
    )
    .await;
    assert_eq!(next_of(&mut a, "chat_message").await["room"], room);
    assert_eq!(next_of(&mut b, "chat_message").await["room"], room);

    let (mut room_socket, _) = established(&app, room, &bob).await;
    let status = app
        .client
        .delete(app.url(&format!("/api/chat/rooms/{room}/")))
        .bearer_auth(&alice.token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);
    for socket in [&mut a, &mut b] {
        assert_eq!(
            next_of(socket, "room_deleted").await,
            json!({"room": room, "type": "room_deleted"})
        );
        send(socket, json!({"type": "ping"})).await;
        assert_eq!(
            next_json(socket).await,
            json!({"type": "pong"}),
            "the socket stays open"
        );
    }
    // The room socket is closed as the contract says, without the new frame.
    expect_close(&mut room_socket, 4004).await;
}

#[tokio::test]
async fn the_user_socket_resumes_per_room() {
    let app = spawn_app().await;
    let alice = app.developer("alice").await;
    let one = app.room(&alice, "one", "public").await;
    let two = app.room(&alice, "two", "public").await;
    let mut ids = std::collections::HashMap::new();
    for room in [one, two] {
        for i in 0..3 {
            let path = format!("/api/chat/rooms/{room}/messages/");
            let (_, m) = app.post(&path, &alice, json!({"content": format!("{room}-{i}")})).await;
            ids.entry(room).or_insert_with(Vec::new).push(m["id"].as_i64().unwrap());
        }
    }
    let query = format!("&after={one}:{},{two}:{}", ids[&one][1], ids[&two][0]);
    let mut a = connect_user_socket(&app, &alice, &query).await;
    assert_eq!(next_json(&mut a).await["type"], "connection_established");
    let mut replayed = Vec::new();
    for _ in 0..3 {
        let frame = next_json(&mut a).await;
        replayed.push((
            frame["room"].as_i64().unwrap(),
            frame["message"]["id"].as_i64().unwrap(),
        ));
    }
    assert_eq!(
        replayed,
        vec![(one, ids[&one][2]), (two, ids[&two][1]), (two, ids[&two][2])]
    );
}

/// A client that stops reading: the hub drops it once its queue is full
/// (memory stays bounded), the others keep receiving everything, and when the
/// laggard reads again it finds a 1013 close after what was queued.
#[tokio::test]
async fn a_socket_that_cannot_keep_up_is_closed_and_the_others_are_not_slowed() {
    // Enough to overflow the kernel's socket buffers (up to 4 MiB here) as well.
    const POSTS: usize = 1500;
    // A 16-frame queue, written at once: with the default 5 ms write delay
    // even the healthy socket could not hold what in-process posting queues
    // meanwhile (the default 1024 frames allow 200k frames/s per socket).
    let app = spawn_app_with(|c| {
        c.ws_queue_capacity = 16;
        c.ws_write_delay_ms = 0;
    })
    .await;
    let alice = app.developer("alice").await;
    let room = app.room(&alice, "busy", "public").await;

    let (mut healthy, _) = established(&app, room, &alice).await;
    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while seen < POSTS {
            if next_of(&mut healthy, "chat_message").await["type"] == "chat_message" {
                seen += 1;
            }
        }
        seen
    });

    // The laggard's receive window is tiny, so its frames back up at once.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(2048).unwrap();
    let stream = tcp.connect(app.addr).await.unwrap();
    let url = format!("ws://{}/ws/chat/{room}/?token={}", app.addr, alice.token);
    let (mut laggard, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();

    // Posted in-process, through the same use case as REST, to be quick.
    let sender = confab::auth::CurrentUser {
        id: alice.id,
        username: alice.username.clone(),
        roles: vec!["developer".into()],
    };
    for _ in 0..POSTS {
        let input = || {
            Ok(confab::chat::posting::NewMessageInput {
                content: "x".repeat(4000),
                message_type: confab::chat::types::MessageType::Text,
                reply_to: None,
                client_id: None,
                attachments: Vec::new(),
            })
        };
        confab::chat::posting::post(&app.state.posts, &sender, room, input)
            .await
            .unwrap();
    }
    assert_eq!(reader.await.unwrap(), POSTS, "the healthy socket got everything");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("ws_slow_consumer_closes_total"),
        "the close is counted"
    );
    let mut delivered = 0;
    loop {
        match tokio::time::timeout(WAIT, laggard.next())
            .await
            .expect("the laggard is closed, not left hanging")
        {
            Some(Ok(Message::Text(_))) => delivered += 1,
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1013, "{frame:?}");
                break;
            }
            Some(Ok(_)) => {}
            other => panic!("expected a 1013 close, got {other:?}"),
        }
    }
    assert!(
        delivered < POSTS,
        "the laggard was cut off, not buffered without bound ({delivered} frames)"
    );
}

#[tokio::test]
async fn socket_messages_are_rate_limited_and_retries_are_acknowledged_to_the_sender() {
    let app = spawn_app_with(|c| {
        c.ws_message_rate = 1;
        c.ws_message_burst = 2;
    })
    .await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    let (mut a, _) = established(&app, room, &alice).await;

    // A member joining over REST reaches the room's sockets.
    app.post(&format!("/api/chat/rooms/{room}/join/"), &bob, json!({}))
        .await;
    assert_eq!(
        next_json(&mut a).await,
        json!({"type": "member_added", "user": {"id": bob.id, "username": "bob"}})
    );

    send(
        &mut a,
        json!({"type": "chat_message", "content": "one", "client_id": "k-1"}),
    )
    .await;
    let first = next_of(&mut a, "chat_message").await;
    // The same client_id again: nothing new is stored, the sender gets the first message back.
    send(
        &mut a,
        json!({"type": "chat_message", "content": "one", "client_id": "k-1"}),
    )
    .await;
    let again = next_of(&mut a, "chat_message").await;
    assert_eq!(again["message"]["id"], first["message"]["id"]);
    // The burst of two is spent: the third message is refused, the socket stays open.
    send(&mut a, json!({"type": "chat_message", "content": "three"})).await;
    let refused = next_json(&mut a).await;
    assert_eq!(
        (refused["type"].clone(), refused["code"].clone()),
        (json!("error"), json!("rate_limited")),
        "{refused}"
    );
    send(&mut a, json!({"type": "ping"})).await;
    assert_eq!(next_json(&mut a).await["type"], "pong");
    let (_, history) = app.get(&format!("/api/chat/rooms/{room}/messages/"), &alice).await;
    assert_eq!(history["results"].as_array().unwrap().len(), 1);
}
