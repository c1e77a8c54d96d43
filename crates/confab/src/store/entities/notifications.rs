//! `notifications` (Django's `chat_app_chatnotification`).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The recipient.
    pub user_id: i64,
    /// `mention`, `reply`, `room_invite`, `role_changed` or `removed_from_room`.
    pub notification_type: String,
    pub title: String,
    pub content: String,
    pub is_read: bool,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
