//! Search indexes for two-character terms, which trigrams cannot index and
//! which are most Chinese words (`缓存`, `查询`): without them a query made
//! of such terms scans every message of the caller's rooms.
//!
//! - SQLite: `message_bigrams`, an FTS5 table of each live message's
//!   distinct bigrams as hex words, written by `store::search::index` in
//!   the transaction of the post, edit or delete (SQLite cannot compute them
//!   in a trigger);
//! - PostgreSQL: a GIN index on `confab_bigrams(lower(content))`, the
//!   content's distinct bigrams as an array, kept by the database itself;
//! - MySQL/MariaDB: `message_trigrams` becomes `message_grams` and holds
//!   each message's bigrams beside its trigrams.
//!
//! The existing messages are indexed here, a batch at a time.

use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};
use sea_orm_migration::prelude::*;

use crate::store::search;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Messages indexed per statement while the existing ones are filled in.
const BATCH: u64 = 500;

/// Each character beside the next (`lead`): linear in the text, where
/// `substr(t, i, 2)` walks the UTF-8 text from its start at every `i`
/// (47 ms for a 4,000-character message, against 2.4). Repeats stay in the
/// array, as the GIN index keeps each key once. Whitespace is left out: a
/// term never holds any, and runs such as `e ` would be in nearly every
/// row. Only ASCII whitespace, so that nothing a term can hold is left out.
const POSTGRES_UP: &[&str] = &[
    r"CREATE OR REPLACE FUNCTION confab_bigrams(t text) RETURNS text[]
      LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
        SELECT coalesce(array_agg(pair), '{}') FROM (
          SELECT ch || lead(ch) OVER (ORDER BY n) AS pair
          FROM unnest(string_to_array(t, NULL)) WITH ORDINALITY AS chars(ch, n)
        ) AS pairs
        WHERE pair !~ E'[ \t\n\r\f\x0b]'
      $$",
    "CREATE INDEX messages_content_bigrams_idx ON messages USING gin (confab_bigrams(lower(content)))",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX IF EXISTS messages_content_bigrams_idx",
    "DROP FUNCTION IF EXISTS confab_bigrams(text)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                for statement in POSTGRES_UP {
                    db.execute_unprepared(statement).await?;
                }
                return Ok(());
            }
            // Positions are never asked for (`detail = none`), nor the text
            // back (contentless): the table only says which rows hold a word.
            DatabaseBackend::Sqlite => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE message_bigrams USING fts5(grams, tokenize = 'ascii', \
                     detail = 'none', content = '', contentless_delete = 1)",
                )
                .await?
            }
            DatabaseBackend::MySql => {
                db.execute_unprepared("RENAME TABLE message_trigrams TO message_grams")
                    .await?
            }
        };
        index_existing(db).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                for statement in POSTGRES_DOWN {
                    db.execute_unprepared(statement).await?;
                }
            }
            DatabaseBackend::Sqlite => {
                db.execute_unprepared("DROP TABLE IF EXISTS message_bigrams").await?;
            }
            // The bigram words left in it are never asked for.
            DatabaseBackend::MySql => {
                db.execute_unprepared("RENAME TABLE message_grams TO message_trigrams")
                    .await?;
            }
        }
        Ok(())
    }
}

/// Indexes every live message, oldest first (on MySQL, again, with its bigrams).
async fn index_existing(db: &SchemaManagerConnection<'_>) -> Result<(), DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        content: String,
    }
    let backend = db.get_database_backend();
    let mut after = 0_i64;
    loop {
        let rows = Row::find_by_statement(Statement::from_sql_and_values(
            backend,
            format!("SELECT id, content FROM messages WHERE id > ? AND NOT is_deleted ORDER BY id LIMIT {BATCH}"),
            [after.into()],
        ))
        .all(db)
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.id;
        let entries: Vec<(i64, &str)> = rows.iter().map(|r| (r.id, r.content.as_str())).collect();
        search::index(db, &entries).await?;
    }
    Ok(())
}
