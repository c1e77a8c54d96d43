//! `reactions`: one row per (message, user, emoji).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reactions")]
pub struct Model {
    /// In order of creation: a message's emoji are listed by first use.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    pub user_id: i64,
    pub emoji: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
