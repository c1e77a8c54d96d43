//! Users and roles, rooms, members and notifications.

use sea_orm_migration::prelude::*;

use super::{create_table, id, timestamp};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                create_table(manager, Users::Table)
                    .col(id(Users::Id))
                    .col(ColumnDef::new(Users::Username).string_len(150).not_null())
                    .col(ColumnDef::new(Users::UsernameKey).string_len(150).not_null())
                    .col(ColumnDef::new(Users::PasswordHash).string_len(255).not_null())
                    .col(ColumnDef::new(Users::IsActive).boolean().not_null().default(true))
                    .col(timestamp(manager, Users::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_username_key_uniq")
                    .table(Users::Table)
                    .col(Users::UsernameKey)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, UserRoles::Table)
                    .col(ColumnDef::new(UserRoles::UserId).big_integer().not_null())
                    .col(ColumnDef::new(UserRoles::Role).string_len(50).not_null())
                    .primary_key(Index::create().col(UserRoles::UserId).col(UserRoles::Role))
                    .foreign_key(
                        ForeignKey::create()
                            .name("user_roles_user_fk")
                            .from(UserRoles::Table, UserRoles::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, Rooms::Table)
                    .col(id(Rooms::Id))
                    .col(ColumnDef::new(Rooms::Name).string_len(100).not_null())
                    // Lower-cased by the application (full Unicode, unlike SQLite's
                    // LOWER), so name search behaves the same on every backend.
                    .col(ColumnDef::new(Rooms::NameKey).string_len(400).not_null())
                    .col(
                        ColumnDef::new(Rooms::Description)
                            .string_len(500)
                            .not_null()
                            .default(""),
                    )
                    .col(ColumnDef::new(Rooms::RoomType).string_len(10).not_null())
                    .col(ColumnDef::new(Rooms::CreatedById).big_integer().not_null())
                    .col(ColumnDef::new(Rooms::IsActive).boolean().not_null().default(true))
                    .col(timestamp(manager, Rooms::CreatedAt))
                    .col(timestamp(manager, Rooms::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("rooms_created_by_fk")
                            .from(Rooms::Table, Rooms::CreatedById)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // The room list reads active rooms by type, newest first.
        manager
            .create_index(
                Index::create()
                    .name("rooms_active_type_idx")
                    .table(Rooms::Table)
                    .col(Rooms::IsActive)
                    .col(Rooms::RoomType)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, RoomMembers::Table)
                    .col(id(RoomMembers::Id))
                    .col(ColumnDef::new(RoomMembers::RoomId).big_integer().not_null())
                    .col(ColumnDef::new(RoomMembers::UserId).big_integer().not_null())
                    .col(ColumnDef::new(RoomMembers::Role).string_len(10).not_null())
                    .col(timestamp(manager, RoomMembers::JoinedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("room_members_room_fk")
                            .from(RoomMembers::Table, RoomMembers::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("room_members_user_fk")
                            .from(RoomMembers::Table, RoomMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One membership per (room, user); also serves "members of a room".
        manager
            .create_index(
                Index::create()
                    .name("room_members_room_user_uniq")
                    .table(RoomMembers::Table)
                    .col(RoomMembers::RoomId)
                    .col(RoomMembers::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // "Rooms of a user", for the room list's visibility rule.
        manager
            .create_index(
                Index::create()
                    .name("room_members_user_room_idx")
                    .table(RoomMembers::Table)
                    .col(RoomMembers::UserId)
                    .col(RoomMembers::RoomId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                create_table(manager, Notifications::Table)
                    .col(id(Notifications::Id))
                    .col(ColumnDef::new(Notifications::UserId).big_integer().not_null())
                    .col(
                        ColumnDef::new(Notifications::NotificationType)
                            .string_len(20)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Notifications::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Notifications::Content).text().not_null())
                    .col(
                        ColumnDef::new(Notifications::IsRead)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Notifications::RoomId).big_integer().null())
                    // No foreign key yet: the messages table arrives in a later migration.
                    .col(ColumnDef::new(Notifications::MessageId).big_integer().null())
                    .col(timestamp(manager, Notifications::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("notifications_user_fk")
                            .from(Notifications::Table, Notifications::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("notifications_room_fk")
                            .from(Notifications::Table, Notifications::RoomId)
                            .to(Rooms::Table, Rooms::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        // A user's notifications, newest first, optionally unread only.
        manager
            .create_index(
                Index::create()
                    .name("notifications_user_read_idx")
                    .table(Notifications::Table)
                    .col(Notifications::UserId)
                    .col(Notifications::IsRead)
                    .col(Notifications::Id)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Notifications::Table.into_iden(),
            RoomMembers::Table.into_iden(),
            Rooms::Table.into_iden(),
            UserRoles::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    PasswordHash,
    IsActive,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserRoles {
    Table,
    UserId,
    Role,
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    Id,
    Name,
    NameKey,
    Description,
    RoomType,
    CreatedById,
    IsActive,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RoomMembers {
    Table,
    Id,
    RoomId,
    UserId,
    Role,
    JoinedAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    UserId,
    NotificationType,
    Title,
    Content,
    IsRead,
    RoomId,
    MessageId,
    CreatedAt,
}
