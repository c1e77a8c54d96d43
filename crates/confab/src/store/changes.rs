//! Queries on `room_changes` and each room's `change_seq` (see the entity).

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::{messages, room_changes, rooms};

/// Takes the room's next change number. Call with the room locked
/// (`rooms::find_for_update`), inside the change's transaction.
pub async fn next<C: ConnectionTrait>(db: &C, room: &rooms::Model) -> Result<i64, DbErr> {
    let seq = room.change_seq + 1;
    rooms::Entity::update_many()
        .col_expr(rooms::Column::ChangeSeq, Expr::value(seq))
        .filter(rooms::Column::Id.eq(room.id))
        .exec(db)
        .await?;
    Ok(seq)
}

/// What changed, for `record`.
pub struct NewChange<'a> {
    pub room_id: i64,
    pub change_seq: i64,
    pub kind: &'a str,
    pub message_id: i64,
    pub user_id: Option<i64>,
    pub emoji: Option<&'a str>,
}

pub async fn record<C: ConnectionTrait>(db: &C, change: NewChange<'_>) -> Result<(), DbErr> {
    room_changes::Entity::insert(room_changes::ActiveModel {
        room_id: Set(change.room_id),
        change_seq: Set(change.change_seq),
        kind: Set(change.kind.to_owned()),
        message_id: Set(change.message_id),
        user_id: Set(change.user_id),
        emoji: Set(change.emoji.map(str::to_owned)),
        created_at: Set(super::now()),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// The room's recorded changes numbered `after + 1 ..= up_to`, in order.
pub async fn between<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    after: i64,
    up_to: i64,
) -> Result<Vec<room_changes::Model>, DbErr> {
    room_changes::Entity::find()
        .filter(room_changes::Column::RoomId.eq(room_id))
        .filter(room_changes::Column::ChangeSeq.gt(after))
        .filter(room_changes::Column::ChangeSeq.lte(up_to))
        .order_by_asc(room_changes::Column::ChangeSeq)
        .all(db)
        .await
}

/// The room's messages posted with change numbers `after + 1 ..= up_to`, deleted ones included, in order.
pub async fn posted_between<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    after: i64,
    up_to: i64,
) -> Result<Vec<messages::Model>, DbErr> {
    messages::Entity::find()
        .filter(messages::Column::RoomId.eq(room_id))
        .filter(messages::Column::ChangeSeq.gt(after))
        .filter(messages::Column::ChangeSeq.lte(up_to))
        .order_by_asc(messages::Column::ChangeSeq)
        .all(db)
        .await
}

/// The room's current change number (0 for a room that does not exist).
pub async fn current<C: ConnectionTrait>(db: &C, room_id: i64) -> Result<i64, DbErr> {
    let seq: Option<i64> = rooms::Entity::find_by_id(room_id)
        .select_only()
        .column(rooms::Column::ChangeSeq)
        .into_tuple()
        .one(db)
        .await?;
    Ok(seq.unwrap_or(0))
}
