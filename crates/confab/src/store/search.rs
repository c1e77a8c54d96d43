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
//!
//! The total is counted up to [`COUNT_CAP`]: counting every match of two
//! common words costs more than finding a page of them (on SQLite, 80 ms
//! against 1 ms for a million messages), and nobody pages past the
//! thousandth result; they refine the query.

use sea_orm::sea_query::{Expr, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};

use super::entities::{messages, room_members, rooms};
use super::escape_like;

/// The shortest term the SQLite trigram index can find.
const TRIGRAM: usize = 3;

/// The most matches a search counts; the total says this many when there are more.
pub const COUNT_CAP: u64 = 1000;

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
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Sqlite && terms.iter().any(|t| t.chars().count() >= TRIGRAM) {
        return sqlite_page(db, user_id, room_id, terms, offset, limit).await;
    }
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
    let counted: Vec<i64> = query
        .clone()
        .select_only()
        .column(messages::Column::Id)
        .order_by_desc(messages::Column::Id)
        .limit(COUNT_CAP + 1)
        .into_tuple()
        .all(db)
        .await?;
    let total = (counted.len() as u64).min(COUNT_CAP);
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
    for term in terms {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let like = LikeExpr::new(pattern).escape('\\');
        condition = condition.add(match backend {
            // SQLite's LIKE ignores ASCII case by itself, and its lower() folds ASCII only.
            DatabaseBackend::Sqlite => Expr::col(messages::Column::Content).like(like),
            _ => Expr::expr(Func::lower(Expr::col(messages::Column::Content))).like(like),
        });
    }
    condition
}

/// SQLite with at least one indexed term: the FTS index drives, newest first
/// (`rowid DESC` is the order it iterates in), so a page or a capped count
/// stops as soon as it has its rows.
async fn sqlite_page<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    room_id: Option<i64>,
    terms: &[String],
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<messages::Model>), DbErr> {
    let mut indexed = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut filters = String::new();
    for term in terms {
        if term.chars().count() >= TRIGRAM {
            indexed.push(format!("\"{}\"", term.replace('"', "\"\"")));
        } else {
            // SQLite's LIKE ignores ASCII case by itself.
            filters.push_str(" AND m.content LIKE ? ESCAPE '\\'");
            values.push(format!("%{}%", escape_like(term)).into());
        }
    }
    if let Some(room_id) = room_id {
        filters.push_str(" AND m.room_id = ?");
        values.push(room_id.into());
    }
    let mut all = vec![Value::from(indexed.join(" AND ")), Value::from(user_id)];
    all.extend(values);
    let matches = format!(
        "FROM messages_fts f JOIN messages m ON m.id = f.rowid \
         WHERE messages_fts MATCH ? \
         AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?) \
         AND m.room_id IN (SELECT id FROM rooms WHERE is_active) \
         AND NOT m.is_deleted{filters} \
         ORDER BY f.rowid DESC"
    );
    let count = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        format!("SELECT COUNT(*) AS n FROM (SELECT 1 {matches} LIMIT {})", COUNT_CAP + 1),
        all.clone(),
    );
    let counted: i64 = match db.query_one(count).await? {
        Some(row) => row.try_get("", "n")?,
        None => 0,
    };
    let page = Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        format!("SELECT m.* {matches} LIMIT {limit} OFFSET {offset}"),
        all,
    );
    let rows = messages::Entity::find().from_raw_sql(page).all(db).await?;
    Ok(((counted as u64).min(COUNT_CAP), rows))
}
