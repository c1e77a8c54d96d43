//! Message use cases: post, history, delete, read pointer; and [`present`],
//! which turns rows into message objects with a fixed number of queries.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::notifications;
use super::policy;
use super::rooms::{facts, RoomFacts};
use super::types::limits::REPLY_PREVIEW_CHARS;
use super::types::{Message, MessageType, ReplyPreview, UserRef};
use crate::app::AppState;
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::realtime::event::ServerEvent;
use crate::realtime::hub::Hub;
use crate::store::entities::messages;
use crate::store::messages::{Cursor, NewMessage};
use crate::store::{self, Store};

/// A validated message to post.
pub struct NewMessageInput {
    pub content: String,
    pub message_type: MessageType,
    pub reply_to: Option<i64>,
    pub client_id: Option<String>,
}

/// Whether a post stored a new message or found the one already sent with its `client_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Posted {
    Created,
    Duplicate,
}

/// Posts a message: authorize, validate (`input`, run only once the caller
/// may post), then in one transaction under the room lock: take the next
/// sequence number, insert, move the sender's read pointer, notify mentions
/// and the replied-to author. Ids therefore increase in commit order within a
/// room, and a retried `client_id` returns the first message.
/// [`post`] on its own task: once started it runs to the end (commit and
/// publish) even if the caller goes away, so no committed message is left
/// unpublished.
pub async fn post_detached(
    state: &AppState,
    user: &CurrentUser,
    room_id: i64,
    input: impl FnOnce() -> Result<NewMessageInput> + Send + 'static,
) -> Result<(Message, Posted)> {
    let (store, hub, user) = (state.store.clone(), state.hub.clone(), user.clone());
    tokio::spawn(async move { post(&store, &hub, &user, room_id, input).await })
        .await
        .map_err(Error::internal)?
}

pub async fn post(
    store: &Store,
    hub: &Hub,
    user: &CurrentUser,
    room_id: i64,
    input: impl FnOnce() -> Result<NewMessageInput>,
) -> Result<(Message, Posted)> {
    // Held until the message is published: this node publishes a room's
    // messages in the order they commit.
    let _append = hub.append_lock(room_id).await;
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, true).await?;
    policy::take_part(&facts.access)?;
    let input = input()?;
    let replied = match input.reply_to {
        Some(id) => match store::messages::find(&txn, id)
            .await?
            .filter(|m| m.room_id == room_id && !m.is_deleted)
        {
            Some(replied) => Some(replied),
            None => {
                // A retry whose message was stored before the replied-to one
                // was deleted is still that message, not an error.
                if let Some(client_id) = &input.client_id {
                    drop(txn);
                    if let Some(first) = first_sent(store, user.id, client_id).await? {
                        return Ok((first, Posted::Duplicate));
                    }
                }
                return Err(Error::field(
                    "reply_to",
                    format!("Invalid pk \"{id}\" - object does not exist."),
                ));
            }
        },
        None => None,
    };
    let seq = facts.room.last_seq + 1;
    let inserted = store::messages::insert(
        &txn,
        NewMessage {
            room_id,
            sender_id: user.id,
            seq,
            content: &input.content,
            message_type: input.message_type.as_str(),
            reply_to_id: replied.as_ref().map(|m| m.id),
            client_id: input.client_id.as_deref(),
        },
    )
    .await;
    let message = match inserted {
        Ok(message) => message,
        // A retried client_id (or the same one sent at the same moment into
        // another room): the unique index decides, without a lookup on every
        // post; answer with the message stored first.
        Err(e) if store::is_unique_violation(&e) && input.client_id.is_some() => {
            drop(txn);
            let client_id = input.client_id.as_deref().unwrap_or_default();
            let first = first_sent(store, user.id, client_id)
                .await?
                .ok_or_else(|| Error::internal(e))?;
            return Ok((first, Posted::Duplicate));
        }
        Err(e) => return Err(e.into()),
    };
    store::rooms::set_last_seq(&txn, room_id, seq).await?;
    // Posting shows the sender has seen the room up to their own message.
    store::members::advance_read_pointer(&txn, room_id, user.id, seq).await?;
    let mut sent = Vec::new();
    notifications::for_new_message(&txn, &facts.room, user, &message, replied.as_ref(), &mut sent).await?;
    // The message object is built from what this post already holds: no
    // re-read while the room's lock is held. Only a reply to someone else
    // needs their name.
    let replied = match replied {
        Some(r) if r.sender_id == user.id => Some((r, user.as_ref())),
        Some(r) => {
            let name = store::users::names(&txn, vec![r.sender_id])
                .await?
                .pop()
                .map(|(_, name)| name);
            let sender = UserRef {
                id: r.sender_id,
                username: name.unwrap_or_default(),
            };
            Some((r, sender))
        }
        None => None,
    };
    txn.commit().await?;
    // Fresh, a message has been read by its sender only: in the sender's
    // answer `is_read` is true, in the broadcast false (see
    // `ServerEvent::ChatMessage`); nobody else has read it yet.
    let replied = replied.as_ref().map(|(r, sender)| (r, sender.clone()));
    let message = message_object(message, user.as_ref(), replied, true, 0);
    let broadcast = Message {
        is_read: false,
        ..message.clone()
    };
    let mut frame = ServerEvent::ChatMessage {
        message: Box::new(broadcast),
    }
    .encode(Some(room_id));
    frame.seq = Some(seq);
    hub.publish(room_id, &frame);
    notifications::publish(hub, sent);
    Ok((message, Posted::Created))
}

/// The message `sender_id` already stored under `client_id`, as its sender
/// sees it: the answer to a retried send.
async fn first_sent(store: &Store, sender_id: i64, client_id: &str) -> Result<Option<Message>> {
    match store::messages::find_by_client_id(store.reader(), sender_id, client_id).await? {
        Some(first) => Ok(Some(present_one(store.reader(), sender_id, first).await?)),
        None => Ok(None),
    }
}

/// One page of history, oldest first, and whether older / newer live messages exist.
pub struct HistoryPage {
    pub cursor: Cursor,
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
            store::messages::has_live_beyond(db, room_id, id - 1, false).await?,
        ),
        (Cursor::After(id), _, _) => (
            store::messages::has_live_beyond(db, room_id, id + 1, true).await?,
            overflow,
        ),
    };
    let messages = present_in_room(db, user.id, &facts, rows).await?;
    Ok(HistoryPage {
        cursor,
        messages,
        has_older,
        has_newer,
    })
}

/// Soft-deletes a message (sender, room admin or moderator). A deleted or
/// invisible message is not found.
pub async fn delete(store: &Store, hub: &Hub, user: &CurrentUser, message_id: i64) -> Result<Message> {
    let txn = store.begin().await?;
    let message = store::messages::find(&txn, message_id)
        .await?
        .filter(|m| !m.is_deleted)
        .ok_or(Error::NotFound)?;
    let facts = facts(&txn, message.room_id, user.id, true).await?;
    policy::delete_message(&facts.access, message.sender_id == user.id)?;
    store::messages::mark_deleted(&txn, message_id).await?;
    txn.commit().await?;
    let room_id = message.room_id;
    hub.publish(
        room_id,
        &ServerEvent::MessageDeleted { message_id }.encode(Some(room_id)),
    );
    let mut message = present_one(store.reader(), user.id, message).await?;
    message.is_deleted = true;
    Ok(message)
}

/// Marks `message_id` and everything before it in its room as read by the
/// caller (a pointer that only moves forward). Returns the message.
pub async fn mark_read(store: &Store, hub: &Hub, user: &CurrentUser, message_id: i64) -> Result<Message> {
    let txn = store.begin().await?;
    let message = store::messages::find(&txn, message_id)
        .await?
        .filter(|m| !m.is_deleted)
        .ok_or(Error::NotFound)?;
    let facts = facts(&txn, message.room_id, user.id, false).await?;
    policy::take_part(&facts.access)?;
    let moved = store::members::advance_read_pointer(&txn, message.room_id, user.id, message.seq).await?;
    txn.commit().await?;
    if moved {
        let event = ServerEvent::MessageRead {
            message_id,
            user: user.as_ref(),
        };
        hub.publish(message.room_id, &event.encode(Some(message.room_id)));
    }
    present_one(store.reader(), user.id, message).await
}

async fn present_one<C: ConnectionTrait>(db: &C, viewer_id: i64, message: messages::Model) -> Result<Message> {
    let facts = facts(db, message.room_id, viewer_id, false).await?;
    present_in_room(db, viewer_id, &facts, vec![message])
        .await?
        .pop()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("message vanished while presenting it")))
}

/// Message objects for messages of one room: the room's read pointers are
/// read once for the whole page.
async fn present_in_room<C: ConnectionTrait>(
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
    let mut user_ids: Vec<i64> = rows
        .iter()
        .map(|m| m.sender_id)
        .chain(replied.values().map(|m| m.sender_id))
        .collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let names: HashMap<i64, String> = store::users::names(db, user_ids).await?.into_iter().collect();
    let user_ref = |id: i64| UserRef {
        id,
        username: names.get(&id).cloned().unwrap_or_default(),
    };
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
            message_object(m, sender, replied, is_read, read_count)
        })
        .collect())
}

/// The message object of the contract, from a row and what it refers to.
fn message_object(
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
        reply_to: m.reply_to_id,
        reply_preview,
        content: m.content,
        message_type: m.message_type,
        is_deleted: m.is_deleted,
        created_at: m.created_at,
        client_id: m.client_id,
    }
}
