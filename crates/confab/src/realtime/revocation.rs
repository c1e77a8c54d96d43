//! Revocation of open sockets. A socket is authenticated once, at its
//! handshake; whatever happens to its account afterwards (deactivation, the
//! developer role revoked, a password change), made by this process, the
//! admin CLI or another node, is only in the database. So every node reads,
//! once per ping interval, the standing of the users it holds sockets for
//! and cuts off those that may no longer chat: one query per node and
//! interval, whatever the number of sockets, and nothing lost if a notice is.
//! In a cluster, the memberships of the rooms listened to are checked the
//! same way, for removals and deletions whose notice another node lost.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use super::hub::{CloseReason, Hub};
use crate::chat::policy::{self, Revocation};
use crate::chat::types::DEVELOPER_ROLE;
use crate::store::users::Standing;
use crate::store::{self, Store};

/// Checks every connected user once; returns how many sockets it cut off.
pub async fn sweep(store: &Store, hub: &Hub) -> Result<usize, sea_orm::DbErr> {
    let users = hub.connected_users();
    if users.is_empty() {
        return Ok(0);
    }
    let standings: HashMap<i64, Standing> = store::users::standings(store.reader(), &users, DEVELOPER_ROLE)
        .await?
        .into_iter()
        .map(|s| (s.user_id, s))
        .collect();
    let mut closed = 0;
    for user_id in users {
        let standing = standings.get(&user_id);
        let verdict = policy::still_may_chat(standing.map(|s| (s.is_active, s.is_developer)));
        closed += match (verdict, standing) {
            (Err(Revocation::Inactive), _) => hub.revoke(user_id, CloseReason::Revoked, None),
            (Err(Revocation::NotDeveloper), _) => hub.revoke(user_id, CloseReason::NotDeveloper, None),
            // The password changed: sockets opened with a token from before go.
            (Ok(()), Some(s)) if s.tokens_valid_after > 0 => {
                hub.revoke(user_id, CloseReason::Revoked, Some(s.tokens_valid_after))
            }
            (Ok(()), _) => 0,
        };
    }
    if closed > 0 {
        metrics::counter!("ws_revoked_total").increment(closed as u64);
    }
    Ok(closed)
}

/// Rooms checked per query by [`sweep_memberships`].
const ROOMS_PER_QUERY: usize = 200;

/// Cuts off sockets listening to a room their user is no longer a member
/// of, and closes rooms that were deleted: what the `Disconnect` and
/// `CloseRoom` notices do, for a node that may have missed them (in a
/// cluster, Redis may lose notices). A pair listening here at the start of
/// the sweep became a member before it did (a socket is admitted, and a user
/// socket follows a room, only after the membership's commit), so a missing
/// membership means a removal. Returns how many pairs it cut off.
pub async fn sweep_memberships(store: &Store, hub: &Hub) -> Result<usize, sea_orm::DbErr> {
    let listeners = hub.listeners();
    let mut by_room: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (room, user) in listeners {
        by_room.entry(room).or_default().push(user);
    }
    let rooms: Vec<i64> = by_room.keys().copied().collect();
    let mut cut = 0;
    for chunk in rooms.chunks(ROOMS_PER_QUERY) {
        let active: HashSet<i64> = store::rooms::sequence_points(store.reader(), chunk.to_vec())
            .await?
            .into_iter()
            .filter_map(|(room, _, is_active)| is_active.then_some(room))
            .collect();
        let users: BTreeSet<i64> = chunk.iter().flat_map(|room| by_room[room].iter().copied()).collect();
        let members: HashSet<(i64, i64)> =
            store::members::find_many(store.reader(), chunk.to_vec(), users.into_iter().collect())
                .await?
                .into_iter()
                .map(|m| (m.room_id, m.user_id))
                .collect();
        for room in chunk {
            if !active.contains(room) {
                hub.close_room(*room);
                cut += by_room[room].len();
                continue;
            }
            for &user in &by_room[room] {
                if !members.contains(&(*room, user)) {
                    hub.disconnect(*room, user);
                    cut += 1;
                }
            }
        }
    }
    if cut > 0 {
        metrics::counter!("ws_membership_sweep_cuts_total").increment(cut as u64);
    }
    Ok(cut)
}

/// Runs [`sweep`] every `every` until the task is dropped; in a cluster
/// (`memberships`), [`sweep_memberships`] too.
pub async fn run(store: Store, hub: Hub, every: Duration, memberships: bool) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = sweep(&store, &hub).await {
            // Tried again at the next tick; the sockets stay until then.
            tracing::warn!(%error, "could not check the standing of connected users");
        }
        if memberships {
            if let Err(error) = sweep_memberships(&store, &hub).await {
                tracing::warn!(%error, "could not check the memberships of connected users");
            }
        }
    }
}
