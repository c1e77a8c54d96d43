//! Several nodes as one server: `confab serve` processes sharing one
//! PostgreSQL (or MariaDB) database and one Redis, spoken to over HTTP and
//! WebSockets as clients would. Each test has its own database and Redis
//! key prefix; the Redis-outage test runs its own `redis-server` on a spare
//! port. Without PostgreSQL, MariaDB or Redis the tests skip with a message,
//! unless `CONFAB_REQUIRE_SERVICES=1` (CI).

#[path = "common/process.rs"]
mod process;
#[path = "common/testdb.rs"]
mod testdb;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use confab::auth::accounts;
use confab::auth::jwt::TokenType;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use testdb::{services_required, Backend, TestDatabase};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "cluster-test-secret-0123456789";
const WAIT: Duration = Duration::from_secs(20);

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// `Some(url)` when a Redis answers at `url`, else `None` after saying so.
fn redis_available(url: &str) -> bool {
    let up = redis::Client::open(url)
        .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(2)))
        .and_then(|mut connection| redis::cmd("PING").query::<String>(&mut connection))
        .is_ok();
    if !up {
        assert!(
            !services_required(),
            "Redis is required (CONFAB_REQUIRE_SERVICES=1) but does not answer at {url}"
        );
        eprintln!("skipping the cluster checks: no Redis at {url} (set CONFAB_REQUIRE_SERVICES=1 to fail instead)");
    }
    up
}

fn shared_redis_url() -> String {
    std::env::var("CONFAB_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// A database for the cluster, or `None` (after saying so) when its server is down.
async fn database(backend: Backend) -> Option<TestDatabase> {
    match TestDatabase::create(backend).await {
        Ok(db) => Some(db),
        Err(reason) if !services_required() => {
            eprintln!("skipping the cluster checks on {}: {reason}", backend.name());
            None
        }
        Err(reason) => panic!("{} is required but unusable: {reason}", backend.name()),
    }
}

/// One `confab serve` process.
struct Node {
    child: Child,
    addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl Node {
    /// A node of the cluster on `database_url`, `redis_url` and `prefix`,
    /// with `extra` settings (`CONFAB_...` variables).
    fn start(database_url: &str, redis_url: &str, prefix: &str, extra: &[(&str, &str)]) -> Node {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CONFAB_BIND", "127.0.0.1:0")
            .env("CONFAB_DATA_DIR", data.path())
            .env("CONFAB_DATABASE_URL", database_url)
            .env("CONFAB_REDIS_URL", redis_url)
            .env("CONFAB_REDIS_PREFIX", prefix)
            .env("CONFAB_JWT_SECRET", SECRET)
            .env("CONFAB_CLUSTER_HEARTBEAT", "1")
            .env("CONFAB_CLUSTER_NODE_TTL", "6")
            // Generous budgets: the senders here are scripts.
            .env("CONFAB_WS_MESSAGE_RATE", "1000")
            .env("CONFAB_WS_MESSAGE_BURST", "1000")
            .env("CONFAB_LOG_FORMAT", "json")
            .env("CONFAB_LOG", "info,confab=debug,sqlx=warn,sea_orm=warn")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("confab starts");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (found, addr) = std::sync::mpsc::channel();
        // Reads the log until the node says where it listens, then keeps
        // draining it (a full pipe would stall the node).
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in stderr.lines() {
                let Ok(line) = line else { break };
                if std::env::var("CONFAB_TEST_NODE_LOGS").is_ok() {
                    eprintln!("{line}");
                }
                let Some(sender) = &found else { continue };
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    if let Some(addr) = entry["fields"]["addr"].as_str().and_then(|a| a.parse().ok()) {
                        let _ = sender.send(addr);
                        found = None;
                    }
                }
            }
        });
        let addr = addr
            .recv_timeout(Duration::from_secs(60))
            .expect("the node says where it listens");
        Node {
            child,
            addr,
            _data: data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Nodes on one database and one Redis prefix, and the users of the test.
struct Cluster {
    nodes: Vec<Node>,
    database_url: String,
    redis_url: String,
    prefix: String,
    http: reqwest::Client,
    _db: TestDatabase,
}

struct User {
    id: i64,
    name: String,
    token: String,
}

impl Cluster {
    /// `None` when the services are not there (and not required).
    async fn start(nodes: usize, backend: Backend, redis_url: Option<String>) -> Option<Cluster> {
        let redis_url = redis_url.unwrap_or_else(shared_redis_url);
        if !redis_available(&redis_url) {
            return None;
        }
        let db = database(backend).await?;
        let database_url = db.url.clone().expect("a server database");
        let prefix = format!("confab-test-{:016x}", rand::random::<u64>());
        let mut cluster = Cluster {
            nodes: Vec::new(),
            database_url,
            redis_url,
            prefix,
            // Every request has a deadline: a node that stops answering fails
            // the test instead of hanging it.
            http: reqwest::Client::builder().timeout(WAIT).build().unwrap(),
            _db: db,
        };
        for _ in 0..nodes {
            cluster.add_node();
        }
        Some(cluster)
    }

    fn add_node(&mut self) -> usize {
        self.nodes
            .push(Node::start(&self.database_url, &self.redis_url, &self.prefix, &[]));
        self.nodes.len() - 1
    }

    /// Developers created straight in the database, with tokens every node accepts.
    async fn users(&self, names: &[&str]) -> Vec<User> {
        let config = confab::config::Config {
            database_url: Some(self.database_url.clone()),
            jwt_secret: Some(SECRET.into()),
            data_dir: std::env::temp_dir(),
            ..Default::default()
        };
        let state = confab::app::AppState::open(config).await.unwrap();
        let mut users = Vec::new();
        for name in names {
            let user = accounts::create_user(&state.store, name, "long enough password", true)
                .await
                .unwrap();
            users.push(User {
                id: user.id,
                name: name.to_string(),
                token: state.jwt.issue(user.id, TokenType::Access),
            });
        }
        state.store.close().await;
        users
    }

    /// A room made by `owner` through node `node`, with `members` added.
    async fn room(&self, node: usize, owner: &User, members: &[&User]) -> i64 {
        let body = json!({"name": format!("ops-{}", rand::random::<u32>()), "room_type": "group"});
        let (status, room) = self.call(node, owner, "POST", "/api/chat/rooms/", Some(body)).await;
        assert_eq!(status, 201, "{room}");
        let id = room["id"].as_i64().expect("a room");
        for member in members {
            let path = format!("/api/chat/rooms/{id}/members/");
            let (status, body) = self
                .call(node, owner, "POST", &path, Some(json!({"user_id": member.id})))
                .await;
            assert_eq!(status, 201, "{body}");
        }
        id
    }

    async fn call(&self, node: usize, user: &User, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = self.nodes[node].url(path);
        let request = match method {
            "POST" => self.http.post(url),
            "PATCH" => self.http.patch(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.get(url),
        };
        let request = request.bearer_auth(&user.token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.expect("the node answers");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Posts `content` to `room` over REST through node `node`; the new message's id.
    async fn post(&self, node: usize, user: &User, room: i64, content: &str) -> i64 {
        let path = format!("/api/chat/rooms/{room}/messages/");
        let (status, body) = self
            .call(node, user, "POST", &path, Some(json!({"content": content})))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_i64().unwrap()
    }

    async fn socket(&self, node: usize, user: &User, room: i64, query: &str) -> Socket {
        let url = format!(
            "ws://{}/ws/chat/{room}/?token={}{query}",
            self.nodes[node].addr, user.token
        );
        let mut socket = open_socket(&url).await;
        let greeting = next_json(&mut socket).await;
        assert_eq!(greeting["type"], "connection_established", "{greeting}");
        socket
    }

    /// Waits until `user` is (or is not) listed online in `room`, as node `node` sees it.
    async fn wait_online(&self, node: usize, asker: &User, room: i64, user: &User, online: bool) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (_, members) = self
                .call(node, asker, "GET", &format!("/api/chat/rooms/{room}/members/"), None)
                .await;
            let listed = members
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["user"]["id"] == user.id && m["is_online"] == true);
            if listed == online {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} still {} on node {node}: {members}",
                user.name,
                if online { "offline" } else { "online" }
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every message of the room in the database, by id, oldest first.
    async fn history_ids(&self, user: &User, room: i64) -> Vec<i64> {
        let mut ids = Vec::new();
        let mut after = 0;
        loop {
            let path = format!("/api/chat/rooms/{room}/messages/?limit=200&after={after}");
            let (_, page) = self.call(0, user, "GET", &path, None).await;
            let batch: Vec<i64> = page["results"]
                .as_array()
                .expect("a page")
                .iter()
                .map(|m| m["id"].as_i64().unwrap())
                .collect();
            let Some(&last) = batch.last() else { return ids };
            ids.extend(batch);
            after = last;
        }
    }

    async fn readyz(&self, node: usize) -> (u16, Value) {
        let response = self.http.get(self.nodes[node].url("/readyz")).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// A WebSocket to `url`, handshake within [`WAIT`].
async fn open_socket(url: &str) -> Socket {
    let (socket, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
        .await
        .expect("a handshake in time")
        .expect("handshake");
    socket
}

async fn next_json(socket: &mut Socket) -> Value {
    // One deadline for the whole wait: the server's pings, skipped below,
    // must not renew it (they did, and a missing frame hung the suite).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("no protocol error");
        match message {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => continue,
        }
    }
}

/// The next frame of `kind`, skipping the others (for at most [`WAIT`]).
async fn next_of(socket: &mut Socket, kind: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = next_json(socket).await;
        if frame["type"] == kind {
            return frame;
        }
        assert!(Instant::now() < deadline, "no {kind} in time (last: {frame})");
    }
}

/// Asserts nothing of `kind` arrives within `quiet`.
async fn none_of(socket: &mut Socket, kind: &str, quiet: Duration) {
    let deadline = tokio::time::Instant::now() + quiet;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.next()).await {
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(frame["type"], kind, "unexpected {frame}");
        }
    }
}

async fn expect_close(socket: &mut Socket, code: u16) {
    let deadline = Instant::now() + WAIT;
    loop {
        assert!(Instant::now() < deadline, "no close {code} in time");
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("a close in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), code, "{frame:?}");
                return;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected close {code}, got {other:?}"),
        }
    }
}

/// Reads `chat_message` frames until `expected` ids have arrived; asserts
/// each arrives once, in ascending order.
async fn collect_messages(socket: &mut Socket, expected: usize, who: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = Vec::with_capacity(expected);
    while ids.len() < expected {
        let frame = next_json(socket).await;
        if frame["type"] != "chat_message" {
            assert!(frame["type"] != "resync_required", "{who} was told to resync");
            continue;
        }
        let id = frame["message"]["id"].as_i64().unwrap();
        if let Some(&last) = ids.last() {
            assert!(id > last, "{who}: message {id} after {last} (out of order or twice)");
        }
        ids.push(id);
    }
    ids
}

/// Reads frames until the one with change number `up_to`; asserts the
/// changes after `after` arrive each once, with no number missing, in order.
/// Returns the history-changing frames.
async fn collect_changes(socket: &mut Socket, after: i64, up_to: i64, who: &str) -> Vec<Value> {
    let mut changes: Vec<Value> = Vec::new();
    let mut last = after;
    while last < up_to {
        let frame = next_json(socket).await;
        assert!(frame["type"] != "resync_required", "{who} was told to resync");
        let Some(change_seq) = frame["change_seq"].as_i64() else {
            continue;
        };
        assert_eq!(change_seq, last + 1, "{who}: change {change_seq} after {last}: {frame}");
        last = change_seq;
        changes.push(frame);
    }
    changes
}

/// The room's change number now.
async fn change_seq_of(cluster: &Cluster, user: &User, room: i64) -> i64 {
    let (status, body) = cluster
        .call(0, user, "GET", &format!("/api/chat/rooms/{room}/"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["change_seq"].as_i64().expect("a change number")
}

/// Posts, edits and reactions made on two nodes at once reach a socket on a
/// third in the room's change order, every number once: the sequencer orders
/// every kind of change, not only posts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_crosses_nodes_in_order() {
    let Some(cluster) = Cluster::start(3, Backend::Postgres, None).await else {
        return;
    };
    let users = cluster.users(&["ann", "bob", "cat"]).await;
    let room = cluster.room(0, &users[0], &[&users[1], &users[2]]).await;
    let target = cluster.post(0, &users[0], room, "react to me").await;
    let start = change_seq_of(&cluster, &users[2], room).await;
    let mut watcher = cluster.socket(2, &users[2], room, &format!("&since={start}")).await;

    const ROUNDS: usize = 12;
    let cluster = Arc::new(cluster);
    let users = Arc::new(users);
    let mut workers = Vec::new();
    for (i, emoji) in ["👍", "🎉"].into_iter().enumerate() {
        let (cluster, users) = (cluster.clone(), users.clone());
        workers.push(tokio::spawn(async move {
            let user = &users[i];
            let reactions = format!("/api/chat/messages/{target}/reactions/");
            for n in 0..ROUNDS {
                let (status, body) = cluster
                    .call(i, user, "POST", &reactions, Some(json!({ "emoji": emoji })))
                    .await;
                assert_eq!(status, 201, "{body}");
                let own = cluster.post(i, user, room, &format!("{} {n}", user.name)).await;
                let (status, body) = cluster
                    .call(
                        i,
                        user,
                        "PATCH",
                        &format!("/api/chat/messages/{own}/"),
                        Some(json!({"content": format!("{} {n}, edited", user.name)})),
                    )
                    .await;
                assert_eq!(status, 200, "{body}");
                let path = format!("{reactions}{}/", urlencoding(emoji));
                let (status, body) = cluster.call(i, user, "DELETE", &path, None).await;
                assert_eq!(status, 204, "{body}");
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let cat = &users[2];
    let up_to = change_seq_of(&cluster, cat, room).await;
    assert_eq!(up_to - start, (2 * ROUNDS * 4) as i64, "four changes a round per user");
    let changes = collect_changes(&mut watcher, start, up_to, "cat on the third node").await;
    let count = |kind: &str| changes.iter().filter(|f| f["type"] == kind).count();
    assert_eq!(count("reaction_added"), 2 * ROUNDS);
    assert_eq!(count("reaction_removed"), 2 * ROUNDS);
    assert_eq!(count("chat_message"), 2 * ROUNDS);
    assert_eq!(count("message_edited"), 2 * ROUNDS);
    // Each edit comes after the post it edits.
    for (position, frame) in changes.iter().enumerate() {
        if frame["type"] == "message_edited" {
            let id = &frame["message"]["id"];
            assert!(
                changes[..position]
                    .iter()
                    .any(|f| f["type"] == "chat_message" && &f["message"]["id"] == id),
                "edit before its post: {frame}"
            );
        }
    }
}

/// The percent-encoding of an emoji for a path segment.
fn urlencoding(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// Clients spread over three nodes, senders on every node over sockets and
/// REST at once, all into one room: every socket gets every message once,
/// in id order, and exactly the messages the database holds.
async fn three_nodes_are_one_server(backend: Backend) {
    let Some(cluster) = Cluster::start(3, backend, None).await else {
        return;
    };
    let names = ["ann", "bob", "cat", "dan", "eve", "fay"];
    let users = cluster.users(&names).await;
    let others: Vec<&User> = users[1..].iter().collect();
    let room = cluster.room(0, &users[0], &others).await;
    let mut sockets = Vec::new();
    for (i, user) in users.iter().enumerate() {
        sockets.push(cluster.socket(i % 3, user, room, "").await);
    }
    // A user socket too, on the last node: it gets the room's frames tagged.
    let url = format!("ws://{}/ws/chat/?token={}", cluster.nodes[2].addr, users[0].token);
    let mut user_socket = open_socket(&url).await;
    assert_eq!(next_json(&mut user_socket).await["type"], "connection_established");

    const PER_SENDER: usize = 20;
    let cluster = Arc::new(cluster);
    let users = Arc::new(users);
    let mut senders = Vec::new();
    for i in 0..users.len() {
        let (cluster, users) = (cluster.clone(), users.clone());
        senders.push(tokio::spawn(async move {
            // Over REST through the node after the socket's.
            for n in 0..PER_SENDER / 2 {
                cluster
                    .post((i + 1) % 3, &users[i], room, &format!("rest {i}.{n}"))
                    .await;
            }
        }));
    }
    // Over the sockets, at the same time.
    for (i, socket) in sockets.iter_mut().enumerate() {
        for n in 0..PER_SENDER / 2 {
            let frame = json!({"type": "chat_message", "content": format!("ws {i}.{n}")});
            socket.send(Message::text(frame.to_string())).await.unwrap();
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    let total = names.len() * PER_SENDER;
    let mut seen = Vec::new();
    for (i, socket) in sockets.iter_mut().enumerate() {
        seen.push(collect_messages(socket, total, names[i]).await);
    }
    let stored = cluster.history_ids(&users[0], room).await;
    assert_eq!(stored.len(), total);
    for (i, ids) in seen.iter().enumerate() {
        assert_eq!(ids, &stored, "{} saw exactly what was stored", names[i]);
    }
    let mut tagged = Vec::new();
    while tagged.len() < total {
        let frame = next_json(&mut user_socket).await;
        if frame["type"] == "chat_message" {
            assert_eq!(frame["room"], room);
            tagged.push(frame["message"]["id"].as_i64().unwrap());
        }
    }
    assert_eq!(tagged, stored, "the user socket too");
    // The hop was counted.
    let metrics = cluster.http.get(cluster.nodes[1].url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("backplane_received_total"), "{metrics}");
    assert!(metrics.contains("backplane_lag_seconds"), "{metrics}");
    assert!(metrics.contains("backplane_connected 1"), "{metrics}");
    // The subscription stayed up through the heartbeats' pings.
    assert!(!metrics.contains("backplane_reconnects_total"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_are_one_server_on_postgres() {
    three_nodes_are_one_server(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_are_one_server_on_mariadb() {
    three_nodes_are_one_server(Backend::MySql).await;
}

/// Presence, typing, member removal and room deletion cross nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_typing_removal_and_deletion_cross_nodes() {
    let Some(cluster) = Cluster::start(2, Backend::Postgres, None).await else {
        return;
    };
    let users = cluster.users(&["ann", "bob", "cat"]).await;
    let (ann, bob, cat) = (&users[0], &users[1], &users[2]);
    let room = cluster.room(0, ann, &[bob, cat]).await;

    let mut ann_a = cluster.socket(0, ann, room, "").await;
    cluster.wait_online(1, bob, room, ann, true).await;
    // Bob on the other node sees Ann in his greeting, and Ann hears him arrive.
    let url = format!("ws://{}/ws/chat/{room}/?token={}", cluster.nodes[1].addr, bob.token);
    let mut bob_b = open_socket(&url).await;
    let greeting = next_json(&mut bob_b).await;
    let online: Vec<i64> = greeting["online"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    assert_eq!(online, [ann.id, bob.id], "{greeting}");
    let joined = next_of(&mut ann_a, "user_joined").await;
    assert_eq!(joined["user"]["id"], bob.id);

    // A second socket of Bob, on Ann's node: he is online already, so no one hears of it.
    let mut bob_a = cluster.socket(0, bob, room, "").await;
    none_of(&mut ann_a, "user_joined", Duration::from_millis(1500)).await;
    drop(bob_a.close(None).await);
    none_of(&mut ann_a, "user_left", Duration::from_millis(1500)).await;
    cluster.wait_online(0, ann, room, bob, true).await;

    // Typing crosses nodes, to the others only.
    ann_a
        .send(Message::text(json!({"type": "typing", "is_typing": true}).to_string()))
        .await
        .unwrap();
    let typing = next_of(&mut bob_b, "typing").await;
    assert_eq!(
        (typing["user"]["id"].as_i64(), typing["is_typing"].as_bool()),
        (Some(ann.id), Some(true))
    );

    // A sender's answers keep their place behind its echoes (the echo takes
    // the partition's path, the refusal of the next post must not overtake it).
    for content in ["first", ""] {
        let frame = json!({"type": "chat_message", "content": content});
        ann_a.send(Message::text(frame.to_string())).await.unwrap();
    }
    let echo = next_json(&mut ann_a).await;
    assert_eq!(echo["type"], "chat_message", "{echo}");
    assert_eq!(next_json(&mut ann_a).await["type"], "error");

    // Cat's user socket on node B gets a mention made on node A.
    let url = format!("ws://{}/ws/chat/?token={}", cluster.nodes[1].addr, cat.token);
    let mut cat_all = open_socket(&url).await;
    assert_eq!(next_json(&mut cat_all).await["type"], "connection_established");
    cluster.post(0, ann, room, "@cat look").await;
    let notification = next_of(&mut cat_all, "notification").await;
    assert_eq!(
        notification["notification"]["notification_type"], "mention",
        "{notification}"
    );

    // Bob removed through node A is cut off on node B; his leaving is heard once.
    let (status, body) = cluster
        .call(
            0,
            ann,
            "DELETE",
            &format!("/api/chat/rooms/{room}/members/{}/", bob.id),
            None,
        )
        .await;
    assert!(status == 204 || status == 200, "{status} {body}");
    expect_close(&mut bob_b, 4003).await;
    assert_eq!(next_of(&mut ann_a, "member_removed").await["user"]["id"], bob.id);
    assert_eq!(next_of(&mut ann_a, "user_left").await["user"]["id"], bob.id);
    let left = next_of(&mut cat_all, "member_removed").await;
    assert_eq!(left["room"], room);

    // The room deleted through node A closes its sockets on node B (4004).
    let mut cat_b = cluster.socket(1, cat, room, "").await;
    let (status, body) = cluster
        .call(0, ann, "DELETE", &format!("/api/chat/rooms/{room}/"), None)
        .await;
    assert!(status == 204 || status == 200, "{status} {body}");
    expect_close(&mut cat_b, 4004).await;
    expect_close(&mut ann_a, 4004).await;
    assert_eq!(next_of(&mut cat_all, "room_deleted").await["room"], room);
}

/// Budgets hold across nodes: a user's sockets and frame rate, counted on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_hold_across_nodes() {
    let Some(mut cluster) = Cluster::start(0, Backend::Postgres, None).await else {
        return;
    };
    // Nodes with a cap of 2 sockets per user.
    for _ in 0..2 {
        let cap = [
            ("CONFAB_WS_MAX_SOCKETS_PER_USER", "2"),
            ("CONFAB_WS_FRAME_RATE", "1"),
            ("CONFAB_WS_FRAME_BURST", "4"),
        ];
        let node = Node::start(&cluster.database_url, &cluster.redis_url, &cluster.prefix, &cap);
        cluster.nodes.push(node);
    }
    let users = cluster.users(&["ann"]).await;
    let ann = &users[0];
    let room = cluster.room(0, ann, &[]).await;
    let mut first = cluster.socket(0, ann, room, "").await;
    let mut second = cluster.socket(1, ann, room, "").await;
    // Three pings on each node: within each node's burst of 4, beyond the user's.
    for socket in [&mut first, &mut second] {
        for _ in 0..3 {
            socket
                .send(Message::text(json!({"type": "ping"}).to_string()))
                .await
                .unwrap();
        }
    }
    let mut answers = Vec::new();
    for socket in [&mut first, &mut second] {
        for _ in 0..3 {
            let frame = next_json(socket).await;
            answers.push(if frame["type"] == "error" {
                frame["code"].clone()
            } else {
                frame["type"].clone()
            });
        }
    }
    let pongs = answers.iter().filter(|a| *a == "pong").count();
    assert_eq!(pongs, 4, "one burst of 4 for the user across both nodes: {answers:?}");
    assert_eq!(
        answers.iter().filter(|a| *a == "rate_limited").count(),
        2,
        "{answers:?}"
    );

    let url = format!("ws://{}/ws/chat/{room}/?token={}", cluster.nodes[0].addr, ann.token);
    let mut third = open_socket(&url).await;
    expect_close(&mut third, 1013).await;
    drop(second);
    // Once one closes, its place is free again (the release is asynchronous).
    let deadline = Instant::now() + WAIT;
    loop {
        let url = format!("ws://{}/ws/chat/{room}/?token={}", cluster.nodes[0].addr, ann.token);
        let mut again = open_socket(&url).await;
        let frame = tokio::time::timeout(WAIT, again.next()).await.unwrap();
        if let Some(Ok(Message::Text(text))) = frame {
            assert!(text.contains("connection_established"), "{text}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the closed socket's place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A node killed with SIGKILL: its users leave the presence lists within
/// the bound, the other nodes go on, and nothing acknowledged is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_and_nothing_acknowledged_is_lost() {
    let Some(mut cluster) = Cluster::start(3, Backend::Postgres, None).await else {
        return;
    };
    let users = cluster.users(&["ann", "bob", "cat"]).await;
    let (ann, bob, cat) = (&users[0], &users[1], &users[2]);
    let room = cluster.room(0, ann, &[bob, cat]).await;
    let mut ann_a = cluster.socket(0, ann, room, "").await;
    let _bob_c = cluster.socket(2, bob, room, "").await;
    assert_eq!(next_of(&mut ann_a, "user_joined").await["user"]["id"], bob.id);

    let mut acknowledged = Vec::new();
    for n in 0..10 {
        acknowledged.push(cluster.post(n % 2, cat, room, &format!("before {n}")).await);
    }
    let killed_at = Instant::now();
    cluster.nodes[2].kill();
    for n in 0..10 {
        acknowledged.push(cluster.post(n % 2, cat, room, &format!("after {n}")).await);
    }
    // Ann gets everything, once, in order, and hears Bob leave.
    let mut ids = Vec::new();
    let mut left = None;
    while ids.len() < acknowledged.len() || left.is_none() {
        let frame = next_json(&mut ann_a).await;
        match frame["type"].as_str() {
            Some("chat_message") => ids.push(frame["message"]["id"].as_i64().unwrap()),
            Some("user_left") => {
                assert_eq!(frame["user"]["id"], bob.id);
                left = Some(killed_at.elapsed());
            }
            _ => {}
        }
    }
    assert_eq!(ids, acknowledged);
    let left = left.unwrap();
    // The bound: TTL (6 s) + one heartbeat (1 s), with room for a slow machine.
    assert!(left < Duration::from_secs(20), "Bob left the lists after {left:?}");
    cluster.wait_online(1, cat, room, bob, false).await;
    assert_eq!(cluster.readyz(0).await.0, 200);
}

/// A node stopped with SIGTERM says goodbye: its users' departures are
/// announced at once, not after the heartbeat's TTL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_node_announces_its_departures() {
    let Some(mut cluster) = Cluster::start(2, Backend::Postgres, None).await else {
        return;
    };
    // A TTL far beyond the wait below: only the goodbye can be heard in time.
    cluster.nodes[1].kill();
    let slow_reaping = [("CONFAB_CLUSTER_NODE_TTL", "60")];
    cluster.nodes[1] = Node::start(
        &cluster.database_url,
        &cluster.redis_url,
        &cluster.prefix,
        &slow_reaping,
    );
    let users = cluster.users(&["ann", "bob"]).await;
    let (ann, bob) = (&users[0], &users[1]);
    let room = cluster.room(0, ann, &[bob]).await;
    let mut ann_a = cluster.socket(0, ann, room, "").await;
    let _bob_b = cluster.socket(1, bob, room, "").await;
    assert_eq!(next_of(&mut ann_a, "user_joined").await["user"]["id"], bob.id);
    let stopped_at = Instant::now();
    let pid = cluster.nodes[1].child.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    assert_eq!(next_of(&mut ann_a, "user_left").await["user"]["id"], bob.id);
    let heard = stopped_at.elapsed();
    assert!(heard < Duration::from_secs(10), "heard after {heard:?}");
    // Far above what a stop takes (the node's shutdown_timeout is 20 s, its cleanup 5 s).
    let exit = process::exit_within(&mut cluster.nodes[1].child, Duration::from_secs(60));
    assert!(exit.success(), "a clean exit: {exit:?}");
}

/// Redis stopped and started again mid-run (its own `redis-server` on a
/// spare port): each node reports the backplane degraded meanwhile, keeps
/// serving, reconnects, and no socket misses an acknowledged message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_loses_nothing_acknowledged() {
    let Some(redis) = OwnRedis::start() else { return };
    let Some(cluster) = Cluster::start(2, Backend::Postgres, Some(redis.url())).await else {
        return;
    };
    let users = cluster.users(&["ann", "bob"]).await;
    let (ann, bob) = (&users[0], &users[1]);
    let room = cluster.room(0, ann, &[bob]).await;
    let mut ann_a = cluster.socket(0, ann, room, "").await;
    let mut bob_b = cluster.socket(1, bob, room, "").await;
    let mut acknowledged = Vec::new();
    let post = async |node: usize, content: String| cluster.post(node, bob, room, &content).await;
    for n in 0..5 {
        acknowledged.push(post(n % 2, format!("before {n}")).await);
    }
    let mut redis = redis;
    redis.stop();
    // Both nodes notice and say so.
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = cluster.readyz(0).await;
        if status == 503 {
            assert_eq!(body["backplane"], "unavailable", "{body}");
            assert_eq!(body["status"], "degraded", "{body}");
            assert_eq!(body["database"], "ok", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "/readyz never reported the backplane down");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Meanwhile both nodes still serve REST.
    for n in 0..6 {
        acknowledged.push(post(n % 2, format!("during {n}")).await);
    }
    // An edit and a reaction too, on the node ann's socket is not on.
    let first = acknowledged[0];
    let (status, body) = cluster
        .call(
            1,
            bob,
            "PATCH",
            &format!("/api/chat/messages/{first}/"),
            Some(json!({"content": "before 0, edited"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = cluster
        .call(
            1,
            bob,
            "POST",
            &format!("/api/chat/messages/{first}/reactions/"),
            Some(json!({"emoji": "👀"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    redis.start_again();
    let deadline = Instant::now() + WAIT;
    while cluster.readyz(0).await.0 != 200 || cluster.readyz(1).await.0 != 200 {
        assert!(Instant::now() < deadline, "the nodes never reconnected");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // What was posted, edited and reacted meanwhile arrives without anything
    // after it: the nodes catch up from the database once subscribed again.
    let up_to = change_seq_of(&cluster, ann, room).await;
    let mut seen = Vec::new();
    for (who, socket) in [("ann", &mut ann_a), ("bob", &mut bob_b)] {
        let changes = collect_changes(socket, up_to - acknowledged.len() as i64 - 2, up_to, who).await;
        let kinds: Vec<&str> = changes
            .iter()
            .rev()
            .take(2)
            .map(|f| f["type"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["reaction_added", "message_edited"], "{who}");
        let posted = changes.iter().filter(|f| f["type"] == "chat_message");
        seen.push(posted.map(|f| f["message"]["id"].as_i64().unwrap()).collect::<Vec<_>>());
    }
    let mut later = Vec::new();
    for n in 0..5 {
        later.push(post(n % 2, format!("after {n}")).await);
    }
    for (i, (who, socket)) in [("ann", &mut ann_a), ("bob", &mut bob_b)].into_iter().enumerate() {
        seen[i].extend(collect_messages(socket, later.len(), who).await);
    }
    acknowledged.extend(later);
    for (who, ids) in ["ann", "bob"].iter().zip(seen) {
        assert_eq!(ids, acknowledged, "{who} got every acknowledged message once, in order");
    }
    let metrics = cluster.http.get(cluster.nodes[0].url("/metrics")).send().await.unwrap();
    let metrics = metrics.text().await.unwrap();
    assert!(metrics.contains("backplane_reconnects_total"), "{metrics}");
}

/// A `redis-server` of the test's own, on a spare port, that can be stopped
/// and started again on the same port.
struct OwnRedis {
    port: u16,
    process: Option<Child>,
    _dir: tempfile::TempDir,
}

impl OwnRedis {
    fn start() -> Option<OwnRedis> {
        let exists = Command::new("redis-server").arg("--version").output().is_ok();
        if !exists {
            assert!(
                !services_required(),
                "redis-server is required (CONFAB_REQUIRE_SERVICES=1)"
            );
            eprintln!("skipping: no redis-server to start");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = OwnRedis {
            port,
            process: None,
            _dir: tempfile::tempdir().unwrap(),
        };
        redis.start_again();
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn start_again(&mut self) {
        let process = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(self._dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
