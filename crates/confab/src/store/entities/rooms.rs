//! `rooms` (Django's `chat_app_chatroom`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "rooms")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    /// `name` lower-cased, for case-insensitive search.
    pub name_key: String,
    pub description: String,
    /// `public`, `private` or `group` (see `chat::RoomType`).
    pub room_type: String,
    pub created_by_id: i64,
    /// False once deleted: rooms are soft-deleted and then invisible.
    pub is_active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Sequence number of the room's newest message (0: none yet).
    pub last_seq: i64,
    /// For a direct conversation, its pair of users ("<smaller id>:<larger id>",
    /// unique); NULL for every other room.
    pub direct_key: Option<String>,
    /// The number of the room's latest history change (posts, deletes,
    /// edits, reactions): see `room_changes`.
    pub change_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
