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
    /// Redis for multi-node fan-out (used by the real-time layer).
    pub redis_url: Option<String>,
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
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8000)),
            data_dir: PathBuf::from("data"),
            database_url: None,
            jwt_secret: None,
            redis_url: None,
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
        anyhow::ensure!(self.db_max_connections >= 1, "db_max_connections must be at least 1");
        anyhow::ensure!(self.ws_queue_capacity >= 1, "ws_queue_capacity must be at least 1");
        anyhow::ensure!(self.ws_ping_interval >= 1, "ws_ping_interval must be at least 1 second");
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
    if let Ok(existing) = std::fs::read_to_string(path) {
        let secret = existing.trim().to_owned();
        anyhow::ensure!(
            secret.len() >= 16,
            "{} holds a secret shorter than 16 bytes",
            path.display()
        );
        return Ok(secret);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
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
        // Another process (the CLI, a second server) created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(path),
        Err(e) => Err(anyhow::anyhow!("cannot write {}: {e}", path.display())),
    }
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
