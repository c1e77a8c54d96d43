//! Direct conversations: a private room of exactly two members, one per pair
//! of users, found again by its key whoever opens it.

use super::members::MemberRef;
use super::outbox::{Outbox, Publisher};
use super::policy;
use super::rooms::present_one;
use super::types::{Role, RoomType, UserRef};
use crate::auth::CurrentUser;
use crate::error::{Error, Result};
use crate::store::notifications::NewNotification;
use crate::store::{self, Store};

/// Whether [`open`] made the conversation or found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opened {
    Created,
    Existing,
}

/// The direct conversation between `user` and `other`, created when there is
/// none yet. The other user gets a `room_invite` notification and, on their
/// user sockets, the room (`member_added`). Concurrent calls for one pair
/// meet at the unique key: the loser of the race reads the winner's room.
pub async fn open(
    store: &Store,
    publisher: &dyn Publisher,
    user: &CurrentUser,
    other: MemberRef,
) -> Result<(Opened, super::types::Room)> {
    let (field, other) = super::members::find_developer(store.reader(), &other).await?;
    policy::open_direct(user.id, other.id).map_err(|m| Error::field(field, m))?;

    let key = store::rooms::direct_key(user.id, other.id);
    if let Some(room) = store::rooms::find_direct(store.reader(), &key).await? {
        return Ok((Opened::Existing, present_one(store.reader(), user.id, room).await?));
    }
    let mut names = [user.username.as_str(), other.username.as_str()];
    names.sort_by_key(|name| (name.to_lowercase(), name.to_string()));
    let name = names.join(", ");

    let txn = store.begin().await?;
    let inserted = store::rooms::insert(
        &txn,
        store::rooms::NewRoom {
            name: &name,
            description: "",
            room_type: RoomType::Private.as_str(),
            created_by_id: user.id,
            direct_key: Some(key.clone()),
        },
    )
    .await;
    let room = match inserted {
        Ok(room) => room,
        Err(error) if store::is_unique_violation(&error) => {
            drop(txn);
            let room = store::rooms::find_direct(store.reader(), &key)
                .await?
                .ok_or(Error::NotFound)?;
            return Ok((Opened::Existing, present_one(store.reader(), user.id, room).await?));
        }
        Err(error) => return Err(error.into()),
    };
    store::members::insert(&txn, room.id, user.id, Role::Member.as_str()).await?;
    store::members::insert(&txn, room.id, other.id, Role::Member.as_str()).await?;
    let invite = store::notifications::insert(
        &txn,
        NewNotification {
            user_id: other.id,
            notification_type: "room_invite",
            title: format!("{} started a conversation with you", user.username),
            content: format!("{} started a direct conversation with you.", user.username),
            room_id: Some(room.id),
            message_id: None,
        },
    )
    .await?;
    txn.commit().await?;

    let mut outbox = Outbox::new();
    super::notifications::announce(&mut outbox, vec![invite]);
    super::members::announce_arrival(&mut outbox, room.id, user.as_ref());
    super::members::announce_arrival(
        &mut outbox,
        room.id,
        UserRef {
            id: other.id,
            username: other.username.clone(),
        },
    );
    publisher.publish(outbox);
    Ok((Opened::Created, present_one(store.reader(), user.id, room).await?))
}
