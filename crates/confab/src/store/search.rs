//! Message search, one interface over each database's own text search (the
//! indexes are made by the `search` migration):
//!
//! - SQLite: terms of three or more characters go through the FTS5 trigram
//!   index (`messages_fts`); shorter ones, which trigrams cannot index, are
//!   a `LIKE` on the rows the index already narrowed (or on the caller's rooms);
//! - PostgreSQL: `lower(content) LIKE '%term%'`, served by the trigram GIN index;
//! - MySQL/MariaDB: the same `LIKE`, scanning the caller's rooms.
//!
//! Every term must occur, in any case, anywhere (inside words too).

use sea_orm::sea_query::{Expr, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entities::{messages, room_members, rooms};
use super::escape_like;

/// The shortest term the SQLite trigram index can find.
const TRIGRAM: usize = 3;

/// One page of the live messages of `user_id`'s active rooms (or of `room_id`
/// alone) that contain every one of `terms`, newest first, and the total.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    room_id: Option<i64>,
    terms: &[String],
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<messages::Model>), DbErr> {
    let my_rooms = Query::select()
        .column(room_members::Column::RoomId)
        .from(room_members::Entity)
        .and_where(room_members::Column::UserId.eq(user_id))
        .to_owned();
    let active_rooms = Query::select()
        .column(rooms::Column::Id)
        .from(rooms::Entity)
        .and_where(rooms::Column::IsActive.eq(true))
        .to_owned();
    let mut query = messages::Entity::find()
        .filter(messages::Column::RoomId.in_subquery(my_rooms))
        .filter(messages::Column::RoomId.in_subquery(active_rooms))
        .filter(messages::Column::IsDeleted.eq(false))
        .filter(matching(db.get_database_backend(), terms));
    if let Some(room_id) = room_id {
        query = query.filter(messages::Column::RoomId.eq(room_id));
    }
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_desc(messages::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((total, rows))
}

fn matching(backend: DatabaseBackend, terms: &[String]) -> Condition {
    let mut condition = Condition::all();
    let mut indexed = Vec::new();
    for term in terms {
        if backend == DatabaseBackend::Sqlite && term.chars().count() >= TRIGRAM {
            // An FTS5 string: the term in double quotes, its quotes doubled.
            indexed.push(format!("\"{}\"", term.replace('"', "\"\"")));
            continue;
        }
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let like = LikeExpr::new(pattern).escape('\\');
        condition = condition.add(match backend {
            // SQLite's LIKE ignores ASCII case by itself, and its lower() folds ASCII only.
            DatabaseBackend::Sqlite => Expr::col(messages::Column::Content).like(like),
            _ => Expr::expr(Func::lower(Expr::col(messages::Column::Content))).like(like),
        });
    }
    if !indexed.is_empty() {
        condition = condition.add(Expr::cust_with_values(
            "messages.id IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)",
            [indexed.join(" AND ")],
        ));
    }
    condition
}
