//! Direct messages: a direct conversation is a private room of two whose
//! `direct_key` names the pair ("<smaller id>:<larger id>"). The unique index
//! on it is what makes concurrent "open a conversation" calls agree on one
//! room; other rooms leave it NULL, which unique indexes allow many times on
//! every backend.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .add_column(ColumnDef::new(Rooms::DirectKey).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("rooms_direct_key_idx")
                    .table(Rooms::Table)
                    .col(Rooms::DirectKey)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("rooms_direct_key_idx")
                    .table(Rooms::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Rooms::Table)
                    .drop_column(Rooms::DirectKey)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Rooms {
    Table,
    DirectKey,
}
