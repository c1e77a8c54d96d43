//! Change resume: a room's history changes after a change number, as the
//! frames that announced them (`chat_message`, `message_deleted`,
//! `message_edited`, `reaction_added`, `reaction_removed`), in order, with no
//! number missing. A client that was away replays them with `?since=`.
//!
//! Messages are shown as they are now: an edit replays with the latest
//! content, and a message deleted since is replayed with its content
//! withheld (its `message_deleted` follows), so nothing deleted is served again.
//!
//! The same replay, in the broadcast's view, fills a node's gaps between
//! nodes ([`missed`]).

use std::collections::HashMap;

use super::events::ServerEvent;
use sea_orm::ConnectionTrait;

use super::messages::{present, present_in_room};
use super::policy;
use super::rooms::{facts, RoomFacts};
use super::types::{Message, UserRef};
use crate::auth::CurrentUser;
use crate::error::Result;
use crate::store::{self, Store};

/// What [`since`] found.
pub enum Replay {
    /// The changes after the point, in order, and the last one's number.
    Changes { events: Vec<ServerEvent>, up_to: i64 },
    /// More than the limit: the client refetches over REST instead. `up_to`
    /// is the room's change number now, for the live frames to continue from.
    TooMany { up_to: i64 },
}

/// The changes of `room_id` after change number `after`, as `user` (a
/// member) would have received them live; at most `max` of them.
pub async fn since(store: &Store, user: &CurrentUser, room_id: i64, after: i64, max: u64) -> Result<Replay> {
    let db = store.reader();
    let facts = facts(db, room_id, user.id, false).await?;
    policy::view_room(&facts.access)?;
    let up_to = facts.room.change_seq;
    let after = after.clamp(0, up_to);
    if (up_to - after) as u64 > max {
        return Ok(Replay::TooMany { up_to });
    }
    let view = View::Member {
        user_id: user.id,
        facts: &facts,
    };
    let events = between(db, room_id, view, after, up_to).await?;
    Ok(Replay::Changes { events, up_to })
}

/// The changes of `room_id` numbered `after + 1 ..= up_to` as they were
/// broadcast (nobody's read state), or [`Replay::TooMany`] when that is more
/// than `max`. A node that saw a gap in a room's changes (a notice lost or
/// overtaken between nodes) fills it from here: the database is the truth,
/// the backplane only says where to look.
pub async fn missed(store: &Store, room_id: i64, after: i64, up_to: i64, max: u64) -> Result<Replay> {
    if up_to.saturating_sub(after) as u64 > max {
        return Ok(Replay::TooMany { up_to });
    }
    let events = between(store.reader(), room_id, View::Broadcast, after, up_to).await?;
    Ok(Replay::Changes { events, up_to })
}

/// Whose view replayed messages are presented in.
enum View<'a> {
    /// A member resuming: their read state and the room's read counts.
    Member { user_id: i64, facts: &'a RoomFacts },
    /// The broadcast as it went out: nobody's read state, no read counts.
    Broadcast,
}

/// The frames of the changes numbered `after + 1 ..= up_to`, in order.
async fn between<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    view: View<'_>,
    after: i64,
    up_to: i64,
) -> Result<Vec<ServerEvent>> {
    if up_to <= after {
        return Ok(Vec::new());
    }
    let posted = store::changes::posted_between(db, room_id, after, up_to).await?;
    let changes = store::changes::between(db, room_id, after, up_to).await?;
    let edited_ids: Vec<i64> = changes
        .iter()
        .filter(|c| c.kind == "edited")
        .map(|c| c.message_id)
        .filter(|id| !posted.iter().any(|m| m.id == *id))
        .collect();
    let edited = store::messages::find_many(db, edited_ids).await?;
    let rows = posted.into_iter().chain(edited).collect();
    let presented = match view {
        View::Member { user_id, facts } => present_in_room(db, user_id, facts, rows).await?,
        View::Broadcast => present(db, 0, rows, &HashMap::new(), &HashMap::new()).await?,
    };
    let messages: HashMap<i64, Message> = presented.into_iter().map(|m| (m.id, withheld_if_deleted(m))).collect();

    let reactor_ids: Vec<i64> = changes.iter().filter_map(|c| c.user_id).collect();
    let names: HashMap<i64, String> = store::users::names(db, reactor_ids).await?.into_iter().collect();

    let mut by_seq: HashMap<i64, ServerEvent> = HashMap::new();
    for message in messages.values().filter(|m| m.change_seq > after) {
        by_seq.insert(message.change_seq, ServerEvent::chat_message(message.clone()));
    }
    for change in changes {
        let change_seq = change.change_seq;
        let event = match change.kind.as_str() {
            "deleted" => ServerEvent::MessageDeleted {
                message_id: change.message_id,
                change_seq,
            },
            "edited" => match messages.get(&change.message_id) {
                Some(message) => ServerEvent::MessageEdited {
                    message: Box::new(message.clone()),
                    change_seq,
                },
                None => continue,
            },
            kind @ ("reaction_added" | "reaction_removed") => {
                let user_id = change.user_id.unwrap_or_default();
                let user = UserRef {
                    id: user_id,
                    username: names.get(&user_id).cloned().unwrap_or_default(),
                };
                let emoji = change.emoji.unwrap_or_default();
                let message_id = change.message_id;
                if kind == "reaction_added" {
                    ServerEvent::ReactionAdded {
                        message_id,
                        emoji,
                        user,
                        change_seq,
                    }
                } else {
                    ServerEvent::ReactionRemoved {
                        message_id,
                        emoji,
                        user,
                        change_seq,
                    }
                }
            }
            _ => continue,
        };
        by_seq.insert(change_seq, event);
    }
    let mut numbered: Vec<(i64, ServerEvent)> = by_seq.into_iter().collect();
    numbered.sort_by_key(|(seq, _)| *seq);
    Ok(numbered.into_iter().map(|(_, event)| event).collect())
}

/// A deleted message as a replay shows it: there, but empty.
fn withheld_if_deleted(message: Message) -> Message {
    if !message.is_deleted {
        return message;
    }
    Message {
        content: String::new(),
        reply_preview: None,
        reactions: Vec::new(),
        attachments: Vec::new(),
        ..message
    }
}
