//! MySQL/MariaDB search: a FULLTEXT index over each live message's trigrams.
//!
//! MariaDB has no n-gram parser for FULLTEXT, and MySQL's needs a server
//! setting. So the server spells each message's distinct three-character runs
//! as words (`store::search::gram_words`) into `message_trigrams`, in the
//! transaction of the post, edit or delete, and the built-in parser indexes
//! those words. The search asks for every trigram of its terms, then checks
//! the content itself, as the other databases' trigram indexes do.
//!
//! `m20261128_000009_bigrams` renames the table `message_grams`, adds
//! bigrams, and fills it with the messages already there (it did here).

use sea_orm::{ConnectionTrait, DatabaseBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let db = manager.get_connection();
        // The words are hex (ASCII, 4 characters or more): none is a stopword.
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
