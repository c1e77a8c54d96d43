//! Delivery verification: every socket must receive every acknowledged
//! message of its room exactly once, in ascending id order.
//!
//! A socket only appends ids while receiving (cheap), noting whether the
//! sequence ever failed to ascend; the full comparison with the room's
//! acknowledged ids happens once, after the drain.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

/// What one socket received, in arrival order.
#[derive(Debug, Default)]
pub struct SocketLog {
    pub room: i64,
    pub ids: Vec<i64>,
    /// Some id did not exceed every id before it (a duplicate or a late one).
    pub disordered: bool,
    max: i64,
}

impl SocketLog {
    pub fn new(room: i64) -> Self {
        Self {
            room,
            ..Self::default()
        }
    }

    pub fn record(&mut self, id: i64) {
        if id <= self.max {
            self.disordered = true;
        } else {
            self.max = id;
        }
        self.ids.push(id);
    }
}

/// Totals over all sockets. `lost`, `duplicated` and `out_of_order` must be zero.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Verdict {
    pub sockets: u64,
    /// Acknowledged messages times the sockets of their room.
    pub expected: u64,
    /// Deliveries of this run's messages (duplicates included).
    pub delivered: u64,
    /// Acknowledged messages a socket never received.
    pub lost: u64,
    /// Extra copies of a message a socket had already received.
    pub duplicated: u64,
    /// First copies that arrived after a larger id.
    pub out_of_order: u64,
    /// Deliveries of this run's messages that were never acknowledged to
    /// their sender (e.g. a REST post that timed out but was stored).
    pub unacknowledged: u64,
    pub sockets_with_problems: u64,
}

impl Verdict {
    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.out_of_order == 0
    }
}

/// Checks every socket's log against the acknowledged ids of its room
/// (any order, duplicates ignored).
pub fn check(acked: &HashMap<i64, Vec<i64>>, logs: &[SocketLog]) -> Verdict {
    let acked: HashMap<i64, Vec<i64>> = acked
        .iter()
        .map(|(room, ids)| {
            let mut ids = ids.clone();
            ids.sort_unstable();
            ids.dedup();
            (*room, ids)
        })
        .collect();
    let mut verdict = Verdict::default();
    for log in logs {
        let room_acked = acked.get(&log.room).map(Vec::as_slice).unwrap_or_default();
        let one = check_socket(room_acked, log);
        verdict.sockets += 1;
        verdict.expected += room_acked.len() as u64;
        verdict.delivered += log.ids.len() as u64;
        verdict.lost += one.lost;
        verdict.duplicated += one.duplicated;
        verdict.out_of_order += one.out_of_order;
        verdict.unacknowledged += one.unacknowledged;
        if one.lost + one.duplicated + one.out_of_order > 0 {
            verdict.sockets_with_problems += 1;
        }
    }
    verdict
}

#[derive(Debug, Default, PartialEq)]
struct SocketVerdict {
    lost: u64,
    duplicated: u64,
    out_of_order: u64,
    unacknowledged: u64,
}

/// `acked` is sorted and free of duplicates.
fn check_socket(acked: &[i64], log: &SocketLog) -> SocketVerdict {
    let mut verdict = SocketVerdict::default();
    // The common case: strictly ascending, so no duplicate and nothing late.
    let distinct: Vec<i64> = if log.disordered {
        let mut seen = HashSet::with_capacity(log.ids.len());
        let mut max = i64::MIN;
        for &id in &log.ids {
            if !seen.insert(id) {
                verdict.duplicated += 1;
            } else if id < max {
                verdict.out_of_order += 1;
            }
            max = max.max(id);
        }
        let mut distinct: Vec<i64> = seen.into_iter().collect();
        distinct.sort_unstable();
        distinct
    } else {
        Vec::new()
    };
    let received = if log.disordered { &distinct } else { &log.ids };
    // Merge walk of two sorted lists.
    let (mut i, mut j, mut matched) = (0, 0, 0u64);
    while i < acked.len() && j < received.len() {
        match acked[i].cmp(&received[j]) {
            std::cmp::Ordering::Equal => {
                matched += 1;
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
        }
    }
    verdict.lost = acked.len() as u64 - matched;
    verdict.unacknowledged = received.len() as u64 - matched;
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(room: i64, ids: &[i64]) -> SocketLog {
        let mut log = SocketLog::new(room);
        ids.iter().for_each(|&id| log.record(id));
        log
    }

    fn acked(rooms: &[(i64, &[i64])]) -> HashMap<i64, Vec<i64>> {
        rooms.iter().map(|(room, ids)| (*room, ids.to_vec())).collect()
    }

    #[test]
    fn a_perfect_run_is_clean() {
        // Acks may arrive in any order (several senders).
        let acked = acked(&[(1, &[3, 1, 5]), (2, &[2, 4])]);
        let logs = [log(1, &[1, 3, 5]), log(1, &[1, 3, 5]), log(2, &[2, 4])];
        let verdict = check(&acked, &logs);
        assert!(verdict.clean(), "{verdict:?}");
        assert_eq!((verdict.sockets, verdict.expected, verdict.delivered), (3, 8, 8));
        assert_eq!(verdict.sockets_with_problems, 0);
    }

    #[test]
    fn detects_lost_messages() {
        let acked = acked(&[(1, &[1, 2, 3, 4])]);
        let verdict = check(&acked, &[log(1, &[1, 4]), log(1, &[1, 2, 3, 4])]);
        assert_eq!(verdict.lost, 2);
        assert_eq!((verdict.duplicated, verdict.out_of_order), (0, 0));
        assert_eq!(verdict.sockets_with_problems, 1);
    }

    #[test]
    fn detects_duplicates() {
        let acked = acked(&[(1, &[1, 2, 3])]);
        let verdict = check(&acked, &[log(1, &[1, 2, 2, 3, 3])]);
        assert_eq!(verdict.duplicated, 2);
        assert_eq!((verdict.lost, verdict.out_of_order), (0, 0));
        assert_eq!(verdict.delivered, 5);
    }

    #[test]
    fn detects_out_of_order() {
        let acked = acked(&[(1, &[1, 2, 3, 4])]);
        let verdict = check(&acked, &[log(1, &[1, 3, 2, 4])]);
        assert_eq!(verdict.out_of_order, 1);
        assert_eq!((verdict.lost, verdict.duplicated), (0, 0));
        // A duplicate that arrives late is a duplicate, not also out of order.
        let verdict = check(&acked, &[log(1, &[1, 2, 3, 4, 2])]);
        assert_eq!((verdict.duplicated, verdict.out_of_order), (1, 0));
    }

    #[test]
    fn counts_unacknowledged_and_other_rooms() {
        let acked = acked(&[(1, &[1, 2])]);
        // 9 was delivered but never acknowledged; room 2 had no acked messages.
        let verdict = check(&acked, &[log(1, &[1, 2, 9]), log(2, &[])]);
        assert!(verdict.clean());
        assert_eq!(verdict.unacknowledged, 1);
        assert_eq!(verdict.expected, 2);
    }
}
