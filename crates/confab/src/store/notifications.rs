//! Queries on `notifications`.

use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, Set};

use super::entities::notifications;

pub struct NewNotification {
    pub user_id: i64,
    pub notification_type: &'static str,
    pub title: String,
    pub content: String,
    pub room_id: Option<i64>,
    pub message_id: Option<i64>,
}

pub async fn insert<C: ConnectionTrait>(db: &C, new: NewNotification) -> Result<notifications::Model, DbErr> {
    notifications::ActiveModel {
        user_id: Set(new.user_id),
        notification_type: Set(new.notification_type.to_owned()),
        title: Set(new.title),
        content: Set(new.content),
        is_read: Set(false),
        room_id: Set(new.room_id),
        message_id: Set(new.message_id),
        created_at: Set(super::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}
