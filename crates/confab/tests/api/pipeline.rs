//! The message-posting path under concurrency: many posters at once (REST and
//! socket), one socket sending many frames without waiting for the answers,
//! bad posts among good ones, `client_id` retries racing the first attempt,
//! and read receipts. Whatever the server batches or pipelines internally,
//! every client must see what the contract promises: each stored message
//! exactly once per socket, in ascending id order, and every post answered
//! on its own merits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use futures::{SinkExt, Stream, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::{id_of, messages_path, page_ids, spawn_app_with, TestApp, TestUser};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Only there to turn a hang into a failure: no assertion depends on timing.
const WAIT: Duration = Duration::from_secs(30);

/// Frames about who is here, which these tests do not look at.
const IGNORED: &[&str] = &["user_joined", "user_left", "member_added", "notification"];

const CONTENT_TOO_LONG: &str = "Ensure this field has no more than 5000 characters.";

/// A server whose socket rate limit does not get in the way of these tests.
async fn spawn_unthrottled() -> TestApp {
    spawn_app_with(|c| {
        c.ws_message_rate = 10_000;
        c.ws_message_burst = 10_000;
    })
    .await
}

fn user_ref(user: &TestUser) -> Value {
    json!({"id": user.id, "username": user.username})
}

fn assert_ascending(ids: &[i64], what: &str) {
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "{what}: ids must strictly increase: {ids:?}"
    );
}

/// A user's REST client that a spawned task can own.
#[derive(Clone)]
struct Rest {
    client: reqwest::Client,
    origin: String,
    token: String,
}

impl Rest {
    fn new(app: &TestApp, user: &TestUser) -> Self {
        Self {
            client: app.client.clone(),
            origin: format!("http://{}", app.addr),
            token: user.token.clone(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .json(&body)
            .timeout(WAIT)
            .send()
            .await
            .expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status} with a non-JSON body: {text}"));
        (status, json)
    }
}

/// One history page, expecting a 200.
async fn history(app: &TestApp, room: i64, user: &TestUser, query: &str) -> Value {
    let (status, page) = app.get(&format!("{}{query}", messages_path(room)), user).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page
}

/// Every listed message of a room, oldest first, walking `next` links back
/// from the newest page of `limit`.
async fn all_messages(app: &TestApp, room: i64, user: &TestUser, limit: usize) -> Vec<Value> {
    let mut page = history(app, room, user, &format!("?limit={limit}")).await;
    let origin = format!("http://{}", app.addr);
    let mut pages = Vec::new();
    loop {
        let next = page["next"].clone();
        let results = page["results"].as_array().expect("results").clone();
        assert!(results.len() <= limit, "a page holds at most {limit}: {page}");
        pages.push(results);
        let Some(link) = next.as_str() else {
            assert!(next.is_null(), "{next}");
            break;
        };
        let path = link
            .strip_prefix(&origin)
            .unwrap_or_else(|| panic!("{link} is not an absolute URL of {origin}"));
        let (status, older) = app.get(path, user).await;
        assert_eq!(status, StatusCode::OK, "{link}: {older}");
        page = older;
    }
    pages.into_iter().rev().flatten().collect()
}

// ---------------------------------------------------------------- sockets

async fn connect(app: &TestApp, path_and_query: &str) -> Socket {
    let url = format!("ws://{}{path_and_query}", app.addr);
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("a handshake in time")
        .expect("handshake completes")
        .0
}

/// A room socket past its `connection_established`.
async fn room_socket(app: &TestApp, room: i64, user: &TestUser) -> Socket {
    let mut socket = connect(app, &format!("/ws/chat/{room}/?token={}", user.token)).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    socket
}

/// A user socket past its `connection_established`, which lists `rooms`.
async fn user_socket(app: &TestApp, user: &TestUser, rooms: &[i64]) -> Socket {
    let mut socket = connect(app, &format!("/ws/chat/?token={}", user.token)).await;
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["type"], "connection_established", "{hello}");
    let mut listed: Vec<i64> = hello["rooms"]
        .as_array()
        .unwrap_or_else(|| panic!("{hello}"))
        .iter()
        .map(|r| r.as_i64().unwrap())
        .collect();
    listed.sort_unstable();
    let mut expected = rooms.to_vec();
    expected.sort_unstable();
    assert_eq!(listed, expected, "{hello}");
    socket
}

/// The next text frame as JSON, skipping pings.
async fn next_json<S>(stream: &mut S) -> Value
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    // One deadline for the whole wait: the server's pings must not keep a
    // test that waits for a frame that never comes alive forever.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("a frame in time")
            .expect("the socket is open");
        match message.expect("no protocol error") {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// The next frame whose type is one of `kinds`, skipping presence and
/// notification frames; any other frame fails the test.
async fn next_of<S>(stream: &mut S, kinds: &[&str]) -> Value
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    loop {
        let frame = next_json(stream).await;
        let kind = frame["type"].as_str().unwrap_or_default();
        if kinds.contains(&kind) {
            return frame;
        }
        assert!(IGNORED.contains(&kind), "expected one of {kinds:?}, got {frame}");
    }
}

/// The next `chat_message` frame (an `error` frame fails the test).
async fn next_message<S>(stream: &mut S) -> Value
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    next_of(stream, &["chat_message"]).await
}

/// Reads `chat_message` frames until the one of message `last`; returns
/// every message id seen, `last` included.
async fn message_ids_through<S>(stream: &mut S, last: i64) -> Vec<i64>
where
    S: Stream<Item = Result<Message, tungstenite::Error>> + Unpin,
{
    let mut ids = Vec::new();
    loop {
        let id = id_of(&next_message(stream).await["message"]);
        ids.push(id);
        if id == last {
            return ids;
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.unwrap();
}

// ---------------------------------------------------------------- tests

/// Eight members post 25 messages each at the same time, half over REST and
/// half as `chat_message` frames on their sockets: every socket receives
/// every acknowledged message exactly once, in ascending id order, and the
/// history lists exactly those messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posters_into_one_room_reach_every_socket_once_in_id_order() {
    const POSTERS: usize = 8;
    const POSTS: usize = 25;
    const TOTAL: usize = POSTERS * POSTS;
    let app = spawn_unthrottled().await;
    let mut users = Vec::new();
    for i in 0..POSTERS {
        users.push(app.developer(&format!("poster{i}")).await);
    }
    let room = app.room(&users[0], "busy", "public").await;
    for user in &users[1..] {
        app.join(room, user).await;
    }
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push(room_socket(&app, room, user).await);
    }

    let path = messages_path(room);
    let tasks: Vec<_> = sockets
        .into_iter()
        .zip(users.iter().cloned())
        .enumerate()
        .map(|(i, (socket, user))| {
            let rest = Rest::new(&app, &user);
            let path = path.clone();
            tokio::spawn(async move {
                let over_socket = i % 2 == 1;
                let (mut sink, mut stream) = socket.split();
                // What this poster was told it stored: (id, client_id, content).
                let posting = async {
                    let mut acknowledged = Vec::new();
                    for n in 0..POSTS {
                        let (client_id, content) = (format!("c{i}-{n}"), format!("poster {i} says {n}"));
                        let body = json!({"content": content, "client_id": client_id});
                        if over_socket {
                            let mut frame = body;
                            frame["type"] = json!("chat_message");
                            sink.send(Message::text(frame.to_string())).await.unwrap();
                        } else {
                            let (status, message) = rest.post(&path, body).await;
                            assert_eq!(status, StatusCode::CREATED, "{message}");
                            assert_eq!(
                                (&message["client_id"], &message["content"]),
                                (&json!(client_id), &json!(content))
                            );
                            acknowledged.push(id_of(&message));
                        }
                    }
                    acknowledged
                };
                let receiving = async {
                    let mut received = Vec::with_capacity(TOTAL);
                    let mut echoes = Vec::new();
                    while received.len() < TOTAL {
                        let message = next_message(&mut stream).await["message"].clone();
                        if message["sender"]["id"] == user.id {
                            echoes.push(message.clone());
                        }
                        received.push(id_of(&message));
                    }
                    (received, echoes)
                };
                let (mut acknowledged, (received, echoes)) = tokio::join!(posting, receiving);
                if over_socket {
                    // A socket post is acknowledged by its echo, carrying its client_id.
                    let expected: Vec<(String, String)> = (0..POSTS)
                        .map(|n| (format!("c{i}-{n}"), format!("poster {i} says {n}")))
                        .collect();
                    let echoed: Vec<(String, String)> = echoes
                        .iter()
                        .map(|m| {
                            (
                                m["client_id"].as_str().unwrap_or_default().to_owned(),
                                m["content"].as_str().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect();
                    assert_eq!(echoed, expected, "poster {i}: one echo per frame, in the order sent");
                    acknowledged = echoes.iter().map(id_of).collect();
                } else {
                    let echoed: Vec<i64> = echoes.iter().map(id_of).collect();
                    assert_eq!(echoed, acknowledged, "poster {i} hears its own REST posts in order");
                }
                (
                    acknowledged,
                    received,
                    sink.reunite(stream).expect("halves of one socket"),
                )
            })
        })
        .collect();

    let mut acknowledged = HashSet::new();
    let mut seen_by_socket = Vec::new();
    let mut sockets = Vec::new();
    for task in tasks {
        let (acked, received, socket) = task.await.expect("poster task");
        assert_ascending(&acked, "one poster's messages, in the order posted");
        for id in acked {
            assert!(acknowledged.insert(id), "id {id} acknowledged twice");
        }
        seen_by_socket.push(received);
        sockets.push(socket);
    }
    assert_eq!(acknowledged.len(), TOTAL);
    let mut expected: Vec<i64> = acknowledged.iter().copied().collect();
    expected.sort_unstable();
    for (i, received) in seen_by_socket.iter().enumerate() {
        assert_ascending(received, &format!("socket of poster {i}"));
        assert_eq!(received, &expected, "socket of poster {i}: every message exactly once");
    }

    // Nothing more is on its way: the next frame on every socket is a later post.
    let (status, last) = app.post(&path, &users[0], json!({"content": "the end"})).await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    for (i, socket) in sockets.iter_mut().enumerate() {
        let frame = next_message(socket).await;
        assert_eq!(
            frame["message"]["id"], last["id"],
            "socket of poster {i}: no extra frame"
        );
    }

    // The history: one page of 200, then the same walking back in pages of 30.
    let page = history(&app, room, &users[3], "?limit=200").await;
    let mut with_last = expected.clone();
    with_last.push(id_of(&last));
    assert_eq!(page_ids(&page), with_last[1..].to_vec(), "the newest 200, oldest first");
    let listed: Vec<i64> = all_messages(&app, room, &users[3], 30)
        .await
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed, with_last, "every message once, ascending, across pages");
}

/// One poster per room, six rooms at once (half over REST, half over their
/// user socket): a member of every room hears every message on its user
/// socket, tagged with its room, once each and in id order per room.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posters_into_many_rooms() {
    const ROOMS: usize = 6;
    const POSTS: usize = 30;
    let app = spawn_unthrottled().await;
    let watcher = app.developer("watcher").await;
    let mut posters = Vec::new();
    let mut rooms = Vec::new();
    for i in 0..ROOMS {
        let poster = app.developer(&format!("poster{i}")).await;
        let room_type = if i % 2 == 0 { "public" } else { "group" };
        let room = app.room(&watcher, &format!("room {i}"), room_type).await;
        app.add_member(room, &watcher, &poster, "member").await;
        posters.push(poster);
        rooms.push(room);
    }
    let mut watching = user_socket(&app, &watcher, &rooms).await;
    let mut poster_sockets = Vec::new();
    for (i, poster) in posters.iter().enumerate() {
        poster_sockets.push(user_socket(&app, poster, &rooms[i..=i]).await);
    }

    let tasks: Vec<_> = poster_sockets
        .into_iter()
        .zip(posters.iter().cloned())
        .zip(rooms.iter().copied())
        .enumerate()
        .map(|(i, ((mut socket, poster), room))| {
            let rest = Rest::new(&app, &poster);
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                if i % 2 == 0 {
                    for n in 0..POSTS {
                        let body = json!({"content": format!("{i}/{n}"), "client_id": format!("r{i}-{n}")});
                        let (status, message) = rest.post(&messages_path(room), body).await;
                        assert_eq!(status, StatusCode::CREATED, "{message}");
                        assert_eq!(message["room"], room, "{message}");
                        acknowledged.push(id_of(&message));
                    }
                } else {
                    for n in 0..POSTS {
                        let frame = json!({"type": "chat_message", "room": room, "content": format!("{i}/{n}"), "client_id": format!("r{i}-{n}")});
                        socket.feed(Message::text(frame.to_string())).await.unwrap();
                    }
                    socket.flush().await.unwrap();
                    // Only this poster speaks in its room: every echo is its own, in the order sent.
                    for n in 0..POSTS {
                        let frame = next_message(&mut socket).await;
                        assert_eq!(frame["room"], room, "{frame}");
                        assert_eq!(frame["message"]["client_id"], format!("r{i}-{n}"), "{frame}");
                        acknowledged.push(id_of(&frame["message"]));
                    }
                }
                acknowledged
            })
        })
        .collect();

    // The watcher reads while the posters post.
    let mut received: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for _ in 0..ROOMS * POSTS {
        let frame = next_message(&mut watching).await;
        let room = frame["room"]
            .as_i64()
            .unwrap_or_else(|| panic!("a user socket's frame names its room: {frame}"));
        assert!(rooms.contains(&room), "{frame}");
        assert_eq!(frame["message"]["room"], room, "{frame}");
        received.entry(room).or_default().push(id_of(&frame["message"]));
    }
    for (i, (task, room)) in tasks.into_iter().zip(&rooms).enumerate() {
        let acknowledged = task.await.expect("poster task");
        assert_eq!(acknowledged.len(), POSTS);
        assert_ascending(&acknowledged, &format!("poster {i}, in the order posted"));
        let heard = received.get(room).cloned().unwrap_or_default();
        assert_ascending(&heard, &format!("room {i} on the watcher's socket"));
        assert_eq!(heard, acknowledged, "room {i}: every message exactly once");
        let listed: Vec<i64> = all_messages(&app, *room, &watcher, 200)
            .await
            .iter()
            .map(id_of)
            .collect();
        assert_eq!(listed, acknowledged, "room {i}: the history");
    }

    // Nothing more is on its way.
    let (status, last) = app
        .post(&messages_path(rooms[0]), &watcher, json!({"content": "the end"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    let frame = next_message(&mut watching).await;
    assert_eq!(frame["message"]["id"], last["id"], "no extra frame: {frame}");
}

/// Forty posts into one room at once, a few of them bad: each bad one is
/// refused on its own (400 naming the field, 403 for a non-member), every
/// good one is stored and broadcast, and a refused `client_id` stays free.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_bad_post_in_a_batch_fails_alone() {
    const POSTS: usize = 40;
    let app = spawn_unthrottled().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let carol = app.developer("carol").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let other = app.room(&alice, "random", "public").await;
    let path = messages_path(room);
    let post_ok = |user: &TestUser, room: i64, body: Value| {
        let (app, user) = (&app, user.clone());
        async move {
            let (status, message) = app.post(&messages_path(room), &user, body).await;
            assert_eq!(status, StatusCode::CREATED, "{message}");
            id_of(&message)
        }
    };
    let live = post_ok(&bob, room, json!({"content": "live", "client_id": "earlier"})).await;
    let elsewhere = post_ok(&alice, other, json!({"content": "elsewhere"})).await;
    let gone = post_ok(&alice, room, json!({"content": "gone"})).await;
    let (status, body) = app.delete(&format!("/api/chat/messages/{gone}/delete/"), &alice).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let mut watching = room_socket(&app, room, &bob).await;

    let invalid_pk = |id: i64| format!("Invalid pk \"{id}\" - object does not exist.");
    // post index -> (sender, fields replacing the default body, the answer expected)
    enum Expect {
        Created,
        /// The first message stored with this client_id.
        Retry(i64),
        Field(&'static str, String),
        Forbidden,
    }
    let special: HashMap<usize, (&TestUser, Value, Expect)> = HashMap::from([
        (
            5,
            (
                &alice,
                json!({"reply_to": 999_999}),
                Expect::Field("reply_to", invalid_pk(999_999)),
            ),
        ),
        (
            12,
            (
                &bob,
                json!({"reply_to": elsewhere}),
                Expect::Field("reply_to", invalid_pk(elsewhere)),
            ),
        ),
        (
            19,
            (
                &alice,
                json!({"reply_to": gone}),
                Expect::Field("reply_to", invalid_pk(gone)),
            ),
        ),
        (
            26,
            (
                &bob,
                json!({"content": "x".repeat(5001)}),
                Expect::Field("content", CONTENT_TOO_LONG.to_owned()),
            ),
        ),
        (
            29,
            (
                &alice,
                json!({"reply_to": "abc"}),
                Expect::Field("reply_to", "A valid integer is required.".to_owned()),
            ),
        ),
        (33, (&carol, json!({}), Expect::Forbidden)),
        (8, (&alice, json!({"reply_to": live}), Expect::Created)),
        (30, (&bob, json!({"reply_to": live}), Expect::Created)),
        // Bob retries the message he sent before the batch.
        (
            37,
            (
                &bob,
                json!({"content": "live", "client_id": "earlier"}),
                Expect::Retry(live),
            ),
        ),
    ]);
    let mut tasks = Vec::new();
    for n in 0..POSTS {
        let default_sender = if n % 2 == 0 { &alice } else { &bob };
        let (sender, extra, _) = special
            .get(&n)
            .map_or((default_sender, json!({}), &Expect::Created), |(s, e, x)| {
                (*s, e.clone(), x)
            });
        let mut body = json!({"content": format!("post {n}"), "client_id": format!("batch-{n}")});
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        let (rest, path) = (Rest::new(&app, sender), path.clone());
        tasks.push(tokio::spawn(async move { rest.post(&path, body).await }));
    }
    let mut created = Vec::new();
    for (n, task) in tasks.into_iter().enumerate() {
        let (status, body) = task.await.expect("post task");
        let expect = special.get(&n).map_or(&Expect::Created, |(_, _, x)| x);
        match expect {
            Expect::Created => {
                assert_eq!(status, StatusCode::CREATED, "post {n}: {body}");
                assert_eq!(body["content"], format!("post {n}"), "post {n}");
                assert_eq!(body["client_id"], format!("batch-{n}"), "post {n}");
                if n == 8 || n == 30 {
                    assert_eq!(body["reply_to"], live, "post {n}");
                    assert_eq!(body["reply_preview"]["id"], live, "post {n}");
                }
                created.push(id_of(&body));
            }
            Expect::Retry(first) => {
                assert_eq!(status, StatusCode::OK, "post {n}: {body}");
                assert_eq!(id_of(&body), *first, "post {n}: the first message");
                assert_eq!(body["content"], "live", "post {n}");
            }
            Expect::Field(field, message) => {
                assert_eq!(
                    (status, &body),
                    (StatusCode::BAD_REQUEST, &json!({ *field: [message] })),
                    "post {n}"
                );
            }
            Expect::Forbidden => {
                assert_eq!(status, StatusCode::FORBIDDEN, "post {n}: {body}");
                assert!(body["detail"].is_string(), "post {n}: {body}");
                assert_eq!(body.as_object().map(|o| o.len()), Some(1), "post {n}: {body}");
            }
        }
    }
    assert_eq!(created.len(), POSTS - 7);
    created.sort_unstable();

    // Only the good ones were stored, and the socket heard exactly those.
    let mut stored = vec![live];
    stored.extend(&created);
    let listed: Vec<i64> = all_messages(&app, room, &alice, 200).await.iter().map(id_of).collect();
    assert_eq!(listed, stored, "every good post and nothing else");
    let other_listed: Vec<i64> = all_messages(&app, other, &alice, 200).await.iter().map(id_of).collect();
    assert_eq!(other_listed, vec![elsewhere], "nothing leaked into the other room");
    let heard = message_ids_through(&mut watching, *created.last().unwrap()).await;
    assert_eq!(heard, created, "each good post once, in id order");

    // A refused post stored nothing under its client_id: sent again, valid, it is new.
    for n in [5, 12, 19, 26, 29] {
        let sender = special[&n].0;
        let (status, body) = app
            .post(
                &path,
                sender,
                json!({"content": format!("post {n} again"), "client_id": format!("batch-{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "post {n} again: {body}");
        assert_eq!(body["content"], format!("post {n} again"));
        let frame = next_message(&mut watching).await;
        assert_eq!(frame["message"]["id"], body["id"], "no frame of a refused post");
    }
}

/// One socket sends sixty `chat_message` frames back to back without
/// waiting: the answers come back in the order sent (an echo per stored
/// message, an `error` for the invalid frame, the first message again for a
/// retried `client_id`), and another member hears each stored message once.
///
/// A regression test: before the socket-pipelining change (c9bd80f) the
/// server wrote an `error` frame or a retry's answer straight to the socket
/// while the echoes of earlier frames still waited in the socket's queue, so
/// those answers could overtake the echoes of the frames sent before them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pipelined_socket_frames_are_answered_in_order() {
    const FRAMES: usize = 60;
    const INVALID: usize = 20;
    const RETRY: usize = 40;
    const RETRIED: usize = 10;
    let app = spawn_unthrottled().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let mut sender = room_socket(&app, room, &alice).await;
    let mut listener = room_socket(&app, room, &bob).await;

    for n in 1..=FRAMES {
        let frame = match n {
            INVALID => json!({"type": "chat_message", "content": "20", "client_id": "p-20", "reply_to": "x"}),
            // A retry of frame 10, as a client resending after a reconnect would.
            RETRY => json!({"type": "chat_message", "content": "10", "client_id": "p-10"}),
            n => json!({"type": "chat_message", "content": n.to_string(), "client_id": format!("p-{n}")}),
        };
        sender.feed(Message::text(frame.to_string())).await.unwrap();
    }
    sender.flush().await.unwrap();

    let mut echoes: BTreeMap<usize, i64> = BTreeMap::new();
    let mut stored = Vec::new();
    for n in 1..=FRAMES {
        let answer = next_of(&mut sender, &["chat_message", "error"]).await;
        match n {
            INVALID => {
                assert_eq!(answer["type"], "error", "answer {n}: {answer}");
                assert_eq!(answer["code"], "invalid_field", "answer {n}: {answer}");
                let detail = answer["detail"].as_str().unwrap_or_default();
                assert!(detail.contains("reply_to"), "answer {n} names the field: {answer}");
            }
            RETRY => {
                assert_eq!(answer["type"], "chat_message", "answer {n}: {answer}");
                let message = &answer["message"];
                assert_eq!(message["client_id"], "p-10", "answer {n}: {answer}");
                assert_eq!(
                    id_of(message),
                    echoes[&RETRIED],
                    "answer {n}: the first message with that client_id"
                );
                assert_eq!(message["content"], "10", "answer {n}");
            }
            n => {
                assert_eq!(answer["type"], "chat_message", "answer {n}: {answer}");
                let message = &answer["message"];
                assert_eq!(message["client_id"], format!("p-{n}"), "answer {n}: {answer}");
                assert_eq!(message["content"], n.to_string(), "answer {n}");
                assert_eq!(message["sender"], user_ref(&alice), "answer {n}");
                echoes.insert(n, id_of(message));
                stored.push(id_of(message));
            }
        }
    }
    assert_eq!(stored.len(), FRAMES - 2);
    assert_ascending(&stored, "echoes, in the order the frames were sent");

    // The other member hears only what was stored, once each, in id order.
    let heard = message_ids_through(&mut listener, *stored.last().unwrap()).await;
    assert_eq!(heard, stored);
    let (status, last) = app
        .post(&messages_path(room), &alice, json!({"content": "the end"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{last}");
    for socket in [&mut sender, &mut listener] {
        let frame = next_message(socket).await;
        assert_eq!(frame["message"]["id"], last["id"], "no extra frame: {frame}");
    }

    let messages = all_messages(&app, room, &bob, 200).await;
    let contents: Vec<&str> = messages.iter().map(|m| m["content"].as_str().unwrap()).collect();
    let mut expected: Vec<String> = (1..=FRAMES)
        .filter(|n| ![INVALID, RETRY].contains(n))
        .map(|n| n.to_string())
        .collect();
    expected.push("the end".into());
    assert_eq!(contents, expected, "the history, in the order sent");
}

/// The same post (same sender, same `client_id`) sent five times at once
/// over REST and once over the socket: one message is stored, one attempt
/// creates it, every other is answered with it, and sockets hear it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn client_id_retries_racing_the_first_attempt() {
    const KEYS: usize = 6;
    const REST_COPIES: usize = 5;
    let app = spawn_unthrottled().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let path = messages_path(room);
    let mut sender = room_socket(&app, room, &alice).await;
    let mut listener = room_socket(&app, room, &bob).await;

    let body = |k: usize| json!({"content": format!("race {k}"), "client_id": format!("race-{k}")});
    let mut tasks = Vec::new();
    for k in 0..KEYS {
        for _ in 0..REST_COPIES {
            let (rest, path, body) = (Rest::new(&app, &alice), path.clone(), body(k));
            tasks.push((k, tokio::spawn(async move { rest.post(&path, body).await })));
        }
    }
    // Bob's own client_id "race-0" is his, not a retry of alice's.
    let bobs = {
        let (rest, path, body) = (Rest::new(&app, &bob), path.clone(), body(0));
        tokio::spawn(async move { rest.post(&path, body).await })
    };
    for k in 0..KEYS {
        let mut frame = body(k);
        frame["type"] = json!("chat_message");
        send(&mut sender, frame).await;
    }

    let mut created_over_rest = [0; KEYS];
    let mut ids: Vec<Option<i64>> = vec![None; KEYS];
    for (k, task) in tasks {
        let (status, message) = task.await.expect("post task");
        match status {
            StatusCode::CREATED => created_over_rest[k] += 1,
            StatusCode::OK => {}
            other => panic!("race-{k}: {other} {message}"),
        }
        assert_eq!(message["client_id"], format!("race-{k}"), "{message}");
        assert_eq!(message["content"], format!("race {k}"), "{message}");
        assert_eq!(message["sender"], user_ref(&alice), "{message}");
        let id = id_of(&message);
        assert_eq!(*ids[k].get_or_insert(id), id, "race-{k}: every answer is one message");
    }
    let ids: Vec<i64> = ids.into_iter().map(Option::unwrap).collect();
    let (status, bobs) = bobs.await.expect("bob's post");
    assert_eq!(status, StatusCode::CREATED, "{bobs}");
    assert!(!ids.contains(&id_of(&bobs)), "bob's race-0 is a message of its own");

    // A marker after everything: what the sockets hold before it is all there is.
    send(
        &mut sender,
        json!({"type": "chat_message", "content": "the end", "client_id": "end"}),
    )
    .await;
    let mut frames_per_id: HashMap<i64, usize> = HashMap::new();
    let last = loop {
        let message = next_message(&mut sender).await["message"].clone();
        if message["client_id"] == "end" {
            break id_of(&message);
        }
        *frames_per_id.entry(id_of(&message)).or_default() += 1;
    };
    for (k, id) in ids.iter().enumerate() {
        // Created by the socket's copy: the sender hears the broadcast only.
        // Created over REST: the broadcast, then the answer to its own copy.
        let frames = frames_per_id.get(id).copied().unwrap_or(0);
        assert!(
            (1..=2).contains(&frames),
            "race-{k}: {frames} frames on the sender's socket"
        );
        assert_eq!(
            created_over_rest[k],
            frames - 1,
            "race-{k}: exactly one attempt created the message"
        );
    }
    assert_eq!(frames_per_id.get(&id_of(&bobs)), Some(&1));

    let mut expected: Vec<i64> = ids.clone();
    expected.push(id_of(&bobs));
    expected.sort_unstable();
    expected.push(last);
    let heard = message_ids_through(&mut listener, last).await;
    assert_eq!(heard, expected, "another member hears each message once, in id order");

    let messages = all_messages(&app, room, &alice, 200).await;
    let listed: Vec<i64> = messages.iter().map(id_of).collect();
    assert_eq!(listed, expected, "one message per sender and client_id");
    let mut per_key: HashMap<(i64, String), usize> = HashMap::new();
    for m in &messages {
        let key = (m["sender"]["id"].as_i64().unwrap(), m["client_id"].to_string());
        *per_key.entry(key).or_default() += 1;
    }
    assert!(per_key.values().all(|n| *n == 1), "{per_key:?}");
}

/// Reading a message broadcasts `message_read` every time, also when the
/// reader's pointer is already past it (posting moves the sender's pointer,
/// and an older message leaves it where it is).
///
/// A regression test: before c9bd80f the server broadcast only when the
/// pointer moved, so alice's read of her own message was not broadcast.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_receipts_broadcast_even_when_the_pointer_does_not_move() {
    let app = spawn_unthrottled().await;
    let alice = app.developer("alice").await;
    let bob = app.developer("bob").await;
    let room = app.room(&alice, "general", "public").await;
    app.join(room, &bob).await;
    let path = messages_path(room);
    let (status, older) = app.post(&path, &alice, json!({"content": "older"})).await;
    assert_eq!(status, StatusCode::CREATED, "{older}");
    let (status, newer) = app.post(&path, &alice, json!({"content": "newer"})).await;
    assert_eq!(status, StatusCode::CREATED, "{newer}");
    let (older, newer) = (id_of(&older), id_of(&newer));
    let mut a = room_socket(&app, room, &alice).await;
    let mut b = room_socket(&app, room, &bob).await;

    let read = |message: i64, user: &TestUser| {
        let (app, user) = (&app, user.clone());
        async move {
            let (status, body) = app
                .post(&format!("/api/chat/messages/{message}/read/"), &user, json!({}))
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    let receipt =
        |message: i64, user: &TestUser| json!({"type": "message_read", "message_id": message, "user": user_ref(user)});

    // Alice's pointer is already at her own newest message.
    read(newer, &alice).await;
    // Bob's moves.
    read(newer, &bob).await;
    // Bob's stays where it is.
    read(older, &bob).await;
    // Over the socket too, where alice's stays where it is.
    send(&mut a, json!({"type": "mark_read", "message_id": older})).await;

    let expected = [
        receipt(newer, &alice),
        receipt(newer, &bob),
        receipt(older, &bob),
        receipt(older, &alice),
    ];
    for (name, socket) in [("alice", &mut a), ("bob", &mut b)] {
        for (i, receipt) in expected.iter().enumerate() {
            let frame = next_of(socket, &["message_read"]).await;
            assert_eq!(&frame, receipt, "{name}'s socket, receipt {i}");
        }
    }
    // The pointers only ever moved forward.
    let (_, page) = app.get(&format!("{path}?limit=2"), &bob).await;
    let flags: Vec<(i64, bool)> = page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (id_of(m), m["is_read"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, vec![(older, true), (newer, true)]);
}
