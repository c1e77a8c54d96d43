//! Message search, built into each database (see `store::search`):
//!
//! - SQLite: an FTS5 table with the trigram tokenizer (it finds any run of
//!   three or more characters, inside words too, which text without spaces
//!   such as Chinese needs), kept by triggers in the same transaction as the
//!   post, the edit or the delete that changes it;
//! - PostgreSQL: a trigram GIN index (`pg_trgm`) on `lower(content)`, which
//!   serves `LIKE '%term%'`;
//! - MySQL/MariaDB: nothing here (MariaDB has no n-gram parser for
//!   FULLTEXT); `m20261128_000007_mysql_trigrams` indexes trigrams instead.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const SQLITE_UP: &[&str] = &[
    "CREATE VIRTUAL TABLE messages_fts USING fts5(content, tokenize = 'trigram')",
    "INSERT INTO messages_fts(rowid, content) SELECT id, content FROM messages WHERE is_deleted = 0",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages WHEN NOT new.is_deleted BEGIN \
       INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_edit AFTER UPDATE OF content ON messages WHEN NOT new.is_deleted BEGIN \
       UPDATE messages_fts SET content = new.content WHERE rowid = new.id; END",
    "CREATE TRIGGER messages_fts_delete AFTER UPDATE OF is_deleted ON messages WHEN new.is_deleted BEGIN \
       DELETE FROM messages_fts WHERE rowid = new.id; END",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_edit",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TABLE IF EXISTS messages_fts",
];

const POSTGRES_UP: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX messages_content_trgm_idx ON messages USING gin (lower(content) gin_trgm_ops)",
];

const POSTGRES_DOWN: &[&str] = &["DROP INDEX IF EXISTS messages_content_trgm_idx"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, SQLITE_UP, POSTGRES_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, SQLITE_DOWN, POSTGRES_DOWN).await
    }
}

async fn run(manager: &SchemaManager<'_>, sqlite: &[&str], postgres: &[&str]) -> Result<(), DbErr> {
    let statements = match manager.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => sqlite,
        sea_orm::DatabaseBackend::Postgres => postgres,
        sea_orm::DatabaseBackend::MySql => &[],
    };
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
