//! Edits, reactions and change resume.
//!
//! Every change to a room's history takes the next number of the room's
//! `change_seq` under the room lock. A message keeps the number it was posted
//! with (`messages.change_seq`, so posting writes no extra row); every later
//! change (a delete, an edit, a reaction added or removed) is a row of
//! `room_changes`. Together they replay a room's history after any point.
//! Messages posted before this migration take their `seq` as their number.

use sea_orm_migration::prelude::*;

use super::{create_table, id, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut edited_at = ColumnDef::new(Messages::EditedAt);
        match manager.get_database_backend() {
            sea_orm::DatabaseBackend::MySql => edited_at.custom(Alias::new("DATETIME(6)")),
            _ => edited_at.timestamp_with_time_zone(),
        };
        edited_at.null();
        // SQLite adds one column per ALTER TABLE.
        for column in [
            edited_at,
            ColumnDef::new(Messages::ChangeSeq)
                .big_integer()
                .not_null()
                .default(0)
                .to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Messages::Table).add_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .add_column(ColumnDef::new(Rooms::ChangeSeq).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared("UPDATE messages SET change_seq = seq").await?;
        db.execute_unprepared("UPDATE rooms SET change_seq = last_seq").await?;
        manager
            .create_index(
                Index::create()
                    .name("messages_room_change_idx")
                    .table(Messages::Table)
                    .col(Messages::RoomId)
                    .col(Messages::ChangeSeq)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, RoomChanges::Table)
                    .col(ColumnDef::new(RoomChanges::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(RoomChanges::ChangeSeq).big_integer().not_null())
                    // `deleted`, `edited`, `reaction_added`, `reaction_removed`.
                    .col(ColumnDef::new(RoomChanges::Kind).string_len(24).not_null())
                    .col(ColumnDef::new(RoomChanges::MessageId).big_integer().not_null())
                    // Who reacted, and with what (reactions only).
                    .col(ColumnDef::new(RoomChanges::UserId).big_integer().null())
                    .col(ColumnDef::new(RoomChanges::Emoji).string_len(32).null())
                    .col(timestamp(manager, RoomChanges::CreatedAt))
                    .primary_key(Index::create().col(RoomChanges::RoomId).col(RoomChanges::ChangeSeq))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, Reactions::Table)
                    .col(id(Reactions::Id))
                    .col(ColumnDef::new(Reactions::MessageId).big_integer().not_null())
                    .col(ColumnDef::new(Reactions::UserId).big_integer().not_null())
                    .col(ColumnDef::new(Reactions::Emoji).string_len(32).not_null())
                    .col(timestamp(manager, Reactions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // One reaction per (message, user, emoji): a concurrent repeat meets it.
        manager
            .create_index(
                Index::create()
                    .name("reactions_message_user_emoji_uniq")
                    .table(Reactions::Table)
                    .col(Reactions::MessageId)
                    .col(Reactions::UserId)
                    .col(Reactions::Emoji)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Reactions::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(RoomChanges::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("messages_room_change_idx")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await?;
        for column in [Messages::EditedAt, Messages::ChangeSeq] {
            manager
                .alter_table(Table::alter().table(Messages::Table).drop_column(column).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .drop_column(Rooms::ChangeSeq)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    RoomId,
    EditedAt,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    ChangeSeq,
}

#[derive(DeriveIden)]
enum RoomChanges {
    Table,
    RoomId,
    ChangeSeq,
    Kind,
    MessageId,
    UserId,
    Emoji,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Reactions {
    Table,
    Id,
    MessageId,
    UserId,
    Emoji,
    CreatedAt,
}
