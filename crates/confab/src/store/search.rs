//! Message search, one interface over each database's own text search (the
//! indexes are made by the `search` and `bigrams` migrations):
//!
//! - SQLite: terms of three or more characters go through the FTS5 trigram
//!   index (`messages_fts`); shorter ones, which trigrams cannot index, are
//!   a `LIKE` on the rows the index already narrowed. A query with no such
//!   term goes through `message_bigrams`, an FTS5 table of each message's
//!   two-character runs (kept by [`index`] and [`unindex`] in the writer's
//!   transaction), which answers a two-character term by itself;
//! - PostgreSQL: `lower(content) LIKE '%term%'`, served by the trigram GIN
//!   index; when a term has no trigram, a GIN index on the bigrams of
//!   `lower(content)` (`confab_bigrams`) drives instead, and the terms are
//!   `strpos` on its rows (see [`pg_matching`]);
//! - MySQL/MariaDB: the same `LIKE`, on the messages whose trigrams and
//!   bigrams, spelled as words in `message_grams` (kept by [`index`] and
//!   [`unindex`]), a FULLTEXT search finds those of the terms in.
//!
//! Two-character terms matter: they are most Chinese words (`缓存`, `查询`).
//! Without an index of their own, a query made of them scans the caller's
//! rooms. A one-character term still does, on the rows the others narrowed.
//!
//! Every term must occur, in any case, anywhere (inside words too).
//!
//! The total is counted up to [`COUNT_CAP`]: counting every match of two
//! common words costs more than finding a page of them (on SQLite, 80 ms
//! against 1 ms for a million messages), and nobody pages past the
//! thousandth result; they refine the query.

use std::collections::BTreeSet;
use std::fmt::Write;

use sea_orm::sea_query::{Alias, Expr, Func, LikeExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, TransactionTrait, Value,
};

use super::entities::messages;
use super::escape_like;

/// The shortest term the SQLite trigram index can find.
const TRIGRAM: usize = 3;
/// The runs the bigram indexes hold.
const BIGRAM: usize = 2;

/// The most matches a search counts; the total says this many when there are more.
pub const COUNT_CAP: u64 = 1000;

/// One page of the live messages of `user_id`'s active rooms (or of `room_id`
/// alone) that contain every one of `terms`, newest first, and the total.
pub async fn page<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    user_id: i64,
    room_id: Option<i64>,
    terms: &[String],
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<messages::Model>), DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return page_on(db, user_id, room_id, terms, offset, limit).await;
    }
    // Measured on a million messages (docs/benchmarks.md):
    // - sqlx prepares its statements, and after five runs PostgreSQL may
    //   keep one generic plan for any values, which cannot know how many
    //   rows a word has: 36 to 51 ms where a plan made for the words took
    //   18. Planning each search costs about a millisecond.
    // - Parallel workers took 40 ms to start before a page of 20 that a
    //   single backend finds in 2 ms; a search is one user's small query.
    // - With an index to drive, the planner still chose to read the table
    //   in order for two common words, underrating `lower()` on each row:
    //   67 ms for 96,000 rows where the trigram index took 21. Without an
    //   indexed term (one-character terms only) a scan is all there is.
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_custom_plan")
        .await?;
    txn.execute_unprepared("SET LOCAL max_parallel_workers_per_gather = 0")
        .await?;
    let indexed = terms.iter().any(|term| {
        let lowered = term.to_lowercase();
        pg_trgm_indexable(&lowered) || !runs(&lowered, BIGRAM).is_empty()
    });
    if indexed {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off").await?;
    }
    let found = page_on(&txn, user_id, room_id, terms, offset, limit).await?;
    txn.commit().await?;
    Ok(found)
}

async fn page_on<C: ConnectionTrait>(
    db: &C,
    user_id: i64,
    room_id: Option<i64>,
    terms: &[String],
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<messages::Model>), DbErr> {
    let backend = db.get_database_backend();
    if backend == DatabaseBackend::Sqlite {
        if terms.iter().any(|t| t.chars().count() >= TRIGRAM) {
            return sqlite_page(db, SqliteIndex::Trigrams, user_id, room_id, terms, offset, limit).await;
        }
        if terms.iter().any(|t| is_bigram(t)) {
            return sqlite_page(db, SqliteIndex::Bigrams, user_id, room_id, terms, offset, limit).await;
        }
    }
    // The rooms as a list, read first: joined in the query, PostgreSQL
    // planned the join for its guess of the matches (1,300 for two words
    // found together 9,984 times) and read every match before counting
    // 1,001 (57 ms); given the list, it stops at 1,001 (13 ms).
    let mut searched = super::members::active_room_ids(db, user_id).await?;
    if let Some(room_id) = room_id {
        searched.retain(|room| *room == room_id);
    }
    if searched.is_empty() {
        return Ok((0, Vec::new()));
    }
    let mut query = messages::Entity::find()
        .filter(messages::Column::RoomId.is_in(searched))
        .filter(messages::Column::IsDeleted.eq(false))
        .filter(matching(backend, terms));
    if backend == DatabaseBackend::MySql {
        if let Some(against) = every_gram(terms) {
            query = query.filter(Expr::cust_with_values(
                "`messages`.`id` IN (SELECT `message_id` FROM `message_grams` \
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
    if backend == DatabaseBackend::Postgres {
        return pg_matching(terms);
    }
    let mut condition = Condition::all();
    for term in terms {
        let lowered = term.to_lowercase();
        let content = Expr::col(messages::Column::Content);
        condition = condition.add(match backend {
            // SQLite's LIKE ignores ASCII case by itself, and its lower() folds ASCII only.
            DatabaseBackend::Sqlite => content.like(like_anywhere(&lowered)),
            _ => Expr::expr(Func::lower(content)).like(like_anywhere(&lowered)),
        });
    }
    condition
}

/// PostgreSQL: one index drives, the other terms filter its rows.
///
/// - A term pg_trgm draws no trigram from (`迁移`, `is`, `0%`) is never a
///   `LIKE`: a plan would read the whole trigram index for it (470 ms for
///   a million messages). It is `strpos`, the same test, which no index
///   serves.
/// - When such a term has bigrams, the bigram index drives, with the
///   bigrams of all of them in one `@>`, and every other term is a
///   `strpos` too. That index is exact, so its rows are not checked again;
///   beside a trigram `LIKE`, PostgreSQL would AND the two indexes and
///   then recheck each row, calling `confab_bigrams` (30 µs) per row: 60 ms
///   for `deploy 缓存`, against 28 ms this way.
/// - Otherwise the trigram index drives, through each `LIKE`.
fn pg_matching(terms: &[String]) -> Condition {
    let lowered: Vec<String> = terms.iter().map(|t| t.to_lowercase()).collect();
    let bigrams: BTreeSet<String> = lowered
        .iter()
        .filter(|term| !pg_trgm_indexable(term))
        .flat_map(|term| runs(term, BIGRAM))
        .collect();
    let mut condition = Condition::all();
    if !bigrams.is_empty() {
        // The expression reads as the index's does.
        condition = condition.add(Expr::cust_with_values(
            r#"confab_bigrams(lower("messages"."content")) @> CAST($1 AS text[])"#,
            [pg_text_array(&bigrams)],
        ));
    }
    for term in lowered {
        let content = Func::lower(Expr::col(messages::Column::Content));
        condition = condition.add(if bigrams.is_empty() && pg_trgm_indexable(&term) {
            Expr::expr(content).like(like_anywhere(&term))
        } else {
            Expr::expr(Func::cust(Alias::new("strpos")).arg(content).arg(term)).gt(0)
        });
    }
    condition
}

/// A PostgreSQL array literal of `items`: each quoted, `"` and `\\` escaped.
fn pg_text_array(items: &BTreeSet<String>) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|item| format!("\"{}\"", item.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", quoted.join(","))
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

/// Whether `term`, in lower case, is two characters: a bigram index
/// answers it exactly, case folded as `to_lowercase` folds.
fn is_bigram(term: &str) -> bool {
    term.to_lowercase().chars().count() == BIGRAM
}

/// A two-character term as the word `message_bigrams` holds it.
fn bigram_phrase(term: &str) -> String {
    format!("\"{}\"", hex_word(&term.to_lowercase()))
}

/// Whether SQLite's `LIKE` matches `term` in any case: it folds ASCII only,
/// so the term must have no other letter with a case (Chinese has none).
fn sqlite_like_folds(term: &str) -> bool {
    term.chars()
        .all(|c| c.is_ascii() || (c.to_lowercase().eq(std::iter::once(c)) && c.to_uppercase().eq(std::iter::once(c))))
}

/// The SQLite index a query goes through.
#[derive(Clone, Copy)]
enum SqliteIndex {
    /// `messages_fts`: each term of three characters or more, as a phrase.
    Trigrams,
    /// `message_bigrams`: each two-character term, as its word.
    Bigrams,
}

/// SQLite with at least one indexed term: the FTS index drives, newest first
/// (`rowid DESC` is the order it iterates in), so a page or a capped count
/// stops as soon as it has its rows. The terms it does not hold are a
/// `LIKE` on the rows it gives.
async fn sqlite_page<C: ConnectionTrait>(
    db: &C,
    index: SqliteIndex,
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
        match index {
            SqliteIndex::Trigrams if term.chars().count() >= TRIGRAM => {
                indexed.push(format!("\"{}\"", term.replace('"', "\"\"")));
            }
            SqliteIndex::Bigrams if is_bigram(term) => indexed.push(bigram_phrase(term)),
            // LIKE would fold ASCII only: this row's bigrams say it, folded.
            SqliteIndex::Trigrams if is_bigram(term) && !sqlite_like_folds(term) => {
                filters.push_str(
                    " AND EXISTS (SELECT 1 FROM message_bigrams b \
                     WHERE message_bigrams MATCH ? AND b.rowid = m.id)",
                );
                values.push(bigram_phrase(term).into());
            }
            _ => {
                // SQLite's LIKE ignores ASCII case by itself.
                filters.push_str(" AND m.content LIKE ? ESCAPE '\\'");
                values.push(format!("%{}%", escape_like(term)).into());
            }
        }
    }
    if let Some(room_id) = room_id {
        filters.push_str(" AND m.room_id = ?");
        values.push(room_id.into());
    }
    let table = match index {
        SqliteIndex::Trigrams => "messages_fts",
        SqliteIndex::Bigrams => "message_bigrams",
    };
    let mut all = vec![Value::from(indexed.join(" AND ")), Value::from(user_id)];
    all.extend(values);
    let matches = format!(
        "FROM {table} f JOIN messages m ON m.id = f.rowid \
         WHERE {table} MATCH ? \
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

/// The distinct `n`-character runs of `text` (whose case the caller has
/// folded), none with whitespace, which a term never holds.
fn runs(text: &str, n: usize) -> BTreeSet<String> {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(n)
        .filter(|run| !run.iter().any(|c| c.is_whitespace()))
        .map(|run| run.iter().collect())
        .collect()
}

/// [`runs`], each as one word any full-text parser takes whole, whatever
/// the script: its UTF-8 bytes in hex.
fn grams(text: &str, n: usize) -> BTreeSet<String> {
    runs(text, n).iter().map(|run| hex_word(run)).collect()
}

fn hex_word(run: &str) -> String {
    let mut word = String::with_capacity(run.len() * 2);
    for byte in run.bytes() {
        let _ = write!(word, "{byte:02x}");
    }
    word
}

/// What a message is indexed by on MySQL/MariaDB (`message_grams`): its
/// distinct trigrams and bigrams, in lower case, as hex words. A bigram
/// and a trigram never spell the same word: UTF-8 reads back one way.
pub fn gram_words(text: &str) -> BTreeSet<String> {
    let lowered = text.to_lowercase();
    let mut words = grams(&lowered, TRIGRAM);
    words.extend(grams(&lowered, BIGRAM));
    words
}

/// The boolean FULLTEXT query asking for every trigram of the terms that
/// have any, and the bigram of each two-character term; `None` when no
/// term is either.
fn every_gram(terms: &[String]) -> Option<String> {
    let mut words = BTreeSet::new();
    for term in terms {
        let lowered = term.to_lowercase();
        match lowered.chars().count() {
            BIGRAM => words.extend(grams(&lowered, BIGRAM)),
            _ => words.extend(grams(&lowered, TRIGRAM)),
        }
    }
    (!words.is_empty()).then(|| words.iter().map(|w| format!("+{w}")).collect::<Vec<_>>().join(" "))
}

/// Indexes new messages for search, `(id, content)` each:
/// `message_bigrams` on SQLite, `message_grams` on MySQL/MariaDB (the
/// other indexes the databases keep by themselves). Call in the
/// transaction that writes the content.
pub async fn index<C: ConnectionTrait>(db: &C, entries: &[(i64, &str)]) -> Result<(), DbErr> {
    if entries.is_empty() {
        return Ok(());
    }
    let backend = db.get_database_backend();
    let (mut sql, words): (String, fn(&str) -> BTreeSet<String>) = match backend {
        DatabaseBackend::MySql => (
            "REPLACE INTO message_grams (message_id, grams) VALUES ".into(),
            gram_words,
        ),
        DatabaseBackend::Sqlite => ("INSERT INTO message_bigrams (rowid, grams) VALUES ".into(), |text| {
            grams(&text.to_lowercase(), BIGRAM)
        }),
        DatabaseBackend::Postgres => return Ok(()),
    };
    let mut values: Vec<Value> = Vec::with_capacity(entries.len() * 2);
    for (n, (id, content)) in entries.iter().enumerate() {
        sql.push_str(if n == 0 { "(?, ?)" } else { ", (?, ?)" });
        values.push((*id).into());
        values.push(words(content).into_iter().collect::<Vec<_>>().join(" ").into());
    }
    db.execute(Statement::from_sql_and_values(backend, sql, values)).await?;
    Ok(())
}

/// Indexes an edited message again (see [`index`]).
pub async fn reindex<C: ConnectionTrait>(db: &C, id: i64, content: &str) -> Result<(), DbErr> {
    unindex(db, id).await?;
    index(db, &[(id, content)]).await
}

/// Takes a deleted message out of the indexes [`index`] keeps.
pub async fn unindex<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match backend {
        DatabaseBackend::MySql => "DELETE FROM message_grams WHERE message_id = ?",
        DatabaseBackend::Sqlite => "DELETE FROM message_bigrams WHERE rowid = ?",
        DatabaseBackend::Postgres => return Ok(()),
    };
    db.execute(Statement::from_sql_and_values(backend, sql, [id.into()]))
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
    fn gram_words_are_distinct_lower_case_runs_in_hex() {
        let words = gram_words("Abc abc");
        assert_eq!(
            words.into_iter().collect::<Vec<_>>(),
            ["6162", "616263", "6263"],
            "no run across the space"
        );
        assert_eq!(gram_words("数据库").len(), 3, "two bigrams and a trigram");
        assert!(gram_words("数据库").contains("e695b0e68daee5ba93"));
        assert!(gram_words("a").is_empty());
        assert_eq!(every_gram(&["a".into()]), None);
        assert_eq!(every_gram(&["AB".into()]).as_deref(), Some("+6162"));
        assert_eq!(
            every_gram(&["ABCd".into(), "x".into()]).as_deref(),
            Some("+616263 +626364"),
            "a longer term by its trigrams only"
        );
    }

    #[test]
    fn a_bigram_is_two_characters_once_folded() {
        assert!(is_bigram("迁移"));
        assert!(is_bigram("ÄB"));
        assert!(!is_bigram("a"));
        assert!(!is_bigram("abc"));
        assert!(sqlite_like_folds("Is") && sqlite_like_folds("迁移") && sqlite_like_folds("0%"));
        assert!(!sqlite_like_folds("äb") && !sqlite_like_folds("ΣΑ"));
    }

    #[test]
    fn on_postgres_one_index_drives_and_the_other_terms_filter() {
        use sea_orm::QueryTrait;
        let sql = |terms: &[&str]| {
            let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
            messages::Entity::find()
                .filter(pg_matching(&terms))
                .build(DatabaseBackend::Postgres)
                .to_string()
        };
        let trigrams = sql(&["Deploy", "staging"]);
        assert_eq!(trigrams.matches("LIKE").count(), 2, "{trigrams}");
        assert!(!trigrams.contains("confab_bigrams"), "{trigrams}");
        let mixed = sql(&["deploy", "缓存", "查询", "é"]);
        assert_eq!(mixed.matches("confab_bigrams").count(), 1, "one @>: {mixed}");
        assert!(mixed.contains(r#"{\"查询\",\"缓存\"}"#), "both terms' bigrams: {mixed}");
        assert!(!mixed.contains("LIKE"), "no second index to AND: {mixed}");
        assert_eq!(mixed.matches("strpos").count(), 4, "{mixed}");
        let short = sql(&["deploy", "é"]);
        assert!(short.contains("LIKE") && !short.contains("confab_bigrams"), "{short}");
    }

    #[test]
    fn a_pg_array_literal_quotes_what_arrays_read_specially() {
        let items: BTreeSet<String> = ["迁移", "a\"", "\\}", "{,"].into_iter().map(String::from).collect();
        assert_eq!(pg_text_array(&items), r#"{"\\}","a\"","{,","迁移"}"#);
    }
}
