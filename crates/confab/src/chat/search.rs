//! Message search: the caller's rooms (or one of them), live messages that
//! contain every term, newest first. The matching is each database's own
//! (`store::search`); this module decides who may search what and presents
//! the results like history does.

use std::collections::HashMap;

use super::messages::present;
use super::policy;
use super::rooms::facts;
use super::types::Message;
use super::Window;
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::store::{self, Store};

/// The longest query, in characters after trimming.
pub const QUERY_MAX: usize = 200;

/// A query's terms: split at whitespace, each once (ignoring case).
pub fn terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for term in query.split_whitespace() {
        if !terms.iter().any(|t| t.to_lowercase() == term.to_lowercase()) {
            terms.push(term.to_owned());
        }
    }
    terms
}

/// A page of the messages matching `terms` in the caller's rooms, or in
/// `room_id` (a room the caller cannot see is not found; one they are not a
/// member of is forbidden).
pub async fn search(
    store: &Store,
    user: &CurrentUser,
    room_id: Option<i64>,
    terms: &[String],
    window: Window,
) -> Result<(u64, Vec<Message>)> {
    let db = store.reader();
    if let Some(room_id) = room_id {
        let facts = facts(db, room_id, user.id, false).await?;
        policy::take_part(&facts.access)?;
    }
    let (total, rows) = store::search::page(db, user.id, room_id, terms, window.offset, window.limit).await?;
    let mut room_ids: Vec<i64> = rows.iter().map(|m| m.room_id).collect();
    room_ids.sort_unstable();
    room_ids.dedup();
    let pointers = store::members::read_pointers_in(db, room_ids).await?;
    let my_pointers: HashMap<i64, i64> = pointers
        .iter()
        .filter(|(_, member, _)| *member == user.id)
        .map(|(room, _, seq)| (*room, *seq))
        .collect();
    let read_counts: HashMap<i64, i64> = rows
        .iter()
        .map(|m| {
            let readers = pointers
                .iter()
                .filter(|(room, member, seq)| *room == m.room_id && *member != m.sender_id && *seq >= m.seq)
                .count();
            (m.id, readers as i64)
        })
        .collect();
    Ok((total, present(db, user.id, rows, &my_pointers, &read_counts).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_at_whitespace_once_each() {
        assert_eq!(terms("  deploy  Staging\tdeploy staging  "), vec!["deploy", "Staging"]);
        assert_eq!(terms("数据库 迁移"), vec!["数据库", "迁移"]);
        assert!(terms("   ").is_empty());
    }
}
