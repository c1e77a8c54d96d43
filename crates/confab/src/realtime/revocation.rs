//! Revocation of open sockets. A socket is authenticated once, at its
//! handshake; whatever happens to its account afterwards (deactivation, the
//! developer role revoked, a password change), made by this process, the
//! admin CLI or another node, is only in the database. So every node reads,
//! once per ping interval, the standing of the users it holds sockets for
//! and cuts off those that may no longer chat: one query per node and
//! interval, whatever the number of sockets, and nothing lost if a notice is.

use std::collections::HashMap;
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

/// Runs [`sweep`] every `every` until the task is dropped.
pub async fn run(store: Store, hub: Hub, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Err(error) = sweep(&store, &hub).await {
            // Tried again at the next tick; the sockets stay until then.
            tracing::warn!(%error, "could not check the standing of connected users");
        }
    }
}
