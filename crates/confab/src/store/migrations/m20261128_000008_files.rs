//! Files shared in rooms: one row per upload, its bytes in the object store
//! under `storage_key` (and its thumbnail's under `thumbnail_key`). A file is
//! unattached (`message_id` null) until a post of its uploader in its room
//! claims it; unattached files past their age are deleted by the server.

use sea_orm_migration::prelude::*;

use super::{create_table, id, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                create_table(manager, Files::Table)
                    .col(id(Files::Id))
                    .col(ColumnDef::new(Files::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(Files::UploaderId).big_integer().not_null())
                    .col(ColumnDef::new(Files::MessageId).big_integer().null())
                    .col(ColumnDef::new(Files::StorageKey).string_len(64).not_null())
                    .col(ColumnDef::new(Files::ThumbnailKey).string_len(64).null())
                    .col(ColumnDef::new(Files::Name).string_len(255).not_null())
                    .col(ColumnDef::new(Files::Size).big_integer().not_null())
                    .col(ColumnDef::new(Files::ContentType).string_len(127).not_null())
                    .col(timestamp(manager, Files::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            // A page's attachments, in one query.
            ("files_message_idx", vec![Files::MessageId]),
            // A user's quota.
            ("files_uploader_idx", vec![Files::UploaderId]),
            // The cleanup of old unattached uploads.
            ("files_created_idx", vec![Files::CreatedAt]),
        ] {
            let mut index = Index::create();
            index.name(name).table(Files::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Files::Table).to_owned()).await
    }
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    RoomId,
    UploaderId,
    MessageId,
    StorageKey,
    ThumbnailKey,
    Name,
    Size,
    ContentType,
    CreatedAt,
}
