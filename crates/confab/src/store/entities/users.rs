//! `users`: accounts (Django's `auth_user`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// As the user typed it; shown everywhere.
    pub username: String,
    /// Lower-cased username, unique: usernames are case-insensitive on every
    /// backend, as they were on the original's MySQL collation.
    pub username_key: String,
    /// PHC string (argon2id).
    pub password_hash: String,
    pub is_active: bool,
    pub created_at: DateTimeUtc,
    /// Unix seconds: tokens issued at or before it (`iat`) are refused. Moved on
    /// at every password change and deactivation.
    pub tokens_valid_after: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
