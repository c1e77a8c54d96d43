//! PostgreSQL and MySQL/MariaDB, checked on every `cargo test`: the
//! server runs on a fresh database of each, Unicode round-trips, usernames
//! collide regardless of case, and `/readyz` follows the database going away
//! and coming back. Faults: a database outage mid-run (through a TCP relay)
//! gives 503s and `error` frames and heals without a restart; SQLite on a
//! full disk (a small tmpfs; needs root) refuses cleanly, loses nothing
//! acknowledged and recovers once space is freed. A backend whose server is not reachable is skipped with a
//! message, unless `CONFAB_REQUIRE_SERVICES=1` (CI), which makes it a failure.
//!
//! The whole black-box suite runs on each backend with
//! `CONFAB_TEST_BACKEND=postgres|mysql cargo test --test api` (see `.ci/run`).

#[path = "common/testdb.rs"]
mod testdb;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab::app::Server;
use confab::auth::accounts;
use confab::auth::jwt::TokenType;
use confab::config::Config;
use serde_json::{json, Value};
use testdb::{services_required, Backend, TestDatabase};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A fresh database on `backend`, or `None` (after saying so) when its server is down.
async fn database(backend: Backend) -> Option<TestDatabase> {
    match TestDatabase::create(backend).await {
        Ok(db) => Some(db),
        Err(reason) if !services_required() => {
            eprintln!(
                "skipping the {} checks: {reason} (set CONFAB_REQUIRE_SERVICES=1 to fail instead)",
                backend.name()
            );
            None
        }
        Err(reason) => panic!(
            "{} is required (CONFAB_REQUIRE_SERVICES=1) but unusable: {reason}",
            backend.name()
        ),
    }
}

struct Running {
    addr: SocketAddr,
    state: confab::app::AppState,
    _stop: oneshot::Sender<()>,
}

async fn serve(database_url: &str, dir: &tempfile::TempDir) -> Running {
    let config = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(database_url.to_owned()),
        jwt_secret: Some("backend-test-secret-0123456789".into()),
        db_acquire_timeout: 1,
        ..Config::default()
    };
    let server = Server::build(config).await.expect("server starts");
    let (addr, state) = (server.local_addr(), server.state().clone());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        state,
        _stop: stop,
    }
}

async fn unicode_and_collation(backend: Backend) {
    let Some(db) = database(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let app = serve(db.url.as_deref().unwrap(), &dir).await;
    let store = &app.state.store;
    let zoe = accounts::create_user(store, "Zoë", "long enough password", true)
        .await
        .unwrap();
    let clash = accounts::create_user(store, "ZOË", "long enough password", true).await;
    assert!(clash.is_err(), "usernames differ only by case on {}", backend.name());
    let token = app.state.jwt.issue(zoe.id, TokenType::Access);
    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://{}{path}", app.addr);

    let name = "Café 😀 𝄞 中文 – ñ";
    let room: Value = client
        .post(url("/api/chat/rooms/"))
        .bearer_auth(&token)
        .json(&json!({"name": name, "description": "emoji 🚀 and astral 𝒳"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(room["name"], name, "{room}");
    let content = "héllo 👋🏽 family 👨‍👩‍👧 math 𝔸 cjk 漢字 rtl עברית";
    let path = format!("/api/chat/rooms/{}/messages/", room["id"]);
    let sent = client
        .post(url(&path))
        .bearer_auth(&token)
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    let history: Value = client
        .get(url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["results"][0]["content"], content);
    // Search folds case beyond ASCII the same way on every backend.
    let found: Value = client
        .get(url("/api/chat/rooms/?search=CAFÉ"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(found["count"], 1, "{found}");
}

#[tokio::test]
async fn postgres_round_trips_unicode_and_folds_usernames() {
    unicode_and_collation(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_round_trips_unicode_and_folds_usernames() {
    unicode_and_collation(Backend::MySql).await;
}

/// A TCP relay between the server and its database that can be cut and
/// restored, to play a database outage.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                links2.lock().unwrap().push(link);
            }
        });
        Self { addr, up, links }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

async fn ready_status(client: &reqwest::Client, addr: SocketAddr) -> u16 {
    client
        .get(format!("http://{addr}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait_for_ready(client: &reqwest::Client, addr: SocketAddr, expected: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = ready_status(client, addr).await;
        if status == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz stayed {status}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A server on a fresh database of `backend`, reaching it through a [`Relay`]
/// that can be cut; `None` (after saying so) when the backend is down.
async fn serve_behind_relay(backend: Backend) -> Option<(TestDatabase, Relay, tempfile::TempDir, Running)> {
    let db = database(backend).await?;
    let mut url = url::Url::parse(db.url.as_deref().unwrap()).unwrap();
    let upstream: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap())
        .parse()
        .unwrap();
    let relay = Relay::start(upstream).await;
    url.set_port(Some(relay.addr.port())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app = serve(url.as_str(), &dir).await;
    Some((db, relay, dir, app))
}

async fn readiness_follows_an_outage(backend: Backend) {
    let Some((_db, relay, _dir, app)) = serve_behind_relay(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    assert_eq!(ready_status(&client, app.addr).await, 200);

    relay.cut();
    wait_for_ready(&client, app.addr, 503).await;
    // Requests that need the database fail cleanly meanwhile: a JSON 503, no hang, no panic.
    let response = client
        .post(format!("http://{}/api/token/", app.addr))
        .json(&json!({"username": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert!(body["detail"].is_string(), "{body}");
    assert_eq!(ready_status(&client, app.addr).await, 503);

    relay.restore();
    wait_for_ready(&client, app.addr, 200).await;
}

/// A developer with a token and a room of theirs, made through the API.
async fn developer_with_room(app: &Running, client: &reqwest::Client) -> (String, i64) {
    let user = accounts::create_user(&app.state.store, "alice", "long enough password", true)
        .await
        .unwrap();
    let token = app.state.jwt.issue(user.id, TokenType::Access);
    let room: Value = client
        .post(format!("http://{}/api/chat/rooms/", app.addr))
        .bearer_auth(&token)
        .json(&json!({"name": "ops"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (token, room["id"].as_i64().unwrap())
}

async fn post_message(client: &reqwest::Client, app: &Running, token: &str, room: i64, content: &str) -> (u16, Value) {
    let response = client
        .post(format!("http://{}/api/chat/rooms/{room}/messages/", app.addr))
        .bearer_auth(token)
        .json(&json!({"content": content}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The contents of a room's history, oldest first (at most 200).
async fn history(client: &reqwest::Client, app: &Running, token: &str, room: i64) -> Vec<String> {
    let page: Value = client
        .get(format!("http://{}/api/chat/rooms/{room}/messages/?limit=200", app.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The next text frame that is not presence, as JSON.
async fn next_frame(socket: &mut Socket) -> Value {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a frame in time")
            .expect("open")
            .expect("no protocol error");
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(&text).unwrap();
            if !["user_joined", "user_left"].contains(&frame["type"].as_str().unwrap_or_default()) {
                return frame;
            }
        }
    }
}

/// The database going away mid-run: posts over REST get 503, posts over a
/// socket get an `error` frame, nothing hangs or panics, and once the
/// database is back everything works again without a restart.
async fn posts_survive_an_outage(backend: Backend) {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    let Some((_db, relay, _dir, app)) = serve_behind_relay(backend).await else {
        return;
    };
    let client = reqwest::Client::new();
    let (token, room) = developer_with_room(&app, &client).await;
    assert_eq!(post_message(&client, &app, &token, room, "before").await.0, 201);
    let socket_url = format!("ws://{}/ws/chat/{room}/?token={token}", app.addr);
    let (mut socket, _) = tokio_tungstenite::connect_async(socket_url).await.unwrap();
    assert_eq!(next_frame(&mut socket).await["type"], "connection_established");

    relay.cut();
    let (status, body) = post_message(&client, &app, &token, room, "during").await;
    assert_eq!(status, 503, "{body}");
    assert!(body["detail"].is_string(), "{body}");
    let frame = json!({"type": "chat_message", "content": "during, by socket"});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    let answer = next_frame(&mut socket).await;
    assert_eq!(answer["type"], "error", "{answer}");

    relay.restore();
    wait_for_ready(&client, app.addr, 200).await;
    let mut recovered = false;
    for _ in 0..50 {
        if post_message(&client, &app, &token, room, "after").await.0 == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "posts work again once the database is back");
    let frame = json!({"type": "chat_message", "content": "after, by socket"});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "chat_message" && frame["message"]["content"] == "after, by socket" {
            break;
        }
    }
    let contents = history(&client, &app, &token, room).await;
    assert_eq!(contents.first().map(String::as_str), Some("before"), "{contents:?}");
    assert!(!contents.iter().any(|c| c.starts_with("during")), "{contents:?}");
}

#[tokio::test]
async fn postgres_outage_gives_503s_and_error_frames_then_recovers() {
    posts_survive_an_outage(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_outage_gives_503s_and_error_frames_then_recovers() {
    posts_survive_an_outage(Backend::MySql).await;
}

/// A small tmpfs of our own, unmounted when dropped. Mounting needs root:
/// `None` (after saying so) without it, unless services are required.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(bytes: u64) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other if !services_required() => {
                eprintln!("skipping the full-disk check: cannot mount a tmpfs ({other:?}); it needs root");
                None
            }
            other => panic!("CONFAB_REQUIRE_SERVICES=1 but a tmpfs cannot be mounted: {other:?}"),
        }
    }

    /// Fills the disk to the last byte; returns the filler to delete later.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.dir.path().join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        while file.write_all(&[0]).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazily: the server's files may still be open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// SQLite on a full disk: posts are refused with a retryable 503 (never a
/// 500), nothing acknowledged is lost, and once space is freed posting works
/// again without a restart.
#[tokio::test]
async fn sqlite_on_a_full_disk_refuses_cleanly_and_recovers() {
    let Some(disk) = SmallDisk::mount(8 * 1024 * 1024) else {
        return;
    };
    let data = disk.dir.path().join("data");
    let url = format!("sqlite://{}", data.join("confab.db").display());
    let app = serve(&url, &disk.dir).await;
    let client = reqwest::Client::new();
    let (token, room) = developer_with_room(&app, &client).await;
    assert_eq!(post_message(&client, &app, &token, room, "before").await.0, 201);

    let filler = disk.fill();
    let mut acknowledged = vec!["before".to_owned()];
    let mut refused = 0;
    for n in 0..40 {
        let content = format!("{n:03} {}", "x".repeat(4000));
        let (status, body) = post_message(&client, &app, &token, room, &content).await;
        match status {
            201 => acknowledged.push(content),
            503 => {
                assert!(body["detail"].is_string(), "{body}");
                refused += 1;
            }
            other => panic!("a full disk answered {other}: {body}"),
        }
    }
    assert!(refused > 0, "the disk never filled up");

    std::fs::remove_file(filler).unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _) = post_message(&client, &app, &token, room, "after").await;
        if status == 201 {
            acknowledged.push("after".into());
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "posts work again once space is freed");
    let stored = history(&client, &app, &token, room).await;
    // (Compared by count and order, not printed whole: the posts are long.)
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "every acknowledged post, and nothing else"
    );
    assert!(stored == acknowledged, "in the order they were acknowledged");
    drop(app);
}

#[tokio::test]
async fn postgres_outage_makes_readyz_503_until_it_returns() {
    readiness_follows_an_outage(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_outage_makes_readyz_503_until_it_returns() {
    readiness_follows_an_outage(Backend::MySql).await;
}

/// Two nodes on one database, many writers into one room: every message gets
/// the next sequence number, and ids follow sequence (that is, commit) order.
async fn two_nodes_keep_one_order(backend: Backend) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    const WRITERS: usize = 6;
    const POSTS: usize = 20;
    let Some(db) = database(backend).await else { return };
    let url = db.url.clone().unwrap();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let node_a = serve(&url, &dir_a).await;
    let node_b = serve(&url, &dir_b).await;
    let client = reqwest::Client::new();
    let mut tokens = Vec::new();
    for i in 0..WRITERS {
        let user = accounts::create_user(&node_a.state.store, &format!("writer{i}"), "long enough password", true)
            .await
            .unwrap();
        tokens.push(node_a.state.jwt.issue(user.id, TokenType::Access));
    }
    let room: Value = client
        .post(format!("http://{}/api/chat/rooms/", node_a.addr))
        .bearer_auth(&tokens[0])
        .json(&json!({"name": "busy"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let room_id = room["id"].as_i64().unwrap();
    for token in &tokens[1..] {
        let joined = client
            .post(format!("http://{}/api/chat/rooms/{room_id}/join/", node_b.addr))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(joined.status(), 200);
    }
    let posts = tokens
        .iter()
        .enumerate()
        .flat_map(|(w, token)| (0..POSTS).map(move |n| (w, n, token)));
    let answers = futures::future::join_all(posts.map(|(w, n, token)| {
        // Writers alternate between the nodes.
        let node = if (w + n) % 2 == 0 { node_a.addr } else { node_b.addr };
        let client = client.clone();
        async move {
            client
                .post(format!("http://{node}/api/chat/rooms/{room_id}/messages/"))
                .bearer_auth(token)
                .json(&json!({"content": format!("w{w} #{n}")}))
                .send()
                .await
                .unwrap()
                .status()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 201), "{answers:?}");

    use confab::store::entities::messages;
    let rows = messages::Entity::find()
        .filter(messages::Column::RoomId.eq(room_id))
        .order_by_asc(messages::Column::Seq)
        .all(node_a.state.store.reader())
        .await
        .unwrap();
    assert_eq!(rows.len(), WRITERS * POSTS);
    for (i, pair) in rows.windows(2).enumerate() {
        assert_eq!(pair[0].seq, i as i64 + 1, "sequence numbers have no gap");
        assert!(
            pair[0].id < pair[1].id,
            "ids follow commit order: {:?} then {:?}",
            pair[0],
            pair[1]
        );
    }
}

#[tokio::test]
async fn postgres_two_nodes_keep_one_order_per_room() {
    two_nodes_keep_one_order(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_two_nodes_keep_one_order_per_room() {
    two_nodes_keep_one_order(Backend::MySql).await;
}

/// The last search migration (bigrams, on every backend; on MySQL/MariaDB
/// also the trigrams the server spells itself) fills its index with the
/// messages already there, deleted ones left out, and the search finds
/// them, Chinese and two-character terms included.
async fn search_indexes_take_in_existing_messages(backend: Backend) {
    use sea_orm_migration::MigratorTrait;
    let Some(db) = database(backend).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = db
        .url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("confab.db").display()));
    let app = serve(&url, &dir).await;
    let client = reqwest::Client::new();
    let (token, room) = developer_with_room(&app, &client).await;
    for content in ["数据库迁移完成了", "Deploy to STAGING done", "staging secrets"] {
        assert_eq!(post_message(&client, &app, &token, room, content).await.0, 201);
    }
    let (_, secret) = post_message(&client, &app, &token, room, "rotate the staging secrets").await;
    let deleted = client
        .delete(format!(
            "http://{}/api/chat/messages/{}/delete/",
            app.addr, secret["id"]
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(deleted.status().is_success(), "{}", deleted.status());
    // As on a database from before the index: dropped, then migrated again.
    let connection = sea_orm::Database::connect(&url).await.unwrap();
    confab::store::migrations::Migrator::down(&connection, Some(1))
        .await
        .unwrap();
    confab::store::migrations::Migrator::up(&connection, None)
        .await
        .unwrap();
    connection.close().await.unwrap();
    let search = async |query: &str| -> Vec<String> {
        let page: Value = client
            .get(format!("http://{}/api/chat/search/", app.addr))
            .query(&[("q", query)])
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        page["results"]
            .as_array()
            .unwrap_or_else(|| panic!("a page: {page}"))
            .iter()
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(search("数据库").await, ["数据库迁移完成了"]);
    assert_eq!(search("STAGING").await, ["staging secrets", "Deploy to STAGING done"]);
    assert_eq!(search("secrets").await, ["staging secrets"], "not the deleted one");
    assert_eq!(search("迁移").await, ["数据库迁移完成了"], "two characters");
    assert_eq!(search("迁移 完成").await, ["数据库迁移完成了"], "two of them");
    assert_eq!(
        search("TA").await,
        ["staging secrets", "Deploy to STAGING done"],
        "in any case, not the deleted one"
    );
    // A message posted after the migration is indexed as it is written.
    post_message(&client, &app, &token, room, "缓存已清空").await;
    assert_eq!(search("缓存").await, ["缓存已清空"]);
}

#[tokio::test]
async fn sqlite_search_indexes_take_in_existing_messages() {
    search_indexes_take_in_existing_messages(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_search_indexes_take_in_existing_messages() {
    search_indexes_take_in_existing_messages(Backend::Postgres).await;
}

#[tokio::test]
async fn mysql_search_indexes_take_in_existing_messages() {
    search_indexes_take_in_existing_messages(Backend::MySql).await;
}
