//! The order of a room's history changes, on this process: a change takes
//! its room's lock here before its transaction and keeps it until its
//! frames are published, so frames leave in the order the changes
//! committed (`change_seq` order) even when two requests race. The database
//! lock alone orders the commits, not what happens after them.
//!
//! Rooms share a fixed number of stripes, so the memory is bounded
//! whatever the number of rooms; unrelated rooms on one stripe only wait
//! for each other's commit.

use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

const STRIPES: usize = 1024;

pub struct RoomOrder {
    stripes: Vec<Arc<Mutex<()>>>,
}

/// Held while a change commits and publishes; dropping it lets the next one through.
pub struct OrderGuard {
    _held: Vec<OwnedMutexGuard<()>>,
}

impl Default for RoomOrder {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Arc::new(Mutex::new(()))).collect(),
        }
    }
}

impl RoomOrder {
    /// Takes the locks of `rooms`, always in stripe order, so holders of
    /// several (a batch of posts) and of one cannot deadlock.
    pub async fn lock(&self, rooms: impl IntoIterator<Item = i64>) -> OrderGuard {
        let mut stripes: Vec<usize> = rooms
            .into_iter()
            .map(|room| room.rem_euclid(STRIPES as i64) as usize)
            .collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut held = Vec::with_capacity(stripes.len());
        for stripe in stripes {
            held.push(Arc::clone(&self.stripes[stripe]).lock_owned().await);
        }
        OrderGuard { _held: held }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_room_waits_for_its_previous_change_and_others_do_not() {
        let order = RoomOrder::default();
        let held = order.lock([1, 2]).await;
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(20), order.lock([2]))
                .await
                .is_err()
        );
        let _other = order.lock([3]).await;
        drop(held);
        let _again = order.lock([2, 1, 1]).await;
    }
}
