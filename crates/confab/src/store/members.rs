//! Queries on `room_members`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::room_members;

pub async fn find<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    user_id: i64,
) -> Result<Option<room_members::Model>, DbErr> {
    room_members::Entity::find()
        .filter(room_members::Column::RoomId.eq(room_id))
        .filter(room_members::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Members of a room, longest-standing first.
pub async fn of_room<C: ConnectionTrait>(db: &C, room_id: i64) -> Result<Vec<room_members::Model>, DbErr> {
    room_members::Entity::find()
        .filter(room_members::Column::RoomId.eq(room_id))
        .order_by_asc(room_members::Column::JoinedAt)
        .order_by_asc(room_members::Column::Id)
        .all(db)
        .await
}

/// `user_id`'s memberships among `room_ids`.
pub async fn of_user_in<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    room_ids: Vec<i64>,
) -> Result<Vec<room_members::Model>, DbErr> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    room_members::Entity::find()
        .filter(room_members::Column::UserId.eq(user_id))
        .filter(room_members::Column::RoomId.is_in(room_ids))
        .all(db)
        .await
}

/// `(room_id, member count)` for each of `room_ids` that has members.
pub async fn counts<C: ConnectionTrait>(db: &C, room_ids: Vec<i64>) -> Result<Vec<(i64, i64)>, DbErr> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::RoomId)
        .column_as(room_members::Column::Id.count(), "member_count")
        .filter(room_members::Column::RoomId.is_in(room_ids))
        .group_by(room_members::Column::RoomId)
        .into_tuple()
        .all(db)
        .await
}

pub async fn count_with_role<C: ConnectionTrait>(db: &C, room_id: i64, role: &str) -> Result<u64, DbErr> {
    room_members::Entity::find()
        .filter(room_members::Column::RoomId.eq(room_id))
        .filter(room_members::Column::Role.eq(role))
        .count(db)
        .await
}

pub async fn insert<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    user_id: i64,
    role: &str,
) -> Result<room_members::Model, DbErr> {
    room_members::ActiveModel {
        room_id: Set(room_id),
        user_id: Set(user_id),
        role: Set(role.to_owned()),
        joined_at: Set(super::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn set_role<C: ConnectionTrait>(db: &C, member_id: i64, role: &str) -> Result<(), DbErr> {
    room_members::Entity::update_many()
        .col_expr(room_members::Column::Role, Expr::value(role))
        .filter(room_members::Column::Id.eq(member_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete<C: ConnectionTrait>(db: &C, member_id: i64) -> Result<(), DbErr> {
    room_members::Entity::delete_by_id(member_id).exec(db).await?;
    Ok(())
}
