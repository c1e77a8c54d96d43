//! Messages, per-room sequence numbers and per-member read pointers.
//!
//! `rooms.last_seq` counts the room's messages (bumped under the room lock in
//! the insert's transaction); `room_members.last_read_seq` is how far a member
//! has read. A member's unread count is then a subtraction,
//! `last_seq - last_read_seq`, less the deleted messages past the pointer.

use sea_orm_migration::prelude::*;

use super::{create_table, id, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .add_column(ColumnDef::new(Rooms::LastSeq).big_integer().not_null().default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RoomMembers::Table)
                    .add_column(
                        ColumnDef::new(RoomMembers::LastReadSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                create_table(manager, Messages::Table)
                    .col(id(Messages::Id))
                    .col(ColumnDef::new(Messages::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::SenderId).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(ColumnDef::new(Messages::MessageType).string_len(20).not_null())
                    .col(ColumnDef::new(Messages::ReplyToId).big_integer().null())
                    .col(ColumnDef::new(Messages::IsDeleted).boolean().not_null().default(false))
                    .col(ColumnDef::new(Messages::ClientId).string_len(64).null())
                    .col(timestamp(manager, Messages::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("messages_room_fk")
                            .from(Messages::Table, Messages::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("messages_sender_fk")
                            .from(Messages::Table, Messages::SenderId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("messages_reply_to_fk")
                            .from(Messages::Table, Messages::ReplyToId)
                            .to(Messages::Table, Messages::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // History pages (`WHERE room_id = ? AND is_deleted = false AND id < ? ORDER BY id DESC`)
        // and the last message of each room.
        manager
            .create_index(
                Index::create()
                    .name("messages_room_live_idx")
                    .table(Messages::Table)
                    .col(Messages::RoomId)
                    .col(Messages::IsDeleted)
                    .col(Messages::Id)
                    .to_owned(),
            )
            .await?;
        // One sequence number per message of a room; also counts the deleted
        // messages past a read pointer for the unread count.
        manager
            .create_index(
                Index::create()
                    .name("messages_room_seq_uniq")
                    .table(Messages::Table)
                    .col(Messages::RoomId)
                    .col(Messages::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Idempotent sends: one message per (sender, client_id). NULL client ids
        // are distinct on every backend, so messages without one never collide.
        manager
            .create_index(
                Index::create()
                    .name("messages_sender_client_uniq")
                    .table(Messages::Table)
                    .col(Messages::SenderId)
                    .col(Messages::ClientId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(RoomMembers::Table)
                    .drop_column(RoomMembers::LastReadSeq)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .drop_column(Rooms::LastSeq)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    Id,
    LastSeq,
}

#[derive(DeriveIden)]
enum RoomMembers {
    Table,
    LastReadSeq,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    RoomId,
    SenderId,
    Seq,
    Content,
    MessageType,
    ReplyToId,
    IsDeleted,
    ClientId,
    CreatedAt,
}
