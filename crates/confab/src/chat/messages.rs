//! Message use cases: history, delete, read pointer; and [`present`],
//! which turns rows into message objects with a fixed number of queries.
//! Posting, with its group commit, is in [`super::posting`].

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DatabaseTransaction};

use super::events::ServerEvent;
use super::files;
use super::notifications;
use super::outbox::{Outbox, Publisher};
use super::policy;
use super::rooms::{facts, RoomFacts};
use super::types::limits::REPLY_PREVIEW_CHARS;
use super::types::{Attachment, Message, Reaction, ReplyPreview, UserRef};
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::entities::messages;
use crate::store::messages::Cursor;
use crate::store::order::OrderGuard;
use crate::store::{self, Store};

/// One page of history, oldest first, and whether older / newer live messages exist.
pub struct HistoryPage {
    pub cursor: Cursor,
    /// The room's change number read before the page: resuming from it
    /// with `?since=` misses nothing the page does not show.
    pub change_seq: i64,
    pub messages: Vec<Message>,
    pub has_older: bool,
    pub has_newer: bool,
}

/// A page of a room's history. `params` validates the cursor and limit once
/// the caller is known to see the room.
pub async fn history(
    store: &Store,
    user: &CurrentUser,
    room_id: i64,
    params: impl FnOnce() -> Result<(Cursor, u64)>,
) -> Result<HistoryPage> {
    let db = store.reader();
    let facts = facts(db, room_id, user.id, false).await?;
    policy::view_room(&facts.access)?;
    let (cursor, limit) = params()?;
    // One extra row tells whether the page is the last one in its direction.
    let mut rows = store::messages::page(db, room_id, cursor, limit + 1).await?;
    let overflow = rows.len() as u64 > limit;
    if overflow {
        match cursor {
            Cursor::After(_) => rows.truncate(limit as usize),
            Cursor::Latest | Cursor::Before(_) => {
                rows.remove(0);
            }
        }
    }
    let (has_older, has_newer) = match (cursor, rows.first(), rows.last()) {
        (Cursor::Latest, _, _) => (overflow, false),
        (Cursor::Before(id), _, _) => (
            overflow,
            store::messages::has_live_beyond(db, room_id, id.saturating_sub(1), false).await?,
        ),
        (Cursor::After(id), _, _) => (
            store::messages::has_live_beyond(db, room_id, id.saturating_add(1), true).await?,
            overflow,
        ),
    };
    let messages = present_in_room(db, user.id, &facts, rows).await?;
    Ok(HistoryPage {
        cursor,
        change_seq: facts.room.change_seq,
        messages,
        has_older,
        has_newer,
    })
}

/// Soft-deletes a message (sender, room admin or moderator). A deleted or
/// invisible message is not found.
pub async fn delete(store: &Store, publisher: &dyn Publisher, user: &CurrentUser, message_id: i64) -> Result<Message> {
    let MessageChange {
        order: _order,
        txn,
        message,
        facts,
    } = begin_change(store, user, message_id).await?;
    policy::delete_message(&facts.access, message.sender_id == user.id)?;
    store::messages::mark_deleted(&txn, message_id).await?;
    let change_seq = record_change(&txn, &facts, "deleted", message_id, None).await?;
    txn.commit().await?;
    let room_id = message.room_id;
    let mut outbox = Outbox::new();
    outbox.to_room(
        room_id,
        Some(change_seq),
        ServerEvent::MessageDeleted { message_id, change_seq },
    );
    publisher.publish(outbox);
    let mut message = present_one(store.reader(), user.id, message).await?;
    message.is_deleted = true;
    Ok(message)
}

/// Changes the content of a message: its sender, while a member. The
/// content is checked like a post's (`content` validates it once the caller
/// is allowed); members newly mentioned are notified. A deleted or invisible
/// message is not found.
pub async fn edit(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    message_id: i64,
    content: impl FnOnce() -> Result<String>,
) -> Result<Message> {
    let MessageChange {
        order: _order,
        txn,
        message,
        facts,
    } = begin_change(store, user, message_id).await?;
    policy::edit_message(&facts.access, message.sender_id == user.id)?;
    let content = content()?;
    let mentioned_before = notifications::mentioned_names(&message.content);
    let edited = store::messages::set_content(&txn, message, &content).await?;
    let change_seq = record_change(&txn, &facts, "edited", message_id, None).await?;
    let mut sent = Vec::new();
    notifications::for_edit(&txn, &facts.room, user, &edited, &mentioned_before, &mut sent).await?;
    txn.commit().await?;
    let message = present_one(store.reader(), user.id, edited).await?;
    let mut outbox = Outbox::new();
    // As a new message's frame: nobody's read state in it.
    let broadcast = Message {
        is_read: false,
        ..message.clone()
    };
    outbox.to_room(
        message.room,
        Some(change_seq),
        ServerEvent::MessageEdited {
            message: Box::new(broadcast),
            change_seq,
        },
    );
    notifications::announce(&mut outbox, sent);
    publisher.publish(outbox);
    Ok(message)
}

/// What a change to a live message (delete, edit, reaction) works with.
pub(crate) struct MessageChange {
    /// The room's place in the order of changes (see [`crate::store::order`]):
    /// keep it until the change is published.
    pub order: OrderGuard,
    pub txn: DatabaseTransaction,
    pub message: messages::Model,
    /// The room, locked in `txn`, and the caller's membership.
    pub facts: RoomFacts,
}

/// Starts a change to a live message: its room's order lock, a
/// transaction, the message (a deleted or missing one is not found) and its
/// room, locked, so the change is ordered with every other of the room.
pub(crate) async fn begin_change(store: &Store, user: &CurrentUser, message_id: i64) -> Result<MessageChange> {
    let room_id = store::messages::find(store.reader(), message_id)
        .await?
        .ok_or(Error::NotFound)?
        .room_id;
    let order = store.room_order().lock([room_id]).await;
    let txn = store.begin().await?;
    let message = store::messages::find(&txn, message_id)
        .await?
        .filter(|m| !m.is_deleted)
        .ok_or(Error::NotFound)?;
    let facts = facts(&txn, message.room_id, user.id, true).await?;
    Ok(MessageChange {
        order,
        txn,
        message,
        facts,
    })
}

/// Numbers a change to the history of the room in `facts` (locked by the
/// caller's transaction) and records it for replay; returns its number.
pub(crate) async fn record_change<C: ConnectionTrait>(
    db: &C,
    facts: &RoomFacts,
    kind: &str,
    message_id: i64,
    reaction: Option<(i64, &str)>,
) -> Result<i64> {
    let change_seq = store::changes::next(db, &facts.room).await?;
    store::changes::record(
        db,
        store::changes::NewChange {
            room_id: facts.room.id,
            change_seq,
            kind,
            message_id,
            user_id: reaction.map(|(user, _)| user),
            emoji: reaction.map(|(_, emoji)| emoji),
        },
    )
    .await?;
    Ok(change_seq)
}

/// Marks `message_id` and everything before it in its room as read by the
/// caller (a pointer that only moves forward), and tells the room who read
/// what: a receipt goes out even when the pointer was already past the
/// message (a sender reading their own message), and a read that moves
/// nothing writes nothing. Returns the message.
pub async fn mark_read(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    message_id: i64,
) -> Result<Message> {
    let db = store.reader();
    let message = store::messages::find(db, message_id)
        .await?
        .filter(|m| !m.is_deleted)
        .ok_or(Error::NotFound)?;
    let facts = facts(db, message.room_id, user.id, false).await?;
    policy::take_part(&facts.access)?;
    let pointer = facts.membership.as_ref().map_or(0, |m| m.last_read_seq);
    if pointer < message.seq {
        let txn = store.begin().await?;
        store::members::advance_read_pointer(&txn, message.room_id, user.id, message.seq).await?;
        txn.commit().await?;
    }
    let mut outbox = Outbox::new();
    let event = ServerEvent::MessageRead {
        message_id,
        user: user.as_ref(),
    };
    outbox.to_room(message.room_id, Some(facts.room.change_seq), event);
    publisher.publish(outbox);
    present_one(store.reader(), user.id, message).await
}

pub(crate) async fn present_one<C: ConnectionTrait>(
    db: &C,
    viewer_id: i64,
    message: messages::Model,
) -> Result<Message> {
    let facts = facts(db, message.room_id, viewer_id, false).await?;
    present_in_room(db, viewer_id, &facts, vec![message])
        .await?
        .pop()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("message vanished while presenting it")))
}

/// Message objects for messages of one room: the room's read pointers are
/// read once for the whole page.
pub(crate) async fn present_in_room<C: ConnectionTrait>(
    db: &C,
    viewer_id: i64,
    facts: &RoomFacts,
    rows: Vec<messages::Model>,
) -> Result<Vec<Message>> {
    let pointers = store::members::read_pointers(db, facts.room.id).await?;
    let read_counts = rows
        .iter()
        .map(|m| {
            let readers = pointers
                .iter()
                .filter(|(user, seq)| *user != m.sender_id && *seq >= m.seq)
                .count();
            (m.id, readers as i64)
        })
        .collect();
    let my_pointers = facts.membership.iter().map(|m| (m.room_id, m.last_read_seq)).collect();
    present(db, viewer_id, rows, &my_pointers, &read_counts).await
}

/// Builds message objects: the senders, the replied-to messages and their
/// senders are each fetched once for the whole list. `my_pointers` maps a
/// room to the viewer's read pointer there, `read_counts` a message to its readers.
pub(crate) async fn present<C: ConnectionTrait>(
    db: &C,
    viewer_id: i64,
    rows: Vec<messages::Model>,
    my_pointers: &HashMap<i64, i64>,
    read_counts: &HashMap<i64, i64>,
) -> Result<Vec<Message>> {
    let reply_ids: Vec<i64> = rows.iter().filter_map(|m| m.reply_to_id).collect();
    let replied: HashMap<i64, messages::Model> = store::messages::find_many(db, reply_ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let reactions = store::reactions::of_messages(db, rows.iter().map(|m| m.id).collect()).await?;
    let mut attachments: HashMap<i64, Vec<Attachment>> = HashMap::new();
    for file in store::files::of_messages(db, rows.iter().map(|m| m.id).collect()).await? {
        let message_id = file.message_id.expect("attached files have a message");
        attachments
            .entry(message_id)
            .or_default()
            .push(files::attachment(&file));
    }
    let mut user_ids: Vec<i64> = rows
        .iter()
        .map(|m| m.sender_id)
        .chain(replied.values().map(|m| m.sender_id))
        .chain(reactions.iter().map(|r| r.user_id))
        .collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let names: HashMap<i64, String> = store::users::names(db, user_ids).await?.into_iter().collect();
    let user_ref = |id: i64| UserRef {
        id,
        username: names.get(&id).cloned().unwrap_or_default(),
    };
    let mut by_message: HashMap<i64, Vec<Reaction>> = HashMap::new();
    for reaction in reactions {
        let list = by_message.entry(reaction.message_id).or_default();
        let user = user_ref(reaction.user_id);
        match list.iter_mut().find(|r| r.emoji == reaction.emoji) {
            Some(summary) => {
                summary.count += 1;
                summary.users.push(user);
            }
            None => list.push(Reaction {
                emoji: reaction.emoji,
                count: 1,
                users: vec![user],
            }),
        }
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let replied = m
                .reply_to_id
                .and_then(|id| replied.get(&id))
                .map(|r| (r, user_ref(r.sender_id)));
            let is_read = m.sender_id == viewer_id || my_pointers.get(&m.room_id).is_some_and(|p| *p >= m.seq);
            let read_count = read_counts.get(&m.id).copied().unwrap_or(0);
            let sender = user_ref(m.sender_id);
            let reactions = by_message.remove(&m.id).unwrap_or_default();
            let attachments = attachments.remove(&m.id).unwrap_or_default();
            Message {
                reactions,
                attachments,
                ..message_object(m, sender, replied, is_read, read_count)
            }
        })
        .collect())
}

/// The message object of the contract, from a row and what it refers to
/// (without its reactions and attachments: [`present`] adds them).
pub(crate) fn message_object(
    m: messages::Model,
    sender: UserRef,
    replied: Option<(&messages::Model, UserRef)>,
    is_read: bool,
    read_count: i64,
) -> Message {
    let reply_preview = replied.filter(|(r, _)| !r.is_deleted).map(|(r, sender)| ReplyPreview {
        id: r.id,
        sender,
        content: r.content.chars().take(REPLY_PREVIEW_CHARS).collect(),
    });
    Message {
        id: m.id,
        room: m.room_id,
        sender,
        is_read,
        read_count,
        edited_at: m.edited_at,
        reactions: Vec::new(),
        attachments: Vec::new(),
        change_seq: m.change_seq,
        reply_to: m.reply_to_id,
        reply_preview,
        content: m.content,
        message_type: m.message_type,
        is_deleted: m.is_deleted,
        created_at: m.created_at,
        client_id: m.client_id,
    }
}
