//! Every budget a client spends, in one place: token buckets per key
//! ([`Rate`], `governor`'s keyed limiter) and counted slots per key
//! ([`Slots`], for connections and sockets). [`Limits`] holds the server's
//! instances, sized from the config; `docs/security.md` lists them.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;

/// A token bucket per key.
pub struct Rate<K: Hash + Eq + Clone> {
    limiter: DefaultKeyedRateLimiter<K>,
}

impl<K: Hash + Eq + Clone> Rate<K> {
    /// `per_second` sustained, up to `burst` at once.
    pub fn per_second(per_second: u32, burst: u32) -> Self {
        let quota = Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN));
        Self::with(quota.allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN)))
    }

    /// `per_minute` in any minute, all of them at once if need be (as DRF's throttles).
    pub fn per_minute(per_minute: u32) -> Self {
        Self::with(Quota::per_minute(
            NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
        ))
    }

    fn with(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Takes one from `key`'s budget, or says in how many seconds to retry.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            wait.as_secs() + 1
        })
    }

    /// Forgets keys whose bucket is full again, so memory follows active clients only.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

/// Counted slots per key, each at most `max`: open connections per client
/// address, open sockets per user. A [`Slot`] gives its place back when
/// dropped. Clones share the count.
#[derive(Clone)]
pub struct Slots<K: Hash + Eq + Clone> {
    max: usize,
    taken: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> Slots<K> {
    /// `max` 0 means no cap.
    pub fn new(max: usize) -> Self {
        Self {
            max: if max == 0 { usize::MAX } else { max },
            taken: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when it holds `max` already.
    pub fn try_take(&self, key: K) -> Option<Slot<K>> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        let count = taken.entry(key.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            taken: self.taken.clone(),
        })
    }

    /// Slots held for `key` now.
    pub fn held(&self, key: &K) -> usize {
        let taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        taken.get(key).copied().unwrap_or(0)
    }
}

pub struct Slot<K: Hash + Eq + Clone> {
    key: K,
    taken: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = taken.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.key);
            }
        }
    }
}

/// The server's budgets. Rates are per user unless named otherwise.
pub struct Limits {
    /// `chat_message` frames (`ws_message_rate`, `ws_message_burst`).
    pub socket_posts: Rate<i64>,
    /// Every other client frame, invalid ones included (`ws_frame_rate`, `ws_frame_burst`).
    pub socket_frames: Rate<i64>,
    /// REST writes: POST, PATCH, DELETE under `/api/chat/` (`rest_write_rate`, `rest_write_burst`).
    pub rest_writes: Rate<i64>,
    /// Token requests per username (`login_rate_per_user`, per minute)...
    pub logins_per_user: Rate<String>,
    /// ...and per client address (`login_rate_per_address`).
    pub logins_per_address: Rate<IpAddr>,
    /// Open sockets per user on this node (`ws_max_sockets_per_user`).
    pub sockets_per_user: Slots<i64>,
    /// Open connections per client address (`max_connections_per_address`).
    pub connections_per_address: Slots<IpAddr>,
}

impl Limits {
    pub fn new(config: &Config) -> Self {
        Self {
            socket_posts: Rate::per_second(config.ws_message_rate, config.ws_message_burst),
            socket_frames: Rate::per_second(config.ws_frame_rate, config.ws_frame_burst),
            rest_writes: Rate::per_second(config.rest_write_rate, config.rest_write_burst),
            logins_per_user: Rate::per_minute(config.login_rate_per_user),
            logins_per_address: Rate::per_minute(config.login_rate_per_address),
            sockets_per_user: Slots::new(config.ws_max_sockets_per_user),
            connections_per_address: Slots::new(config.max_connections_per_address),
        }
    }

    /// The key a per-address budget counts `address` under, or `None` for
    /// loopback: behind a reverse proxy on this host every client arrives
    /// from loopback (unless `trust_forwarded_for` names the real address),
    /// and one budget for all of them would throttle everyone at once.
    pub fn per_address(address: IpAddr) -> Option<IpAddr> {
        (!address.is_loopback()).then_some(address)
    }

    /// Forgets idle clients' buckets.
    pub fn shrink(&self) {
        self.socket_posts.shrink();
        self.socket_frames.shrink();
        self.rest_writes.shrink();
        self.logins_per_user.shrink();
        self.logins_per_address.shrink();
    }

    /// Runs [`Limits::shrink`] every minute until the task is dropped.
    pub async fn keep_small(limits: Arc<Limits>) {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.shrink();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_limited_per_key() {
        let limiter = Rate::per_second(1, 3);
        for _ in 0..3 {
            assert!(limiter.check(&1).is_ok());
        }
        assert!(limiter.check(&1).is_err());
        assert!(limiter.check(&2).is_ok(), "keys have separate budgets");
    }

    #[test]
    fn per_minute_says_when_to_retry() {
        let limiter = Rate::per_minute(2);
        assert!(limiter.check(&"alice".to_owned()).is_ok());
        assert!(limiter.check(&"alice".to_owned()).is_ok());
        let retry = limiter.check(&"alice".to_owned()).unwrap_err();
        assert!((1..=31).contains(&retry), "{retry}");
    }

    #[test]
    fn slots_are_given_back() {
        let slots = Slots::new(2);
        let a = slots.try_take(7).unwrap();
        let _b = slots.try_take(7).unwrap();
        assert!(slots.try_take(7).is_none());
        assert!(slots.try_take(8).is_some(), "keys are counted apart");
        drop(a);
        assert_eq!(slots.held(&7), 1);
        assert!(slots.try_take(7).is_some());
        assert_eq!(Slots::<i64>::new(0).max, usize::MAX);
    }
}
