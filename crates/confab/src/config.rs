//! Configuration: defaults < `confab.toml` (or the file named by `CONFAB_CONFIG`)
//! < `CONFAB_*` environment variables. The server and the admin CLI read the
//! same [`Config`], so both always talk to the same database.
//!
//! Every key is flat so it maps one-to-one to an environment variable:
//! `database_url` <-> `CONFAB_DATABASE_URL`. The table in the README lists them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

/// Environment variables that start with `CONFAB_` but are not config keys.
const NON_CONFIG_ENV: &[&str] = &[
    "CONFIG",
    "LOG",
    "LOG_FORMAT",
    "REQUIRE_SERVICES",
    "TEST_BACKEND",
    "TEST_POSTGRES_URL",
    "TEST_MYSQL_URL",
];

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP server listens on. Loopback by default: exposing it is a decision.
    pub bind: SocketAddr,
    /// Directory for the SQLite database and the generated JWT secret.
    pub data_dir: PathBuf,
    /// `sqlite://path`, `mysql://...` or `postgres://...`; default `sqlite://<data_dir>/confab.db`.
    pub database_url: Option<String>,
    /// HS256 signing key, shared with a Django deployment (`SIMPLE_JWT["SIGNING_KEY"]`)
    /// when tokens must work across both. Generated into `<data_dir>/jwt_secret` when unset.
    pub jwt_secret: Option<String>,
    /// Redis (`redis://host:port/db`) for running several nodes as one server:
    /// events, presence and socket budgets are shared through it. Unset: one node.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key and channel, so several clusters (or test
    /// runs) can share one Redis.
    pub redis_prefix: String,
    /// Pub/sub channels room events are spread over (a room always uses the
    /// same one, so its events keep their order).
    pub redis_partitions: u32,
    /// Seconds between a node's heartbeats in Redis...
    pub cluster_heartbeat: u64,
    /// ...and after how many seconds without one a node counts as gone: its
    /// users leave the presence lists and its sockets stop counting.
    pub cluster_node_ttl: u64,
    /// Notices that may wait to be published to Redis, and to be applied per
    /// partition on receipt; beyond, they are dropped and the rooms affected
    /// are caught up from the database.
    pub backplane_queue: usize,
    /// Access token lifetime in seconds (SimpleJWT default: 5 minutes).
    pub access_token_lifetime: u64,
    /// Refresh token lifetime in seconds (SimpleJWT default: 1 day).
    pub refresh_token_lifetime: u64,
    /// Return a new refresh token from `/api/token/refresh/` (SimpleJWT `ROTATE_REFRESH_TOKENS`).
    pub rotate_refresh_tokens: bool,
    /// Origins allowed by CORS, e.g. `["http://localhost:3000"]`; empty: same-origin only.
    #[serde(deserialize_with = "list_or_csv")]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Upper bound of open database connections.
    pub db_max_connections: u32,
    /// Seconds to wait for a free database connection before failing the request.
    pub db_acquire_timeout: u64,
    /// Frames queued per socket; a socket that falls this far behind is closed (1013).
    pub ws_queue_capacity: usize,
    /// Seconds between server pings; a socket silent for two intervals is closed.
    pub ws_ping_interval: u64,
    /// Milliseconds a socket waits after its first queued frame before
    /// writing, so frames arriving meanwhile go out in the same write (one
    /// wake-up and one syscall instead of one per frame). 0 writes at once.
    pub ws_write_delay_ms: u64,
    /// Most messages a resuming socket is sent (`?after=`); beyond it, `resync_required`.
    pub ws_resume_max: u64,
    /// Messages per second a user may send over sockets (sustained)...
    pub ws_message_rate: u32,
    /// ...and in a burst; beyond it they get an `error` frame `rate_limited`.
    pub ws_message_burst: u32,
    /// Client frames one socket may have in progress (posts waiting for
    /// their commit); past it the socket is not read until one is answered.
    pub ws_max_in_flight: usize,
    /// Writer tasks of the post pipeline on PostgreSQL and MySQL (a room's
    /// posts always go to the same one). SQLite has one writer whatever this says.
    pub post_writers: usize,
    /// Most posts one transaction writes (group commit).
    pub post_batch_max: usize,
    /// Posts that may wait per writer; beyond, senders wait for room in the queue.
    pub post_queue: usize,
    /// SQLite's `synchronous` setting: `full` (an acknowledged message
    /// survives a power loss) or `normal` (it survives a crash of the
    /// process; the last commits may be lost on power loss).
    pub sqlite_synchronous: String,
    /// Blacklist a refresh token when `/api/token/refresh/` rotates it, so it
    /// works once (SimpleJWT `BLACKLIST_AFTER_ROTATION`; on here by default).
    pub blacklist_after_rotation: bool,
    /// Failed token requests (`/api/token/`, `/api/token/refresh/`) per
    /// minute for one account, and for one client address; beyond, every
    /// token request of that account or address gets 429 with `Retry-After`
    /// until the budget refills. Successful requests cost nothing.
    pub login_rate_per_user: u32,
    pub login_rate_per_address: u32,
    /// Password hashes that may wait for a free core; beyond, 503.
    pub password_hash_queue: usize,
    /// Take the client address from the last `X-Forwarded-For` entry (set
    /// when a reverse proxy on this host forwards the traffic); else the peer's.
    pub trust_forwarded_for: bool,
    /// Seconds a client has to send a request's headers; also how long an
    /// idle keep-alive connection stays open.
    pub http_header_timeout: u64,
    /// Seconds a REST request may take, body included (not WebSockets); 503 after.
    pub http_request_timeout: u64,
    /// Seconds a stopping server (SIGTERM, Ctrl-C) gives requests in flight;
    /// then it closes them and exits (its own cleanup takes at most 5 s more),
    /// so a stuck request or connection can never keep a node from stopping.
    pub shutdown_timeout: u64,
    /// Open connections (HTTP and WebSocket) the server holds, in all...
    pub max_connections: usize,
    /// ...and from one client address (0: no per-address cap, e.g. behind a proxy).
    pub max_connections_per_address: usize,
    /// REST writes (POST, PATCH, DELETE) per second one user may make, and in
    /// a burst; beyond, 429. Generous: a script posting a thousand messages
    /// to set up a test room is not an attack.
    pub rest_write_rate: u32,
    pub rest_write_burst: u32,
    /// Socket frames other than messages (typing, mark_read, ping, invalid
    /// ones) per second one user may send, and in a burst; beyond, `rate_limited`.
    pub ws_frame_rate: u32,
    pub ws_frame_burst: u32,
    /// Open sockets one user may have on this node; the next is closed with 1013.
    pub ws_max_sockets_per_user: usize,
    /// When set, `/metrics` answers only `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<String>,
    /// Where uploaded files go: unset, `<data_dir>/files`; else an object
    /// store URL (`s3://bucket/prefix`, with the `AWS_*` environment for
    /// credentials, region and endpoint; `memory://` keeps them in memory).
    pub files_storage_url: Option<String>,
    /// Largest file one upload may be, in bytes (413 beyond, while streaming).
    pub files_max_bytes: u64,
    /// Bytes one user may keep stored, all uploads together (files of
    /// deleted messages not counted); 413 beyond.
    pub files_quota_bytes: u64,
    /// Seconds a signed download URL stays valid.
    pub files_url_ttl: u64,
    /// Seconds an upload may stay unattached to a message before it is deleted...
    pub files_unattached_max_age: u64,
    /// ...checked every this many seconds.
    pub files_cleanup_interval: u64,
    /// Most pixels (width x height) an image may have to get a thumbnail; a
    /// larger one (a decompression bomb, say) is refused with 400.
    pub files_max_image_pixels: u64,
    /// Most memory, in bytes, decoding one image for its thumbnail may take.
    pub files_max_image_alloc: u64,
    /// Uploads in progress at once on this node; beyond, 503.
    pub files_max_concurrent_uploads: usize,
    /// Seconds an upload request may take (instead of `http_request_timeout`).
    pub files_upload_timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            jwt_secret: None,
            redis_url: None,
            redis_prefix: "confab".into(),
            redis_partitions: 16,
            cluster_heartbeat: 5,
            cluster_node_ttl: 15,
            backplane_queue: 16_384,
            access_token_lifetime: 5 * 60,
            refresh_token_lifetime: 24 * 60 * 60,
            rotate_refresh_tokens: false,
            cors_origins: Vec::new(),
            max_body_bytes: 256 * 1024,
            db_max_connections: 16,
            db_acquire_timeout: 5,
            ws_queue_capacity: 1024,
            ws_ping_interval: 20,
            ws_write_delay_ms: 5,
            ws_resume_max: 500,
            ws_message_rate: 10,
            ws_message_burst: 30,
            ws_max_in_flight: 64,
            post_writers: 8,
            post_batch_max: 256,
            post_queue: 4096,
            sqlite_synchronous: "full".into(),
            blacklist_after_rotation: true,
            login_rate_per_user: 20,
            login_rate_per_address: 100,
            password_hash_queue: 64,
            trust_forwarded_for: false,
            http_header_timeout: 30,
            http_request_timeout: 30,
            shutdown_timeout: 20,
            max_connections: 20_000,
            max_connections_per_address: 1_000,
            rest_write_rate: 100,
            rest_write_burst: 1_000,
            ws_frame_rate: 50,
            ws_frame_burst: 200,
            ws_max_sockets_per_user: 100,
            metrics_token: None,
            files_storage_url: None,
            files_max_bytes: 25 * 1024 * 1024,
            files_quota_bytes: 1024 * 1024 * 1024,
            files_url_ttl: 12 * 60 * 60,
            files_unattached_max_age: 24 * 60 * 60,
            files_cleanup_interval: 10 * 60,
            files_max_image_pixels: 50_000_000,
            files_max_image_alloc: 512 * 1024 * 1024,
            files_max_concurrent_uploads: 32,
            files_upload_timeout: 10 * 60,
        }
    }
}

// The secret must never reach a log line.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("redis_partitions", &self.redis_partitions)
            .field("cluster_heartbeat", &self.cluster_heartbeat)
            .field("cluster_node_ttl", &self.cluster_node_ttl)
            .field("backplane_queue", &self.backplane_queue)
            .field("access_token_lifetime", &self.access_token_lifetime)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("rotate_refresh_tokens", &self.rotate_refresh_tokens)
            .field("cors_origins", &self.cors_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("db_max_connections", &self.db_max_connections)
            .field("db_acquire_timeout", &self.db_acquire_timeout)
            .field("ws_queue_capacity", &self.ws_queue_capacity)
            .field("ws_ping_interval", &self.ws_ping_interval)
            .field("ws_write_delay_ms", &self.ws_write_delay_ms)
            .field("ws_resume_max", &self.ws_resume_max)
            .field("ws_message_rate", &self.ws_message_rate)
            .field("ws_message_burst", &self.ws_message_burst)
            .field("ws_max_in_flight", &self.ws_max_in_flight)
            .field("post_writers", &self.post_writers)
            .field("post_batch_max", &self.post_batch_max)
            .field("post_queue", &self.post_queue)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("blacklist_after_rotation", &self.blacklist_after_rotation)
            .field("login_rate_per_user", &self.login_rate_per_user)
            .field("login_rate_per_address", &self.login_rate_per_address)
            .field("password_hash_queue", &self.password_hash_queue)
            .field("trust_forwarded_for", &self.trust_forwarded_for)
            .field("http_header_timeout", &self.http_header_timeout)
            .field("http_request_timeout", &self.http_request_timeout)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_address", &self.max_connections_per_address)
            .field("rest_write_rate", &self.rest_write_rate)
            .field("rest_write_burst", &self.rest_write_burst)
            .field("ws_frame_rate", &self.ws_frame_rate)
            .field("ws_frame_burst", &self.ws_frame_burst)
            .field("ws_max_sockets_per_user", &self.ws_max_sockets_per_user)
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "<redacted>"))
            .field("files_storage_url", &self.files_storage_url.as_deref().map(redact_url))
            .field("files_max_bytes", &self.files_max_bytes)
            .field("files_quota_bytes", &self.files_quota_bytes)
            .field("files_url_ttl", &self.files_url_ttl)
            .field("files_unattached_max_age", &self.files_unattached_max_age)
            .field("files_cleanup_interval", &self.files_cleanup_interval)
            .field("files_max_image_pixels", &self.files_max_image_pixels)
            .field("files_max_image_alloc", &self.files_max_image_alloc)
            .field("files_max_concurrent_uploads", &self.files_max_concurrent_uploads)
            .field("files_upload_timeout", &self.files_upload_timeout)
            .finish()
    }
}

/// Hides the password of `scheme://user:password@host/...`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Accepts `["a", "b"]` from TOML and `a,b` from the environment.
fn list_or_csv<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(deserializer)? {
        ListOrCsv::List(items) => items,
        ListOrCsv::Csv(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// What loading found besides the config itself, reported once logging is up.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub file: Option<PathBuf>,
    pub unknown_env: Vec<String>,
}

impl Config {
    /// Loads defaults < TOML file < environment.
    ///
    /// The file is `$CONFAB_CONFIG` when set (it must then exist), else
    /// `./confab.toml` when present.
    pub fn load() -> anyhow::Result<(Self, LoadReport)> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(&vars)
    }

    /// [`Config::load`] over an explicit environment, for tests.
    pub fn load_from(vars: &[(String, String)]) -> anyhow::Result<(Self, LoadReport)> {
        let lookup = |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let file = match lookup("CONFAB_CONFIG") {
            Some(path) => {
                let path = PathBuf::from(path);
                anyhow::ensure!(
                    path.is_file(),
                    "CONFAB_CONFIG names {}, which is not a file",
                    path.display()
                );
                Some(path)
            }
            None => Some(PathBuf::from("confab.toml")).filter(|p| p.is_file()),
        };

        let defaults = defaults_by_key();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = &file {
            figment = figment.merge(Toml::file(path));
        }
        let mut unknown_env = Vec::new();
        let mut env_pairs = Vec::new();
        for (key, value) in vars {
            let Some(name) = key.strip_prefix("CONFAB_") else {
                continue;
            };
            let lower = name.to_ascii_lowercase();
            if let Some(default) = defaults.get(&lower) {
                env_pairs.push((lower, parse_env_value(value, default)));
            } else if !NON_CONFIG_ENV.contains(&name) {
                unknown_env.push(key.clone());
            }
        }
        for (key, value) in env_pairs {
            figment = figment.merge(Serialized::global(&key, value));
        }
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok((config, LoadReport { file, unknown_env }))
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.access_token_lifetime > 0, "access_token_lifetime must be positive");
        anyhow::ensure!(
            self.refresh_token_lifetime > 0,
            "refresh_token_lifetime must be positive"
        );
        anyhow::ensure!(self.max_body_bytes >= 1024, "max_body_bytes must be at least 1024");
        anyhow::ensure!(self.files_max_bytes >= 1, "files_max_bytes must be positive");
        anyhow::ensure!(self.files_url_ttl >= 1, "files_url_ttl must be positive");
        anyhow::ensure!(
            self.files_cleanup_interval >= 1,
            "files_cleanup_interval must be positive"
        );
        anyhow::ensure!(
            self.files_max_concurrent_uploads >= 1,
            "files_max_concurrent_uploads must be at least 1"
        );
        anyhow::ensure!(self.db_max_connections >= 1, "db_max_connections must be at least 1");
        anyhow::ensure!(self.ws_queue_capacity >= 1, "ws_queue_capacity must be at least 1");
        anyhow::ensure!(self.ws_ping_interval >= 1, "ws_ping_interval must be at least 1 second");
        anyhow::ensure!(
            (1..=1024).contains(&self.redis_partitions),
            "redis_partitions must be between 1 and 1024"
        );
        anyhow::ensure!(
            !self.redis_prefix.is_empty()
                && self.redis_prefix.len() <= 64
                && self.redis_prefix.bytes().all(|b| b.is_ascii_graphic()),
            "redis_prefix must be 1 to 64 printable characters without spaces"
        );
        anyhow::ensure!(
            self.cluster_heartbeat >= 1,
            "cluster_heartbeat must be at least 1 second"
        );
        anyhow::ensure!(
            self.cluster_node_ttl >= 2 * self.cluster_heartbeat,
            "cluster_node_ttl must be at least twice cluster_heartbeat"
        );
        anyhow::ensure!(self.backplane_queue >= 16, "backplane_queue must be at least 16");
        anyhow::ensure!(self.ws_write_delay_ms <= 1000, "ws_write_delay_ms must be at most 1000");
        anyhow::ensure!(
            self.ws_message_rate >= 1 && self.ws_message_burst >= 1,
            "ws message rate and burst must be at least 1"
        );
        anyhow::ensure!(self.ws_max_in_flight >= 1, "ws_max_in_flight must be at least 1");
        anyhow::ensure!(
            (1..=64).contains(&self.post_writers),
            "post_writers must be between 1 and 64"
        );
        anyhow::ensure!(
            (1..=10_000).contains(&self.post_batch_max),
            "post_batch_max must be between 1 and 10000"
        );
        anyhow::ensure!(self.post_queue >= 1, "post_queue must be at least 1");
        anyhow::ensure!(
            matches!(self.sqlite_synchronous.as_str(), "full" | "normal"),
            "sqlite_synchronous must be \"full\" or \"normal\""
        );
        anyhow::ensure!(
            self.login_rate_per_user >= 1 && self.login_rate_per_address >= 1,
            "login rates must be at least 1 per minute"
        );
        anyhow::ensure!(
            self.rest_write_rate >= 1 && self.rest_write_burst >= 1,
            "rest write rate and burst must be at least 1"
        );
        anyhow::ensure!(
            self.ws_frame_rate >= 1 && self.ws_frame_burst >= 1,
            "ws frame rate and burst must be at least 1"
        );
        anyhow::ensure!(
            self.http_header_timeout >= 1,
            "http_header_timeout must be at least 1 second"
        );
        anyhow::ensure!(
            self.http_request_timeout >= 1,
            "http_request_timeout must be at least 1 second"
        );
        anyhow::ensure!(self.shutdown_timeout >= 1, "shutdown_timeout must be at least 1 second");
        anyhow::ensure!(self.max_connections >= 1, "max_connections must be at least 1");
        anyhow::ensure!(
            self.ws_max_sockets_per_user >= 1,
            "ws_max_sockets_per_user must be at least 1"
        );
        for origin in &self.cors_origins {
            anyhow::ensure!(
                origin != "*" && axum::http::HeaderValue::from_str(origin).is_ok() && origin.contains("://"),
                "cors_origins: {origin:?} is not an origin such as https://chat.example.com (\"*\" is not allowed: name the origins)"
            );
        }
        if let Some(token) = &self.metrics_token {
            anyhow::ensure!(token.len() >= 16, "metrics_token must be at least 16 bytes long");
        }
        if let Some(secret) = &self.jwt_secret {
            anyhow::ensure!(secret.len() >= 16, "jwt_secret must be at least 16 bytes long");
        }
        Ok(())
    }

    /// The database URL in effect: the configured one, or SQLite in the data dir.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("confab.db").display()),
        }
    }

    pub fn access_lifetime(&self) -> Duration {
        Duration::from_secs(self.access_token_lifetime)
    }

    pub fn refresh_lifetime(&self) -> Duration {
        Duration::from_secs(self.refresh_token_lifetime)
    }

    pub fn jwt_secret_path(&self) -> PathBuf {
        self.data_dir.join("jwt_secret")
    }

    /// The signing secret: configured, or read from (and on first use written to)
    /// `<data_dir>/jwt_secret` with mode 0600, so restarts keep tokens valid.
    pub fn resolve_jwt_secret(&self) -> anyhow::Result<String> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.clone());
        }
        load_or_create_secret(&self.jwt_secret_path())
    }
}

/// Each config key (the env var without `CONFAB_`, lower-cased) with its default.
fn defaults_by_key() -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => unreachable!("Config serializes to an object"),
    }
}

/// Environment values are text; a key whose default is a number or a boolean
/// is parsed as one (`CONFAB_ACCESS_TOKEN_LIFETIME=60`), every other key stays
/// text, so a secret made of digits is still a string. Unparsable values stay
/// text and are reported by the type check that follows.
fn parse_env_value(raw: &str, default: &serde_json::Value) -> figment::value::Value {
    let parsed = match default {
        serde_json::Value::Number(_) => raw.trim().parse::<u64>().ok().map(Into::into),
        serde_json::Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true.into()),
            "false" | "0" | "no" | "off" => Some(false.into()),
            _ => None,
        },
        _ => None,
    };
    parsed.unwrap_or_else(|| raw.into())
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    use std::io::Write;
    match std::fs::read(path) {
        Ok(existing) => {
            let text = String::from_utf8(existing)
                .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text: delete it or set jwt_secret", path.display()))?;
            let secret = text.trim().to_owned();
            anyhow::ensure!(
                secret.len() >= 16,
                "{} holds a secret shorter than 16 bytes",
                path.display()
            );
            return Ok(secret);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let secret = crate::auth::random_token(48);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes())?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), "generated a new JWT signing secret");
            Ok(secret)
        }
        // Another process (the CLI, a second server) created it first: use
        // theirs. (Reading it cannot come back here: it exists now.)
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
}

/// Creates `dir` (and its parents) readable by its owner only, as the data
/// directory holds the database and the signing secret. An existing
/// directory keeps its mode: it was the operator's choice.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_bind_loopback() {
        let (config, report) = Config::load_from(&[]).unwrap();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8000");
        assert!(report.unknown_env.is_empty());
        assert!(config.effective_database_url().starts_with("sqlite://"));
    }

    #[test]
    fn env_overrides_and_unknown_keys_are_reported() {
        let (config, report) = Config::load_from(&env(&[
            ("CONFAB_BIND", "0.0.0.0:9000"),
            ("CONFAB_ACCESS_TOKEN_LIFETIME", "60"),
            ("CONFAB_ROTATE_REFRESH_TOKENS", "true"),
            ("CONFAB_CORS_ORIGINS", "http://a.test, http://b.test"),
            ("CONFAB_BINDD", "oops"),
            ("CONFAB_LOG", "debug"),
            ("OTHER", "x"),
        ]))
        .unwrap();
        assert_eq!(config.bind.port(), 9000);
        assert_eq!(config.access_token_lifetime, 60);
        assert!(config.rotate_refresh_tokens);
        assert_eq!(config.cors_origins, vec!["http://a.test", "http://b.test"]);
        assert_eq!(report.unknown_env, vec!["CONFAB_BINDD"]);
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        assert!(Config::load_from(&env(&[("CONFAB_BIND", "nope")])).is_err());
        assert!(Config::load_from(&env(&[("CONFAB_JWT_SECRET", "short")])).is_err());
        assert!(Config::load_from(&env(&[("CONFAB_CONFIG", "/does/not/exist.toml")])).is_err());
        assert!(Config::load_from(&env(&[("CONFAB_ACCESS_TOKEN_LIFETIME", "soon")])).is_err());
    }

    #[test]
    fn toml_file_sits_between_defaults_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("confab.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9100\"\naccess_token_lifetime = 120\ncors_origins = [\"http://x.test\"]\n",
        )
        .unwrap();
        let path = file.display().to_string();
        let (config, report) = Config::load_from(&env(&[("CONFAB_CONFIG", &path)])).unwrap();
        assert_eq!(report.file.as_deref(), Some(file.as_path()));
        assert_eq!((config.bind.port(), config.access_token_lifetime), (9100, 120));
        assert_eq!(config.cors_origins, vec!["http://x.test"]);
        let (config, _) = Config::load_from(&env(&[
            ("CONFAB_CONFIG", &path),
            ("CONFAB_ACCESS_TOKEN_LIFETIME", "30"),
        ]))
        .unwrap();
        assert_eq!(config.access_token_lifetime, 30);
        std::fs::write(&file, "no_such_key = 1\n").unwrap();
        assert!(
            Config::load_from(&env(&[("CONFAB_CONFIG", &path)])).is_err(),
            "typos in the file are errors"
        );
    }

    #[test]
    fn numeric_looking_text_stays_text() {
        let (config, _) = Config::load_from(&env(&[("CONFAB_JWT_SECRET", "12345678901234567890")])).unwrap();
        assert_eq!(config.jwt_secret.as_deref(), Some("12345678901234567890"));
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let config = Config {
            jwt_secret: Some("super-secret-signing-key".into()),
            database_url: Some("postgres://confab:hunter2@db/confab".into()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("super-secret"));
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("postgres://confab:***@db/confab"));
    }

    #[test]
    fn unreadable_or_binary_secret_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt_secret");
        std::fs::write(
            &path,
            [
                0xff, 0xfe, 0x00, 0x80, 0xff, 0xfe, 0x00, 0x80, 0xff, 0xfe, 0x00, 0x80, 0xff, 0xfe, 0x00, 0x80,
            ],
        )
        .unwrap();
        let error = load_or_create_secret(&path).unwrap_err().to_string();
        assert!(error.contains("not UTF-8"), "{error}");
        // A directory where the file should be: unreadable as a file.
        let dir_path = dir.path().join("secret_dir");
        std::fs::create_dir(&dir_path).unwrap();
        assert!(load_or_create_secret(&dir_path).is_err());
    }

    #[test]
    fn wildcard_cors_origin_is_refused() {
        let error = Config::load_from(&env(&[("CONFAB_CORS_ORIGINS", "*")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("cors_origins"), "{error}");
        assert!(Config::load_from(&env(&[("CONFAB_CORS_ORIGINS", "https://chat.example.com")])).is_ok());
    }

    #[test]
    fn data_dir_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        create_private_dir(&data).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&data).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn secret_file_is_created_once_with_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt_secret");
        let first = load_or_create_secret(&path).unwrap();
        let second = load_or_create_secret(&path).unwrap();
        assert_eq!(first, second);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
