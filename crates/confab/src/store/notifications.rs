//! Queries on `notifications`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

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

/// A user's notifications, newest first, optionally only read or unread ones:
/// the total and one page. Served by `notifications_user_read_idx`.
pub async fn page_for_user<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    is_read: Option<bool>,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<notifications::Model>), DbErr> {
    let mut query = notifications::Entity::find().filter(notifications::Column::UserId.eq(user_id));
    if let Some(is_read) = is_read {
        query = query.filter(notifications::Column::IsRead.eq(is_read));
    }
    let total = query.clone().count(db).await?;
    let page = query
        .order_by_desc(notifications::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((total, page))
}

/// The notification if it belongs to `user_id`.
pub async fn find_for_user<C: ConnectionTrait>(
    db: &C,
    id: i64,
    user_id: i64,
) -> Result<Option<notifications::Model>, DbErr> {
    notifications::Entity::find_by_id(id)
        .filter(notifications::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Marks one or all (`id = None`) of a user's unread notifications read; returns how many changed.
pub async fn mark_read<C: ConnectionTrait>(db: &C, user_id: i64, id: Option<i64>) -> Result<u64, DbErr> {
    let mut update = notifications::Entity::update_many()
        .col_expr(notifications::Column::IsRead, Expr::value(true))
        .filter(notifications::Column::UserId.eq(user_id))
        .filter(notifications::Column::IsRead.eq(false));
    if let Some(id) = id {
        update = update.filter(notifications::Column::Id.eq(id));
    }
    Ok(update.exec(db).await?.rows_affected)
}
