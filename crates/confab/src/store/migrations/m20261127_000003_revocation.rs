//! Revocation: tokens a password change or deactivation invalidates, refresh
//! tokens blacklisted at logout or rotation (SimpleJWT's
//! `token_blacklist` app), and notification titles long enough for the
//! longest username and room name.

use sea_orm_migration::prelude::*;

use super::create_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Unix seconds: tokens issued (`iat`) at or before it are refused.
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::TokensValidAfter)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                create_table(manager, BlacklistedTokens::Table)
                    .col(
                        ColumnDef::new(BlacklistedTokens::Jti)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(BlacklistedTokens::UserId).big_integer().not_null())
                    // Unix seconds: the token's own `exp`; the row is useless after it.
                    .col(ColumnDef::new(BlacklistedTokens::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("blacklisted_tokens_expires_idx")
                    .table(BlacklistedTokens::Table)
                    .col(BlacklistedTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // "<150-character name> mentioned you in <100-character room>" is 268
        // characters. SQLite does not enforce lengths (and cannot alter a column).
        if manager.get_database_backend() != sea_orm::DatabaseBackend::Sqlite {
            manager
                .alter_table(
                    Table::alter()
                        .table(Notifications::Table)
                        .modify_column(ColumnDef::new(Notifications::Title).string_len(400).not_null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BlacklistedTokens::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::TokensValidAfter)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    TokensValidAfter,
}

#[derive(DeriveIden)]
enum BlacklistedTokens {
    Table,
    Jti,
    UserId,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Title,
}
