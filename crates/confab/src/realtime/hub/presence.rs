//! Who is online in a room: users with their number of open sockets there.
//! A user's first socket is their arrival (`user_joined`), their last one
//! closing is their departure (`user_left`).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::chat::types::UserRef;

#[derive(Default)]
pub(super) struct Presence {
    online: HashMap<i64, (UserRef, usize)>,
}

impl Presence {
    /// Counts one more socket of `user`; true when it is their first.
    pub fn arrive(&mut self, user: &UserRef) -> bool {
        let entry = self.online.entry(user.id).or_insert_with(|| (user.clone(), 0));
        entry.1 += 1;
        entry.1 == 1
    }

    /// Counts one socket less of `user_id`; the user when it was their last.
    pub fn depart(&mut self, user_id: i64) -> Option<UserRef> {
        let entry = self.online.get_mut(&user_id)?;
        entry.1 -= 1;
        if entry.1 > 0 {
            return None;
        }
        self.online.remove(&user_id).map(|(user, _)| user)
    }

    pub fn contains(&self, user_id: i64) -> bool {
        self.online.contains_key(&user_id)
    }

    /// The online users, by id.
    pub fn list(&self) -> Vec<UserRef> {
        let mut users: Vec<UserRef> = self.online.values().map(|(u, _)| u.clone()).collect();
        users.sort_by_key(|u| u.id);
        users
    }
}

/// Rooms whose local presence changed (a user's first socket on this node
/// opened, or their last one closed) since the cluster's presence last
/// looked: a set, so a burst of changes costs one look per room, and its size
/// is bounded by the number of rooms.
#[derive(Default)]
pub struct PresenceChanges {
    rooms: Mutex<HashSet<i64>>,
    wake: tokio::sync::Notify,
}

impl PresenceChanges {
    pub fn mark(&self, room: i64) {
        let first = self.rooms.lock().unwrap_or_else(|p| p.into_inner()).insert(room);
        if first {
            self.wake.notify_one();
        }
    }

    /// Wakes whoever waits in [`Self::changed`] without marking a room.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The rooms marked since the last call; empties the set.
    pub fn take(&self) -> HashSet<i64> {
        std::mem::take(&mut *self.rooms.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Completes once a room is marked (at once if one was marked meanwhile).
    pub async fn changed(&self) {
        self.wake.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_arrival_and_last_departure() {
        let alice = UserRef {
            id: 1,
            username: "alice".into(),
        };
        let mut presence = Presence::default();
        assert!(presence.arrive(&alice));
        assert!(!presence.arrive(&alice), "a second socket is no arrival");
        assert_eq!(presence.depart(1), None);
        assert!(presence.contains(1));
        assert_eq!(presence.depart(1), Some(alice));
        assert!(presence.list().is_empty());
        assert_eq!(presence.depart(1), None, "unknown users depart quietly");
    }
}
