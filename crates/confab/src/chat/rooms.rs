//! Room use cases: list, read, create, change, delete, join, leave.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::outbox::{Notice, Outbox, Publisher};
use super::policy::{self, JoinDecision, RoomAccess};
use super::types::{Message, Role, Room, RoomType, UserRef};
use super::Window;
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::entities::{room_members, rooms};
use crate::store::{self, Store};

/// A validated room for creation.
pub struct NewRoom {
    pub name: String,
    pub description: String,
    pub room_type: RoomType,
}

/// Validated changes; `None` keeps the current value.
#[derive(Default)]
pub struct RoomPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub room_type: Option<RoomType>,
}

/// A room with the caller's membership, as the policy sees it.
pub(crate) struct RoomFacts {
    pub room: rooms::Model,
    pub membership: Option<room_members::Model>,
    pub access: RoomAccess,
}

/// Loads a room and the caller's membership. `lock` takes the room's row lock
/// (inside a transaction) before anything else is read.
pub(crate) async fn facts<C: ConnectionTrait>(db: &C, room_id: i64, user_id: i64, lock: bool) -> Result<RoomFacts> {
    let room = if lock {
        store::rooms::find_for_update(db, room_id).await?
    } else {
        store::rooms::find(db, room_id).await?
    };
    let room = room.ok_or(Error::NotFound)?;
    let membership = store::members::find(db, room_id, user_id).await?;
    let access = access(&room, membership.as_ref());
    Ok(RoomFacts {
        room,
        membership,
        access,
    })
}

/// What the policy needs to know of a room and the caller's membership in it.
pub(crate) fn access(room: &rooms::Model, membership: Option<&room_members::Model>) -> RoomAccess {
    RoomAccess {
        // An unknown type in the database is treated as the most restrictive one.
        room_type: RoomType::parse(&room.room_type).unwrap_or(RoomType::Private),
        is_active: room.is_active,
        is_direct: room.direct_key.is_some(),
        my_role: membership.map(role_of),
    }
}

pub(crate) fn role_of(member: &room_members::Model) -> Role {
    Role::parse(&member.role).unwrap_or(Role::Member)
}

pub async fn list(
    store: &Store,
    user: &CurrentUser,
    filter: store::rooms::RoomFilter<'_>,
    window: Window,
) -> Result<(u64, Vec<Room>)> {
    let (total, rows) =
        store::rooms::page_visible(store.reader(), user.id, filter, window.offset, window.limit).await?;
    Ok((total, present(store.reader(), user.id, rows).await?))
}

pub async fn get(store: &Store, user: &CurrentUser, room_id: i64) -> Result<Room> {
    let facts = facts(store.reader(), room_id, user.id, false).await?;
    policy::view_room(&facts.access)?;
    present_one(store.reader(), user.id, facts.room).await
}

/// Creates a room with `user` as its admin; their open user-level sockets
/// start following it at once.
pub async fn create(store: &Store, publisher: &dyn Publisher, user: &CurrentUser, new: NewRoom) -> Result<Room> {
    let txn = store.begin().await?;
    let room = store::rooms::insert(
        &txn,
        store::rooms::NewRoom {
            name: &new.name,
            description: &new.description,
            room_type: new.room_type.as_str(),
            created_by_id: user.id,
            direct_key: None,
        },
    )
    .await?;
    store::members::insert(&txn, room.id, user.id, Role::Admin.as_str()).await?;
    txn.commit().await?;
    let mut outbox = Outbox::new();
    super::members::announce_arrival(&mut outbox, room.id, user.as_ref());
    publisher.publish(outbox);
    present_one(store.reader(), user.id, room).await
}

/// Changes a room. `patch` validates the request body; like DRF, it runs only
/// once the room is found and the caller allowed, so they learn nothing first.
pub async fn update(
    store: &Store,
    user: &CurrentUser,
    room_id: i64,
    patch: impl FnOnce() -> Result<RoomPatch>,
) -> Result<Room> {
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, true).await?;
    policy::manage_room(&facts.access)?;
    let patch = patch()?;
    let changes = store::rooms::RoomChanges {
        name: patch.name,
        description: patch.description,
        room_type: patch.room_type.map(|t| t.as_str().to_owned()),
    };
    let room = store::rooms::update(&txn, facts.room, changes).await?;
    txn.commit().await?;
    present_one(store.reader(), user.id, room).await
}

/// Soft delete: the room becomes inactive and invisible.
pub async fn delete(store: &Store, publisher: &dyn Publisher, user: &CurrentUser, room_id: i64) -> Result<()> {
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, true).await?;
    policy::manage_room(&facts.access)?;
    store::rooms::deactivate(&txn, room_id).await?;
    txn.commit().await?;
    let mut outbox = Outbox::new();
    outbox.push(Notice::CloseRoom { room: room_id });
    publisher.publish(outbox);
    Ok(())
}

/// Joins a public room. Returns whether the caller was already a member.
pub async fn join(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    room_id: i64,
) -> Result<(JoinDecision, Room)> {
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, true).await?;
    let decision = policy::join_room(&facts.access)?;
    if decision == JoinDecision::Join {
        let admins = store::members::count_with_role(&txn, room_id, Role::Admin.as_str()).await?;
        let role = policy::role_on_join(admins);
        store::members::insert(&txn, room_id, user.id, role.as_str()).await?;
    }
    txn.commit().await?;
    if decision == JoinDecision::Join {
        let mut outbox = Outbox::new();
        super::members::announce_arrival(&mut outbox, room_id, user.as_ref());
        publisher.publish(outbox);
    }
    Ok((decision, present_one(store.reader(), user.id, facts.room).await?))
}

pub async fn leave(store: &Store, publisher: &dyn Publisher, user: &CurrentUser, room_id: i64) -> Result<()> {
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, user.id, true).await?;
    policy::leave_room(&facts.access)?;
    let membership = facts.membership.as_ref().ok_or(Error::NotFound)?;
    let mut sent = Vec::new();
    super::members::depart(&txn, &facts, membership, &mut sent).await?;
    txn.commit().await?;
    let mut outbox = Outbox::new();
    super::notifications::announce(&mut outbox, sent);
    super::members::announce_departure(&mut outbox, room_id, user.as_ref());
    publisher.publish(outbox);
    Ok(())
}

pub(crate) async fn present_one<C: ConnectionTrait>(db: &C, user_id: i64, room: rooms::Model) -> Result<Room> {
    present(db, user_id, vec![room])
        .await?
        .pop()
        .ok_or_else(|| Error::internal(anyhow::anyhow!("room vanished while presenting it")))
}

/// Builds room objects for `user_id` with a fixed number of queries, however
/// many rooms: member counts, the caller's memberships, the creators and the
/// peers of direct conversations, the last messages (with their readers) and
/// the deleted messages past the caller's read pointers are each fetched once
/// for the whole page.
///
/// The unread count is a subtraction: the room's newest sequence number less
/// the caller's read pointer, less the deleted messages past the pointer.
/// (Posting moves the sender's pointer, so no own message is ever unread.)
pub(crate) async fn present<C: ConnectionTrait>(db: &C, user_id: i64, rows: Vec<rooms::Model>) -> Result<Vec<Room>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let counts: HashMap<i64, i64> = store::members::counts(db, ids.clone()).await?.into_iter().collect();
    let mine: HashMap<i64, room_members::Model> = store::members::of_user_in(db, user_id, ids.clone())
        .await?
        .into_iter()
        .map(|m| (m.room_id, m))
        .collect();
    let direct_ids: Vec<i64> = rows.iter().filter(|r| r.direct_key.is_some()).map(|r| r.id).collect();
    let peers: HashMap<i64, i64> = store::members::others_in(db, direct_ids, user_id)
        .await?
        .into_iter()
        .collect();
    let mut user_ids: Vec<i64> = rows
        .iter()
        .map(|r| r.created_by_id)
        .chain(peers.values().copied())
        .collect();
    user_ids.sort_unstable();
    user_ids.dedup();
    let names: HashMap<i64, String> = store::users::names(db, user_ids).await?.into_iter().collect();
    let user_ref = |id: i64| UserRef {
        id,
        username: names.get(&id).cloned().unwrap_or_default(),
    };

    let latest = store::messages::latest_per_room(db, ids).await?;
    let latest_keys: Vec<(i64, i64, i64)> = latest.iter().map(|m| (m.room_id, m.seq, m.sender_id)).collect();
    let readers: HashMap<i64, i64> = store::members::readers_per_room(db, &latest_keys)
        .await?
        .into_iter()
        .collect();
    let read_counts = latest
        .iter()
        .map(|m| (m.id, readers.get(&m.room_id).copied().unwrap_or(0)))
        .collect();
    let pointers: HashMap<i64, i64> = mine.values().map(|m| (m.room_id, m.last_read_seq)).collect();
    let mut last_messages: HashMap<i64, Message> =
        super::messages::present(db, user_id, latest, &pointers, &read_counts)
            .await?
            .into_iter()
            .map(|m| (m.room, m))
            .collect();
    let pointers: Vec<(i64, i64)> = pointers.into_iter().collect();
    let deleted_unread: HashMap<i64, i64> = store::messages::deleted_after(db, &pointers)
        .await?
        .into_iter()
        .collect();

    Ok(rows
        .into_iter()
        .map(|room| {
            let membership = mine.get(&room.id);
            let my_role = membership.map(role_of);
            let unread_count = membership.map_or(0, |m| {
                let deleted = deleted_unread.get(&room.id).copied().unwrap_or(0);
                (room.last_seq - m.last_read_seq - deleted).max(0)
            });
            Room {
                id: room.id,
                created_by: user_ref(room.created_by_id),
                is_direct: room.direct_key.is_some(),
                peer: peers.get(&room.id).copied().map(user_ref),
                change_seq: room.change_seq,
                room_type: RoomType::parse(&room.room_type).unwrap_or(RoomType::Private),
                member_count: counts.get(&room.id).copied().unwrap_or(0),
                is_member: my_role.is_some(),
                my_role,
                unread_count,
                last_message: last_messages.remove(&room.id).map(Box::new),
                name: room.name,
                description: room.description,
                is_active: room.is_active,
                created_at: room.created_at,
                updated_at: room.updated_at,
            }
        })
        .collect())
}
