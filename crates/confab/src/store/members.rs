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

/// The memberships of `user_ids` in `room_ids` (every pair that exists).
pub async fn find_many<C: ConnectionTrait>(
    db: &C,
    room_ids: Vec<i64>,
    user_ids: Vec<i64>,
) -> Result<Vec<room_members::Model>, DbErr> {
    if room_ids.is_empty() || user_ids.is_empty() {
        return Ok(Vec::new());
    }
    room_members::Entity::find()
        .filter(room_members::Column::RoomId.is_in(room_ids))
        .filter(room_members::Column::UserId.is_in(user_ids))
        .all(db)
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

/// Ids of the active rooms `user_id` belongs to, in id order.
pub async fn active_room_ids<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Vec<i64>, DbErr> {
    use super::entities::rooms;
    let active = sea_orm::sea_query::Query::select()
        .column(rooms::Column::Id)
        .from(rooms::Entity)
        .and_where(rooms::Column::IsActive.eq(true))
        .to_owned();
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::RoomId)
        .filter(room_members::Column::UserId.eq(user_id))
        .filter(room_members::Column::RoomId.in_subquery(active))
        .order_by_asc(room_members::Column::RoomId)
        .into_tuple()
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

/// `(room_id, user_id)` of the members of `room_ids` other than `user_id`
/// (for direct conversations: the peer).
pub async fn others_in<C: ConnectionTrait>(db: &C, room_ids: Vec<i64>, user_id: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::RoomId)
        .column(room_members::Column::UserId)
        .filter(room_members::Column::RoomId.is_in(room_ids))
        .filter(room_members::Column::UserId.ne(user_id))
        .into_tuple()
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

/// Ids of the room's members whose (lower-cased) usernames are among `names`.
pub async fn user_ids_by_names<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    names: Vec<String>,
) -> Result<Vec<i64>, DbErr> {
    use super::entities::users;
    let named = sea_orm::sea_query::Query::select()
        .column(users::Column::Id)
        .from(users::Entity)
        .and_where(users::Column::UsernameKey.is_in(names))
        .to_owned();
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::UserId)
        .filter(room_members::Column::RoomId.eq(room_id))
        .filter(room_members::Column::UserId.in_subquery(named))
        .into_tuple()
        .all(db)
        .await
}

/// `(user_id, last_read_seq)` of every member of a room.
pub async fn read_pointers<C: ConnectionTrait>(db: &C, room_id: i64) -> Result<Vec<(i64, i64)>, DbErr> {
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::UserId)
        .column(room_members::Column::LastReadSeq)
        .filter(room_members::Column::RoomId.eq(room_id))
        .into_tuple()
        .all(db)
        .await
}

/// `(room_id, user_id, last_read_seq)` of every member of `room_ids`.
pub async fn read_pointers_in<C: ConnectionTrait>(db: &C, room_ids: Vec<i64>) -> Result<Vec<(i64, i64, i64)>, DbErr> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::RoomId)
        .column(room_members::Column::UserId)
        .column(room_members::Column::LastReadSeq)
        .filter(room_members::Column::RoomId.is_in(room_ids))
        .into_tuple()
        .all(db)
        .await
}

/// For messages `(room_id, seq, sender_id)`, at most one per room: how many
/// members other than the sender have read that far, by room.
pub async fn readers_per_room<C: ConnectionTrait>(
    db: &C,
    messages: &[(i64, i64, i64)],
) -> Result<Vec<(i64, i64)>, DbErr> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let mut read_it = sea_orm::Condition::any();
    for (room_id, seq, sender_id) in messages {
        read_it = read_it.add(
            sea_orm::Condition::all()
                .add(room_members::Column::RoomId.eq(*room_id))
                .add(room_members::Column::LastReadSeq.gte(*seq))
                .add(room_members::Column::UserId.ne(*sender_id)),
        );
    }
    room_members::Entity::find()
        .select_only()
        .column(room_members::Column::RoomId)
        .column_as(room_members::Column::Id.count(), "readers")
        .filter(read_it)
        .group_by(room_members::Column::RoomId)
        .into_tuple()
        .all(db)
        .await
}

/// [`advance_read_pointer`] for several members of one room in one
/// statement: each `(user_id, seq)` pointer moves forward to `seq`.
pub async fn advance_read_pointers<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    pointers: &[(i64, i64)],
) -> Result<(), DbErr> {
    let Some((&(first_user, first_seq), rest)) = pointers.split_first() else {
        return Ok(());
    };
    let column = || Expr::col(room_members::Column::LastReadSeq);
    let moved = |user: i64, seq: i64| Expr::col(room_members::Column::UserId).eq(user).and(column().lt(seq));
    let mut value = Expr::case(moved(first_user, first_seq), first_seq);
    for &(user, seq) in rest {
        value = value.case(moved(user, seq), seq);
    }
    room_members::Entity::update_many()
        .col_expr(room_members::Column::LastReadSeq, value.finally(column()).into())
        .filter(room_members::Column::RoomId.eq(room_id))
        .filter(room_members::Column::UserId.is_in(pointers.iter().map(|(user, _)| *user)))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves a member's read pointer to `seq`, never backwards. Returns whether it moved.
pub async fn advance_read_pointer<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    user_id: i64,
    seq: i64,
) -> Result<bool, DbErr> {
    let result = room_members::Entity::update_many()
        .col_expr(room_members::Column::LastReadSeq, Expr::value(seq))
        .filter(room_members::Column::RoomId.eq(room_id))
        .filter(room_members::Column::UserId.eq(user_id))
        .filter(room_members::Column::LastReadSeq.lt(seq))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

pub async fn delete<C: ConnectionTrait>(db: &C, member_id: i64) -> Result<(), DbErr> {
    room_members::Entity::delete_by_id(member_id).exec(db).await?;
    Ok(())
}
