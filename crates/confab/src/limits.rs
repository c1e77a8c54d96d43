//! Every budget a client spends, in one place: token buckets per key
//! ([`Rate`], `governor`'s keyed limiter), budgets of failures per key
//! ([`Failures`], for logins), counted slots per key ([`Slots`], for
//! connections and sockets) and the typing coalescer ([`TypingGate`]).
//! [`Limits`] holds the server's instances, sized from the config;
//! `docs/security.md` lists them. All are per process; in a cluster the
//! socket budgets are also counted across nodes (`realtime::cluster`).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// A budget of failures per key: `per_minute` failures in any minute (all at
/// once if need be), refilled evenly. Unlike [`Rate`], asking costs nothing;
/// only a failure is charged. Logins are throttled this way, so a client
/// that logs in successfully, however often, is never refused, while
/// guessing a password (or trying many) soon is.
pub struct Failures<K: Hash + Eq + Clone> {
    capacity: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    pub fn per_minute(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            capacity,
            per_second: capacity / 60.0,
            buckets: Mutex::default(),
        }
    }

    /// The failures `key` may still have now, refilled since it was last charged.
    fn left(&self, bucket: Option<&(f64, Instant)>, now: Instant) -> f64 {
        match bucket {
            Some(&(left, at)) => (left + now.duration_since(at).as_secs_f64() * self.per_second).min(self.capacity),
            None => self.capacity,
        }
    }

    /// `Ok` while `key` has a failure left, else in how many seconds it will.
    pub fn check(&self, key: &K) -> Result<(), u64> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let left = self.left(buckets.get(key), Instant::now());
        if left >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - left) / self.per_second).ceil().max(1.0) as u64)
        }
    }

    /// Charges one failure to `key`.
    pub fn charge(&self, key: K) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let left = self.left(buckets.get(&key), now);
        buckets.insert(key, ((left - 1.0).max(0.0), now));
    }

    /// Forgets keys whose budget is full again.
    pub fn shrink(&self) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (capacity, per_second) = (self.capacity, self.per_second);
        buckets.retain(|_, (left, at)| *left + now.duration_since(*at).as_secs_f64() * per_second < capacity);
    }
}

/// Coalesces typing indicators per user and room: a change of state goes
/// out at once, the same state again at most once per `repeat`. A client
/// sending one per keystroke, from however many sockets, costs the room one
/// frame per `repeat`.
pub struct TypingGate {
    repeat: Duration,
    last: Mutex<HashMap<(i64, i64), (bool, Instant)>>,
}

impl TypingGate {
    pub fn new(repeat: Duration) -> Self {
        Self {
            repeat,
            last: Mutex::default(),
        }
    }

    /// Whether `user`'s typing state in `room` is worth telling the room.
    pub fn admit(&self, user: i64, room: i64, is_typing: bool) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&(state, at)) = last.get(&(user, room)) {
            if state == is_typing && now.duration_since(at) < self.repeat {
                return false;
            }
        }
        last.insert((user, room), (is_typing, now));
        true
    }

    /// Forgets states older than `repeat`: they no longer hold anything back.
    pub fn shrink(&self) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.retain(|_, (_, at)| now.duration_since(*at) < self.repeat);
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

    /// Every key holding slots, with how many.
    pub fn all(&self) -> Vec<(K, usize)> {
        let taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        taken.iter().map(|(key, count)| (key.clone(), *count)).collect()
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
    /// Failed token requests per account (`login_rate_per_user`, per minute)...
    pub login_failures_per_user: Failures<String>,
    /// ...and per client address (`login_rate_per_address`).
    pub login_failures_per_address: Failures<IpAddr>,
    /// Typing indicators, coalesced per user and room (one repeat a second).
    pub typing: TypingGate,
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
            login_failures_per_user: Failures::per_minute(config.login_rate_per_user),
            login_failures_per_address: Failures::per_minute(config.login_rate_per_address),
            typing: TypingGate::new(Duration::from_secs(1)),
            sockets_per_user: Slots::new(config.ws_max_sockets_per_user),
            connections_per_address: Slots::new(config.max_connections_per_address),
        }
    }

    /// The key the per-address connection cap counts `address` under, or
    /// `None` for loopback: behind a reverse proxy on this host every
    /// connection comes from loopback, and one cap for all of them would cap
    /// the whole site. (The login budget has `trust_forwarded_for` for that
    /// and counts loopback like any address.)
    pub fn per_address(address: IpAddr) -> Option<IpAddr> {
        (!address.is_loopback()).then_some(address)
    }

    /// Forgets idle clients' buckets.
    pub fn shrink(&self) {
        self.socket_posts.shrink();
        self.socket_frames.shrink();
        self.rest_writes.shrink();
        self.login_failures_per_user.shrink();
        self.login_failures_per_address.shrink();
        self.typing.shrink();
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
    fn only_failures_are_charged() {
        let failures = Failures::per_minute(2);
        let alice = "alice".to_owned();
        for _ in 0..10 {
            assert!(failures.check(&alice).is_ok(), "asking is free");
        }
        failures.charge(alice.clone());
        assert!(failures.check(&alice).is_ok());
        failures.charge(alice.clone());
        let retry = failures.check(&alice).unwrap_err();
        assert!((1..=30).contains(&retry), "{retry}");
        assert!(failures.check(&"bob".to_owned()).is_ok(), "keys are counted apart");
        failures.shrink();
        assert_eq!(
            failures.buckets.lock().unwrap().len(),
            1,
            "alice's bucket is not full yet"
        );
    }

    #[test]
    fn typing_repeats_are_held_back_per_user_and_room() {
        let gate = TypingGate::new(Duration::from_secs(60));
        assert!(gate.admit(1, 7, true));
        assert!(!gate.admit(1, 7, true), "a repeat within the interval");
        assert!(gate.admit(1, 8, true), "another room");
        assert!(gate.admit(2, 7, true), "another user");
        assert!(gate.admit(1, 7, false), "a change goes at once");
        let quick = TypingGate::new(Duration::ZERO);
        assert!(quick.admit(1, 7, true) && quick.admit(1, 7, true));
        quick.shrink();
        assert!(quick.last.lock().unwrap().is_empty());
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
