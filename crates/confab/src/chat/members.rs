//! Member use cases: list, add, change role, remove; and [`depart`], the one
//! path by which anyone leaves a room (leave, self-removal, being removed).

use sea_orm::ConnectionTrait;

use super::events::ServerEvent;
use super::outbox::{Notice, Outbox, Publisher};
use super::policy::{self, Removal};
use super::rooms::{facts, role_of, RoomFacts};
use super::types::{Member, Role, UserRef, DEVELOPER_ROLE};
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::entities::{notifications, room_members, users};
use crate::store::notifications::NewNotification;
use crate::store::{self, Store};

/// Who to add: by id or by name.
pub enum MemberRef {
    Id(i64),
    Username(String),
}

/// The room's members; `is_online` says whether a user has a socket in the room.
pub async fn list(
    store: &Store,
    is_online: impl Fn(i64) -> bool,
    user: &CurrentUser,
    room_id: i64,
) -> Result<Vec<Member>> {
    let facts = facts(store.reader(), room_id, user.id, false).await?;
    policy::view_room(&facts.access)?;
    let members = store::members::of_room(store.reader(), room_id).await?;
    let names = store::users::names(store.reader(), members.iter().map(|m| m.user_id).collect()).await?;
    let names: std::collections::HashMap<i64, String> = names.into_iter().collect();
    Ok(members
        .iter()
        .map(|m| Member {
            is_online: is_online(m.user_id),
            ..present(m, names.get(&m.user_id).cloned().unwrap_or_default())
        })
        .collect())
}

/// Adds a developer as a plain member and sends them a `room_invite`.
/// `target` validates the request body once the caller is known to be allowed.
pub async fn add(
    store: &Store,
    publisher: &dyn Publisher,
    actor: &CurrentUser,
    room_id: i64,
    target: impl FnOnce() -> Result<MemberRef>,
) -> Result<Member> {
    let mut sent = Vec::new();
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, actor.id, true).await?;
    policy::add_member(&facts.access)?;
    let (field, user) = find_developer(&txn, &target()?).await?;
    if store::members::find(&txn, room_id, user.id).await?.is_some() {
        return Err(Error::field(field, "This user is already a member of the room."));
    }
    let member = store::members::insert(&txn, room_id, user.id, Role::Member.as_str()).await?;
    let room = &facts.room;
    sent.push(
        store::notifications::insert(
            &txn,
            NewNotification {
                user_id: user.id,
                notification_type: "room_invite",
                title: format!("Added to {}", room.name),
                content: format!("{} added you to {}.", actor.username, room.name),
                room_id: Some(room_id),
                message_id: None,
            },
        )
        .await?,
    );
    txn.commit().await?;
    let mut outbox = Outbox::new();
    super::notifications::announce(&mut outbox, sent);
    let arrived = UserRef {
        id: user.id,
        username: user.username.clone(),
    };
    announce_arrival(&mut outbox, room_id, arrived);
    publisher.publish(outbox);
    Ok(present(&member, user.username))
}

/// The active developer `target` names, and the request field that named
/// them. Anyone else is one error on that field, "no such user", "inactive"
/// and "not a developer" alike: which accounts exist outside chat is none of
/// the caller's business.
pub(crate) async fn find_developer<C: ConnectionTrait>(
    db: &C,
    target: &MemberRef,
) -> Result<(&'static str, users::Model)> {
    let (field, user) = match target {
        MemberRef::Id(id) => ("user_id", store::users::find(db, *id).await?),
        MemberRef::Username(name) => ("username", store::users::find_by_username(db, name).await?),
    };
    let no_developer = || Error::field(field, "No active developer matches this value.");
    let user = user.filter(|u| u.is_active).ok_or_else(no_developer)?;
    if !store::users::roles(db, user.id)
        .await?
        .iter()
        .any(|r| r == DEVELOPER_ROLE)
    {
        return Err(no_developer());
    }
    Ok((field, user))
}

/// Changes a member's role (room admins only; the last admin stays admin).
/// `role` validates the request body once the caller is known to be allowed.
pub async fn change_role(
    store: &Store,
    publisher: &dyn Publisher,
    actor: &CurrentUser,
    room_id: i64,
    user_id: i64,
    role: impl FnOnce() -> Result<Role>,
) -> Result<Member> {
    let mut sent = Vec::new();
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, actor.id, true).await?;
    policy::change_roles(&facts.access)?;
    let mut member = store::members::find(&txn, room_id, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    let role = role()?;
    let admins = store::members::count_with_role(&txn, room_id, Role::Admin.as_str()).await?;
    policy::check_demotion(role_of(&member), role, admins)?;
    if role_of(&member) != role {
        store::members::set_role(&txn, member.id, role.as_str()).await?;
        member.role = role.as_str().to_owned();
        if user_id != actor.id {
            let room = &facts.room;
            sent.push(
                store::notifications::insert(
                    &txn,
                    NewNotification {
                        user_id,
                        notification_type: "role_changed",
                        title: format!("Role changed in {}", room.name),
                        content: format!("{} made you {} of {}.", actor.username, role, room.name),
                        room_id: Some(room_id),
                        message_id: None,
                    },
                )
                .await?,
            );
        }
    }
    let username = store::users::find(&txn, user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    txn.commit().await?;
    let mut outbox = Outbox::new();
    super::notifications::announce(&mut outbox, sent);
    publisher.publish(outbox);
    Ok(present(&member, username))
}

/// Removes a member: themself (as leaving), or someone else as the policy allows,
/// who then gets a `removed_from_room` notification.
pub async fn remove(
    store: &Store,
    publisher: &dyn Publisher,
    actor: &CurrentUser,
    room_id: i64,
    user_id: i64,
) -> Result<()> {
    let mut sent = Vec::new();
    let txn = store.begin().await?;
    let facts = facts(&txn, room_id, actor.id, true).await?;
    policy::view_room(&facts.access)?;
    let member = store::members::find(&txn, room_id, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    let removal = policy::remove_member(&facts.access, user_id == actor.id, role_of(&member))?;
    depart(&txn, &facts, &member, &mut sent).await?;
    if removal == Removal::Kick {
        let room = &facts.room;
        sent.push(
            store::notifications::insert(
                &txn,
                NewNotification {
                    user_id,
                    notification_type: "removed_from_room",
                    title: format!("Removed from {}", room.name),
                    content: format!("{} removed you from {}.", actor.username, room.name),
                    room_id: Some(room_id),
                    message_id: None,
                },
            )
            .await?,
        );
    }
    let name = store::users::find(&txn, user_id)
        .await?
        .map(|u| u.username)
        .unwrap_or_default();
    txn.commit().await?;
    let mut outbox = Outbox::new();
    super::notifications::announce(&mut outbox, sent);
    let departed = UserRef {
        id: user_id,
        username: name,
    };
    announce_departure(&mut outbox, room_id, departed);
    publisher.publish(outbox);
    Ok(())
}

/// Deletes a membership inside the caller's transaction (the room row is
/// already locked). When the last admin goes, the longest-standing remaining
/// member becomes admin and is told so; an invite-only room left empty is
/// deactivated.
pub(crate) async fn depart<C: ConnectionTrait>(
    db: &C,
    facts: &RoomFacts,
    member: &room_members::Model,
    sent: &mut Vec<notifications::Model>,
) -> Result<()> {
    let room = &facts.room;
    let admins = store::members::count_with_role(db, room.id, Role::Admin.as_str()).await?;
    store::members::delete(db, member.id).await?;
    let remaining = store::members::of_room(db, room.id).await?;
    if remaining.is_empty() && policy::deactivate_when_empty(facts.access.room_type) {
        store::rooms::deactivate(db, room.id).await?;
        return Ok(());
    }
    if policy::needs_successor(role_of(member), admins) {
        if let Some(successor) = remaining.into_iter().next() {
            store::members::set_role(db, successor.id, Role::Admin.as_str()).await?;
            sent.push(
                store::notifications::insert(
                    db,
                    NewNotification {
                        user_id: successor.user_id,
                        notification_type: "role_changed",
                        title: format!("Role changed in {}", room.name),
                        content: format!("You are now admin of {}: its last admin left.", room.name),
                        room_id: Some(room.id),
                        message_id: None,
                    },
                )
                .await?,
            );
        }
    }
    Ok(())
}

/// A departure: the room gets `member_removed`, then the user's room sockets
/// close (4003) and their user-level sockets stop listening to it.
pub(crate) fn announce_departure(outbox: &mut Outbox, room_id: i64, user: UserRef) {
    let user_id = user.id;
    // First, so the user's own user-level sockets learn of it too.
    outbox.to_room(room_id, None, ServerEvent::MemberRemoved { user });
    outbox.push(Notice::Disconnect {
        room: room_id,
        user: user_id,
    });
}

/// An arrival: the user's user-level sockets start listening to the room,
/// and the room (them included) gets `member_added`.
pub(crate) fn announce_arrival(outbox: &mut Outbox, room_id: i64, user: UserRef) {
    outbox.push(Notice::Follow {
        room: room_id,
        user: user.clone(),
    });
    outbox.to_room(room_id, None, ServerEvent::MemberAdded { user });
}

fn present(member: &room_members::Model, username: String) -> Member {
    Member {
        user: UserRef {
            id: member.user_id,
            username,
        },
        role: role_of(member),
        joined_at: member.joined_at,
        is_online: false,
    }
}
