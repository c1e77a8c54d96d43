//! `room_members` (Django's `chat_app_chatroommember`): one row per member.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_members")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: i64,
    pub user_id: i64,
    /// `admin`, `moderator` or `member` (see `chat::Role`).
    pub role: String,
    pub joined_at: DateTimeUtc,
    /// Sequence number of the newest message this member has read; only grows.
    pub last_read_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
