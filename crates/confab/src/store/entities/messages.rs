//! `messages` (Django's `chat_app_chatmessage`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    /// Global id; within a room ids increase in commit order.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: i64,
    pub sender_id: i64,
    /// Position in the room: 1, 2, 3... with no gap, assigned under the room lock.
    pub seq: i64,
    pub content: String,
    pub message_type: String,
    pub reply_to_id: Option<i64>,
    /// Soft delete: the row stays, hidden from history.
    pub is_deleted: bool,
    /// The sender's idempotency key, unique per sender.
    pub client_id: Option<String>,
    pub created_at: DateTimeUtc,
    /// When the content last changed, or `None`.
    pub edited_at: Option<DateTimeUtc>,
    /// The room's change number this message was posted with (see `room_changes`).
    pub change_seq: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
