//! A fresh database for each test, on the backend named by
//! `CONFAB_TEST_BACKEND` (`sqlite`, the default; `postgres`; `mysql`).
//!
//! PostgreSQL and MySQL/MariaDB tests create a database `confab_test_<random>`
//! through an admin URL (`CONFAB_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; `CONFAB_TEST_MYSQL_URL`,
//! default `mysql://root@127.0.0.1:3306/mysql`) and drop it when the test ends.

#![allow(dead_code)]

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl Backend {
    /// The backend the test run asked for.
    pub fn from_env() -> Self {
        match std::env::var("CONFAB_TEST_BACKEND")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" | "pg" => Backend::Postgres,
            "mysql" | "mariadb" => Backend::MySql,
            other => panic!("CONFAB_TEST_BACKEND={other:?}: use sqlite, postgres or mysql"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
            Backend::MySql => "MariaDB/MySQL",
        }
    }

    fn admin_url(self) -> Option<String> {
        let (var, default) = match self {
            Backend::Sqlite => return None,
            Backend::Postgres => (
                "CONFAB_TEST_POSTGRES_URL",
                "postgres://postgres@127.0.0.1:5432/postgres",
            ),
            Backend::MySql => ("CONFAB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/mysql"),
        };
        Some(std::env::var(var).unwrap_or_else(|_| default.to_owned()))
    }
}

/// Whether a missing service must fail the run instead of skipping (CI sets it).
pub fn services_required() -> bool {
    std::env::var("CONFAB_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// A database that exists for one test. `url` is `None` for SQLite (the
/// server's own file in its temporary data directory).
pub struct TestDatabase {
    pub backend: Backend,
    pub url: Option<String>,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh database; `Err` says why the server could not be used.
    pub async fn create(backend: Backend) -> Result<Self, String> {
        let Some(admin_url) = backend.admin_url() else {
            return Ok(Self {
                backend,
                url: None,
                name: String::new(),
            });
        };
        let name = format!("confab_test_{}", uuid::Uuid::new_v4().simple());
        let admin = admin(&admin_url)
            .await
            .map_err(|e| format!("{} at {admin_url}: {e}", backend.name()))?;
        let create = match backend {
            Backend::Postgres => format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8'"),
            _ => format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"),
        };
        // PostgreSQL refuses concurrent copies of template1 now and then: retry.
        let mut attempt = 0;
        loop {
            match admin.execute_unprepared(&create).await {
                Ok(_) => break,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(%e, "CREATE DATABASE failed, retrying");
                    tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
                }
                Err(e) => return Err(format!("cannot create a test database: {e}")),
            }
        }
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url).map_err(|e| e.to_string())?;
        url.set_path(&format!("/{name}"));
        Ok(Self {
            backend,
            url: Some(url.to_string()),
            name,
        })
    }
}

async fn admin(url: &str) -> Result<sea_orm::DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false);
    Database::connect(options).await
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.backend.admin_url().filter(|_| !self.name.is_empty()) else {
            return;
        };
        let drop = match self.backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            _ => format!("DROP DATABASE IF EXISTS `{}`", self.name),
        };
        // Drop runs outside async code: use a private runtime on its own thread.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let admin = admin(&admin_url).await.ok()?;
                let _ = admin.execute_unprepared(&drop).await;
                let _ = admin.close().await;
                Some(())
            })
        })
        .join();
    }
}
