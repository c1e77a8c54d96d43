//! Queries on `rooms`.

use sea_orm::sea_query::{Expr, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

use super::entities::{room_members, rooms};
use super::escape_like;

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<rooms::Model>, DbErr> {
    rooms::Entity::find_by_id(id).one(db).await
}

/// Reads the room and, on backends that have row locks, locks it until the
/// transaction ends. Every change to a room's membership takes this lock
/// first, which serializes them per room (SQLite has a single writer anyway).
pub async fn find_for_update<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<rooms::Model>, DbErr> {
    let query = rooms::Entity::find_by_id(id);
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => query.one(db).await,
        _ => query.lock_exclusive().one(db).await,
    }
}

/// [`find_for_update`] for several rooms in one statement, locking them in
/// id order (so two writers locking overlapping sets cannot deadlock).
pub async fn find_many_for_update<C: ConnectionTrait>(db: &C, mut ids: Vec<i64>) -> Result<Vec<rooms::Model>, DbErr> {
    ids.sort_unstable();
    ids.dedup();
    let query = rooms::Entity::find()
        .filter(rooms::Column::Id.is_in(ids))
        .order_by_asc(rooms::Column::Id);
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Sqlite => query.all(db).await,
        _ => query.lock_exclusive().all(db).await,
    }
}

pub struct NewRoom<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub room_type: &'a str,
    pub created_by_id: i64,
    /// The pair of a direct conversation (see [`direct_key`]); `None` otherwise.
    pub direct_key: Option<String>,
}

/// The key of the direct conversation between two users, the same whoever opens it.
pub fn direct_key(a: i64, b: i64) -> String {
    format!("{}:{}", a.min(b), a.max(b))
}

/// The direct conversation with this key, if there is one.
pub async fn find_direct<C: ConnectionTrait>(db: &C, key: &str) -> Result<Option<rooms::Model>, DbErr> {
    rooms::Entity::find()
        .filter(rooms::Column::DirectKey.eq(key))
        .one(db)
        .await
}

pub async fn insert<C: ConnectionTrait>(db: &C, room: NewRoom<'_>) -> Result<rooms::Model, DbErr> {
    let now = super::now();
    rooms::ActiveModel {
        name: Set(room.name.to_owned()),
        name_key: Set(room.name.to_lowercase()),
        description: Set(room.description.to_owned()),
        room_type: Set(room.room_type.to_owned()),
        created_by_id: Set(room.created_by_id),
        is_active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        direct_key: Set(room.direct_key),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Fields a room admin may change; `None` leaves the column as it is.
#[derive(Default)]
pub struct RoomChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub room_type: Option<String>,
}

pub async fn update<C: ConnectionTrait>(
    db: &C,
    room: rooms::Model,
    changes: RoomChanges,
) -> Result<rooms::Model, DbErr> {
    let mut active: rooms::ActiveModel = room.into();
    if let Some(name) = changes.name {
        active.name_key = Set(name.to_lowercase());
        active.name = Set(name);
    }
    if let Some(description) = changes.description {
        active.description = Set(description);
    }
    if let Some(room_type) = changes.room_type {
        active.room_type = Set(room_type);
    }
    active.updated_at = Set(super::now());
    active.update(db).await
}

/// Records that the room's newest message now has sequence number `seq`, and
/// its latest change the number `change_seq`. Called under the room lock,
/// inside the messages' transaction.
pub async fn set_last_seq<C: ConnectionTrait>(db: &C, id: i64, seq: i64, change_seq: i64) -> Result<(), DbErr> {
    rooms::Entity::update_many()
        .col_expr(rooms::Column::LastSeq, Expr::value(seq))
        .col_expr(rooms::Column::ChangeSeq, Expr::value(change_seq))
        .filter(rooms::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn deactivate<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    rooms::Entity::update_many()
        .col_expr(rooms::Column::IsActive, Expr::value(false))
        .col_expr(rooms::Column::UpdatedAt, Expr::value(super::now()))
        .filter(rooms::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Active rooms that `user_id` can see: public ones and those they belong to.
/// The SQL twin of `chat::policy::can_view_room`, for lists.
fn visible_to(user_id: i64) -> Condition {
    let my_rooms = Query::select()
        .column(room_members::Column::RoomId)
        .from(room_members::Entity)
        .and_where(room_members::Column::UserId.eq(user_id))
        .to_owned();
    Condition::all().add(rooms::Column::IsActive.eq(true)).add(
        Condition::any()
            .add(rooms::Column::RoomType.eq("public"))
            .add(rooms::Column::Id.in_subquery(my_rooms)),
    )
}

/// Which rooms a list shows.
#[derive(Clone, Copy, Debug, Default)]
pub struct RoomFilter<'a> {
    /// Only those whose name contains this (case-insensitive).
    pub search: Option<&'a str>,
    /// Only direct conversations (`true`) or only other rooms (`false`).
    pub is_direct: Option<bool>,
}

/// One page of the rooms `user_id` can see that pass `filter`, newest first, and the total.
pub async fn page_visible<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    filter: RoomFilter<'_>,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<rooms::Model>), DbErr> {
    let mut query = rooms::Entity::find().filter(visible_to(user_id));
    match filter.is_direct {
        Some(true) => query = query.filter(rooms::Column::DirectKey.is_not_null()),
        Some(false) => query = query.filter(rooms::Column::DirectKey.is_null()),
        None => {}
    }
    let search = filter.search;
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = format!("%{}%", escape_like(&search.to_lowercase()));
        query = query.filter(Expr::col(rooms::Column::NameKey).like(LikeExpr::new(pattern).escape('\\')));
    }
    let total = query.clone().count(db).await?;
    let page = query
        .order_by_desc(rooms::Column::CreatedAt)
        .order_by_desc(rooms::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((total, page))
}

/// Where each of `ids` stands: `(room id, change_seq, is_active)`. Rooms that
/// do not exist are absent.
pub async fn sequence_points<C: ConnectionTrait>(db: &C, ids: Vec<i64>) -> Result<Vec<(i64, i64, bool)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    rooms::Entity::find()
        .select_only()
        .column(rooms::Column::Id)
        .column(rooms::Column::ChangeSeq)
        .column(rooms::Column::IsActive)
        .filter(rooms::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await
}
