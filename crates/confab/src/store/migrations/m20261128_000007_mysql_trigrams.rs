//! MySQL/MariaDB search: a FULLTEXT index over each live message's trigrams.
//!
//! MariaDB has no n-gram parser for FULLTEXT, and MySQL's needs a server
//! setting. So the server spells each message's distinct three-character runs
//! as words (`store::search::trigram_words`) into `message_trigrams`, in the
//! transaction of the post, edit or delete, and the built-in parser indexes
//! those words. The search asks for every trigram of its terms, then checks
//! the content itself, as the other databases' trigram indexes do.

use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult, Statement};
use sea_orm_migration::prelude::*;

use crate::store::search;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Messages indexed per statement while the existing ones are filled in.
const BATCH: u64 = 500;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let db = manager.get_connection();
        // The words are hex (ASCII); they never meet a stopword, the
        // shortest being 6 characters.
        db.execute_unprepared(
            "CREATE TABLE message_trigrams (\
               message_id BIGINT NOT NULL PRIMARY KEY, \
               grams MEDIUMTEXT CHARACTER SET ascii NOT NULL, \
               FULLTEXT KEY message_trigrams_grams (grams), \
               CONSTRAINT fk_message_trigrams_message FOREIGN KEY (message_id) \
                 REFERENCES messages (id) ON DELETE CASCADE\
             ) ENGINE = InnoDB",
        )
        .await?;
        #[derive(FromQueryResult)]
        struct Row {
            id: i64,
            content: String,
        }
        let mut after = 0_i64;
        loop {
            let rows = Row::find_by_statement(Statement::from_sql_and_values(
                DatabaseBackend::MySql,
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DatabaseBackend::MySql {
            manager
                .get_connection()
                .execute_unprepared("DROP TABLE IF EXISTS message_trigrams")
                .await?;
        }
        Ok(())
    }
}
