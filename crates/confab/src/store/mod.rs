//! The database. [`Store`] owns the connections; the query modules
//! ([`users`], [`rooms`], [`members`], [`messages`], [`notifications`]) are free functions
//! over any SeaORM connection, so the domain composes several of them inside
//! one transaction.
//!
//! The backend is chosen by URL scheme (`sqlite://`, `mysql://`,
//! `postgres://`) and every query goes through SeaORM's query builder, which
//! renders each dialect: one code path, no per-backend copies. See
//! `docs/architecture.md` for why SeaORM and not sqlx's `Any` driver.

pub mod changes;
pub mod entities;
pub mod files;
pub mod members;
pub mod messages;
pub mod migrations;
pub mod notifications;
pub mod order;
pub mod reactions;
pub mod rooms;
pub mod search;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::sqlx::ConnectOptions as _;
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr, SqlErr, SqlxSqliteConnector,
    TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> anyhow::Result<Self> {
        let scheme = url.split_once("://").map(|(s, _)| s).unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "mysql" | "mariadb" => Ok(Backend::MySql),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => anyhow::bail!(
                "unsupported database URL {:?}: use sqlite://PATH, mysql://USER@HOST/DB or postgres://USER@HOST/DB",
                url.split("://").next().unwrap_or(url)
            ),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::MySql => "mysql",
            Backend::Postgres => "postgres",
        }
    }
}

/// Pool sizing and durability, from [`crate::config::Config`].
#[derive(Clone, Copy, Debug)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// SQLite only: `synchronous=FULL` (every commit is on disk before it is
    /// acknowledged) rather than `NORMAL` (on disk at the next checkpoint).
    pub sqlite_full_sync: bool,
}

/// Open connections to one database.
#[derive(Clone)]
pub struct Store {
    /// Connections for reads. On SQLite a separate pool, so reads run in
    /// parallel with the single writer (WAL mode); elsewhere the same pool as `writer`.
    reader: DatabaseConnection,
    /// Connections for transactions. On SQLite exactly one connection: SQLite
    /// allows one writer at a time, and queueing in the pool is cheaper and
    /// fairer than `SQLITE_BUSY` retries.
    writer: DatabaseConnection,
    backend: Backend,
    order: std::sync::Arc<order::RoomOrder>,
}

/// Connection counts for `/metrics`.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    pub size: u32,
    pub idle: u32,
}

impl Store {
    /// Connects (creating the SQLite file and its directory if needed). Does not migrate.
    pub async fn connect(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
        let backend = Backend::from_url(url)?;
        match backend {
            Backend::Sqlite => Self::connect_sqlite(url, pool).await,
            Backend::MySql | Backend::Postgres => {
                // sqlx knows MariaDB as `mysql://`.
                let url = url
                    .strip_prefix("mariadb://")
                    .map_or_else(|| url.to_owned(), |rest| format!("mysql://{rest}"));
                let mut options = ConnectOptions::new(url);
                options
                    .max_connections(pool.max_connections)
                    .min_connections(1)
                    .acquire_timeout(pool.acquire_timeout)
                    .connect_timeout(pool.acquire_timeout)
                    .sqlx_logging(false);
                let db = Database::connect(options)
                    .await
                    .with_context(|| format!("cannot connect to the {} database", backend.name()))?;
                Ok(Self {
                    reader: db.clone(),
                    writer: db,
                    backend,
                    order: Default::default(),
                })
            }
        }
    }

    async fn connect_sqlite(url: &str, pool: PoolOptions) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid SQLite URL {url:?}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is fsynced before it returns, so an acknowledged
            // message survives a power loss. Group commit makes that one fsync
            // per batch of posts (see docs/benchmarks.md for the cost).
            .synchronous(if pool.sqlite_full_sync {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .disable_statement_logging();
        create_private_file(options.get_filename())?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(pool.acquire_timeout)
            .after_release(|conn, _| Box::pin(sqlite_connection_is_clean(conn)))
            .connect_with(options.clone())
            .await
            .with_context(|| format!("cannot open SQLite database {}", options.get_filename().display()))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(pool.max_connections)
            .acquire_timeout(pool.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self {
            reader: SqlxSqliteConnector::from_sqlx_sqlite_pool(reader),
            writer: SqlxSqliteConnector::from_sqlx_sqlite_pool(writer),
            backend: Backend::Sqlite,
            order: Default::default(),
        })
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        migrations::Migrator::up(&self.writer, None)
            .await
            .context("database migration failed")
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// For single reads that need no transaction.
    /// The per-room order of history changes (see [`order`]).
    pub fn room_order(&self) -> &order::RoomOrder {
        &self.order
    }

    pub fn reader(&self) -> &DatabaseConnection {
        &self.reader
    }

    /// Starts a read-write transaction. Keep it short: on SQLite it holds the only writer.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        self.writer.begin().await
    }

    /// Checks that the database answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), DbErr> {
        self.reader.ping().await
    }

    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle) = match self.backend {
            Backend::Sqlite => {
                let (r, w) = (
                    self.reader.get_sqlite_connection_pool(),
                    self.writer.get_sqlite_connection_pool(),
                );
                (r.size() + w.size(), (r.num_idle() + w.num_idle()) as u32)
            }
            Backend::MySql => {
                let p = self.writer.get_mysql_connection_pool();
                (p.size(), p.num_idle() as u32)
            }
            Backend::Postgres => {
                let p = self.writer.get_postgres_connection_pool();
                (p.size(), p.num_idle() as u32)
            }
        };
        PoolStats { size, idle }
    }

    pub async fn close(&self) {
        let _ = self.reader.clone().close().await;
        if self.backend == Backend::Sqlite {
            let _ = self.writer.clone().close().await;
        }
    }
}

/// Whether the writer connection may go back to the pool: it must be out of
/// any transaction. SQLite keeps a transaction open after a failed `COMMIT`
/// (a full disk: `SQLITE_FULL`) and may have rolled one back itself after a
/// failed statement, so sqlx's count of open transactions can disagree with
/// SQLite's. A connection in that state would run every later "transaction"
/// as a savepoint inside the one that never ends: acknowledged writes that
/// nobody else sees and that vanish with the connection. Such a connection is
/// closed (which rolls back what it holds) and the pool opens a fresh one.
async fn sqlite_connection_is_clean(conn: &mut sea_orm::sqlx::SqliteConnection) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::{Database, Executor, TransactionManager};
    // Runs after any rollback still queued for this connection: `BEGIN`
    // succeeds only outside a transaction.
    if conn.execute("BEGIN").await.is_err() {
        tracing::warn!("the SQLite writer was left inside a transaction: reconnecting");
        return Ok(false);
    }
    let rolled_back = conn.execute("ROLLBACK").await.is_ok();
    let depth = <sea_orm::sqlx::Sqlite as Database>::TransactionManager::get_transaction_depth(conn);
    Ok(rolled_back && depth == 0)
}

/// Creates the SQLite file (and its directory) readable by its owner only,
/// before SQLite creates it with the process' umask; SQLite gives its `-wal`
/// and `-shm` files the database file's mode. An existing file is left as it is.
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    if path.as_os_str() == ":memory:" || path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        crate::config::create_private_dir(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(anyhow::anyhow!("cannot create {}: {e}", path.display())),
    }
}

/// The current time at the precision every backend stores (microseconds), so a
/// value reads back exactly as it was written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

/// True when `error` is a unique-index violation, on any backend.
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Escapes `%`, `_` and `\` so user text matches literally inside a `LIKE` pattern
/// (used with `ESCAPE '\'`).
pub fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_by_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(Backend::from_url("mysql://root@localhost/db").unwrap(), Backend::MySql);
        assert_eq!(Backend::from_url("postgres://localhost/db").unwrap(), Backend::Postgres);
        assert!(Backend::from_url("redis://localhost").is_err());
        assert!(Backend::from_url("nonsense").is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_a\\b"), "50\\%\\_a\\\\b");
    }
}
