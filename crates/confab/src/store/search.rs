//! Message search, one interface over each database's own text search (the
//! indexes are made by the `search` migration):
//!
//! - SQLite: terms of three or more characters go through the FTS5 trigram
//!   index (`messages_fts`); shorter ones, which trigrams cannot index, are
//!   a `LIKE` on the rows the index already narrowed (or on the caller's rooms);
//! - PostgreSQL: `lower(content) LIKE '%term%'`, served by the trigram GIN
//!   index; a term it draws no trigram from is a `strpos` on the rows the
//!   others found (or on the caller's rooms);
//! - MySQL/MariaDB: the same `LIKE`, on the messages whose trigrams, spelled
//!   as words in `message_trigrams` (kept by [`index`] and [`unindex`] in
//!   the writer's transaction), a FULLTEXT search finds all of; terms
//!   shorter than three characters scan the caller's rooms.
//!
//! Every term must occur, in any case, anywhere (inside words too).
//!
//! The total is counted up to [`COUNT_CAP`]: counting every match of two
//! common words costs more than finding a page of them (on SQLite, 80 ms
//! against 1 ms for a million messages), and nobody pages past the
//! thousandth result; they refine the query.

use std::collections::BTreeSet;
use std::fmt::Write;

use sea_orm::sea_query::{Alias, Expr, Func, LikeExpr, Query};
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
        .filter(matching(backend, terms));
    if let Some(room_id) = room_id {
        query = query.filter(messages::Column::RoomId.eq(room_id));
    }
    if backend == DatabaseBackend::MySql {
        if let Some(against) = every_trigram(terms) {
            query = query.filter(Expr::cust_with_values(
                "`messages`.`id` IN (SELECT `message_id` FROM `message_trigrams` \
                 WHERE MATCH (`grams`) AGAINST (? IN BOOLEAN MODE))",
                [against],
            ));
        }
    }
    // Unordered: ordered by id, PostgreSQL walks the primary key backwards
    // testing every row (190 ms for a million messages) rather than take the
    // trigram index's candidates (34 ms).
    let counted: Vec<i64> = query
        .clone()
        .select_only()
        .column(messages::Column::Id)
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
        let lowered = term.to_lowercase();
        let content = Expr::col(messages::Column::Content);
        condition = condition.add(match backend {
            // A pattern pg_trgm draws no trigram from (`迁移`, `is`, `0%`) is
            // no `LIKE`: a plan made for any value (sqlx prepares its
            // statements; after five runs PostgreSQL may keep one generic
            // plan) would read the whole trigram index for it, 470 ms for a
            // million messages. `strpos` is the same test, which the index
            // cannot serve, so such a term filters the rows the others found.
            DatabaseBackend::Postgres if !pg_trgm_indexable(&lowered) => {
                Expr::expr(Func::cust(Alias::new("strpos")).arg(Func::lower(content)).arg(lowered)).gt(0)
            }
            // SQLite's LIKE ignores ASCII case by itself, and its lower() folds ASCII only.
            DatabaseBackend::Sqlite => content.like(like_anywhere(&lowered)),
            _ => Expr::expr(Func::lower(content)).like(like_anywhere(&lowered)),
        });
    }
    condition
}

/// `LIKE '%term%'`, the term's own `%`, `_` and `\` taken literally.
fn like_anywhere(term: &str) -> LikeExpr {
    LikeExpr::new(format!("%{}%", escape_like(term))).escape('\\')
}

/// Whether pg_trgm finds a trigram in `LIKE '%term%'`: it reads words (runs
/// of letters and digits) and, inside a wildcard, only those of three or more.
fn pg_trgm_indexable(term: &str) -> bool {
    term.split(|c: char| !c.is_alphanumeric())
        .any(|word| word.chars().count() >= TRIGRAM)
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

/// The distinct three-character runs of `text` (lower-cased, none with
/// whitespace, which a term never holds), each spelled in hex: a word
/// MySQL's FULLTEXT parser takes whole, whatever the script.
pub fn trigram_words(text: &str) -> BTreeSet<String> {
    let chars: Vec<char> = text.to_lowercase().chars().collect();
    chars
        .windows(TRIGRAM)
        .filter(|run| !run.iter().any(|c| c.is_whitespace()))
        .map(|run| {
            let mut word = String::with_capacity(run.len() * 8);
            let mut buf = [0; 4];
            for c in run {
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(word, "{byte:02x}");
                }
            }
            word
        })
        .collect()
}

/// The boolean FULLTEXT query asking for every trigram of the terms that
/// have any; `None` when every term is shorter.
fn every_trigram(terms: &[String]) -> Option<String> {
    let words: BTreeSet<String> = terms.iter().flat_map(|t| trigram_words(t)).collect();
    (!words.is_empty()).then(|| words.iter().map(|w| format!("+{w}")).collect::<Vec<_>>().join(" "))
}

/// Indexes messages for search as they now read, `(id, content)` each. Only
/// MySQL/MariaDB needs this; the other databases index by themselves.
/// Call in the transaction that writes the content.
pub async fn index<C: ConnectionTrait>(db: &C, entries: &[(i64, &str)]) -> Result<(), DbErr> {
    if db.get_database_backend() != DatabaseBackend::MySql || entries.is_empty() {
        return Ok(());
    }
    let mut sql = String::from("REPLACE INTO message_trigrams (message_id, grams) VALUES ");
    let mut values: Vec<Value> = Vec::with_capacity(entries.len() * 2);
    for (n, (id, content)) in entries.iter().enumerate() {
        sql.push_str(if n == 0 { "(?, ?)" } else { ", (?, ?)" });
        values.push((*id).into());
        let words: Vec<String> = trigram_words(content).into_iter().collect();
        values.push(words.join(" ").into());
    }
    db.execute(Statement::from_sql_and_values(DatabaseBackend::MySql, sql, values))
        .await?;
    Ok(())
}

/// Takes a deleted message out of the search (MySQL/MariaDB; see [`index`]).
pub async fn unindex<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    if db.get_database_backend() != DatabaseBackend::MySql {
        return Ok(());
    }
    db.execute(Statement::from_sql_and_values(
        DatabaseBackend::MySql,
        "DELETE FROM message_trigrams WHERE message_id = ?",
        [id.into()],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_trgm_serves_terms_with_a_word_of_three_characters() {
        for term in ["deploy", "数据库", "snake_case", "v1.2.3-release", "0%abc"] {
            assert!(pg_trgm_indexable(term), "{term}");
        }
        for term in ["迁移", "is", "0%", "e_c", "a-b-c", "!!!", "é"] {
            assert!(!pg_trgm_indexable(term), "{term}");
        }
    }

    #[test]
    fn trigram_words_are_distinct_lower_case_runs_in_hex() {
        let words = trigram_words("Abc abc");
        assert_eq!(
            words.into_iter().collect::<Vec<_>>(),
            ["616263"],
            "no run across the space"
        );
        assert_eq!(trigram_words("数据库").len(), 1);
        assert_eq!(trigram_words("数据库").first().unwrap().len(), 18);
        assert!(trigram_words("ab").is_empty());
        assert_eq!(every_trigram(&["ab".into()]), None);
        assert_eq!(
            every_trigram(&["ABCd".into(), "x".into()]).as_deref(),
            Some("+616263 +626364")
        );
    }
}
