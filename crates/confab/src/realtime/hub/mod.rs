//! The in-process hub: which sockets of this node listen to which room,
//! who is online ([`presence`]), and the fan-out to them.
//!
//! Every socket owns a bounded queue. Publishing never waits: it encodes the
//! event once and offers the shared frame to each queue, and a socket whose
//! queue is full is cut off (its session closes with 1013) instead of letting
//! memory grow.
//!
//! Rooms are sharded by id, each shard behind its own lock, so publishing to
//! one room never waits on an unrelated one; a second index, sharded by user,
//! finds a person's sockets for what is addressed to them. Changes to who
//! listens where hold the user's shard and then the room's (always in that
//! order, so they cannot deadlock), so the two indexes never disagree;
//! publishing takes one lock.
//!
//! The hub applies [`Notice`]s: what the backplane delivers, from this node
//! or another. Order within a room is the publisher's: the post pipeline
//! publishes a room's messages in commit order (see [`crate::pipeline`]).

mod presence;

pub use self::presence::PresenceChanges;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::mpsc;

use self::presence::Presence;
use super::frame::Frame;
use crate::chat::events::ServerEvent;
use crate::chat::outbox::{Audience, Notice};
use crate::chat::types::UserRef;

/// A socket's queue: frames are shared between all the queues they go to.
pub type FrameSender = mpsc::Sender<Arc<Frame>>;
pub type FrameReceiver = mpsc::Receiver<Arc<Frame>>;

/// Why the hub cut a socket off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// Its queue was full: it cannot keep up (close code 1013).
    SlowConsumer,
    /// The room was deleted (close code 4004).
    RoomClosed,
    /// Its user was removed from the room (close code 4003).
    Removed,
    /// Its user was deactivated or changed their password (close code 4001).
    Revoked,
    /// Its user lost the developer role (close code 4003).
    NotDeveloper,
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::SlowConsumer => 1013,
            CloseReason::RoomClosed => 4004,
            CloseReason::Removed => 4003,
            CloseReason::Revoked => 4001,
            CloseReason::NotDeveloper => 4003,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "too slow to keep up",
            CloseReason::RoomClosed => "room deleted",
            CloseReason::Removed => "removed from the room",
            CloseReason::Revoked => "credentials revoked",
            CloseReason::NotDeveloper => "not a developer",
        }
    }
}

/// Set once, when the hub cuts a socket off; its session wakes on it.
#[derive(Debug, Default)]
pub struct CloseFlag {
    reason: OnceLock<CloseReason>,
    wake: tokio::sync::Notify,
}

impl CloseFlag {
    pub fn get(&self) -> Option<CloseReason> {
        self.reason.get().copied()
    }

    /// Sets the reason unless one is set; true when this call set it.
    pub fn set(&self, reason: CloseReason) -> bool {
        let first = self.reason.set(reason).is_ok();
        if first {
            // Stores a permit when nobody waits yet, so a later wait ends at once.
            self.wake.notify_one();
        }
        first
    }

    /// Completes once the socket is cut off, with the reason.
    pub async fn cut_off(&self) -> CloseReason {
        loop {
            if let Some(reason) = self.get() {
                return reason;
            }
            self.wake.notified().await;
        }
    }
}

/// One shard of the room index: the channels of the rooms hashed to it.
type RoomShard = Mutex<HashMap<i64, RoomChannel>>;
/// One shard of the user index: every open socket of the users hashed to it.
type UserShard = Mutex<HashMap<i64, Vec<UserSocket>>>;

/// Shards of the room and user indexes: enough that unrelated rooms rarely
/// share a lock, a fixed number so the tables never grow.
const SHARDS: usize = 64;

fn shard_of(id: i64) -> usize {
    id.rem_euclid(SHARDS as i64) as usize
}

/// Cheap to clone: all clones share one hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Rooms with at least one socket, by `shard_of(room)`. std mutexes:
    /// held only for non-blocking work (no `.await` inside), shorter than any
    /// async lock round trip.
    rooms: Box<[RoomShard]>,
    /// Every open socket of a user, by `shard_of(user)`.
    users: Box<[UserShard]>,
    next_id: AtomicU64,
    /// Capacity of each socket's queue, in frames.
    queue_capacity: usize,
    /// Set in a cluster: a user's first socket in a room on this node, or
    /// their last one closing, is reported here instead of announced, and
    /// the cluster's presence decides whether it is an arrival or departure
    /// for the whole cluster (`user_joined`/`user_left` once per user, not
    /// once per node).
    cluster_presence: OnceLock<Arc<PresenceChanges>>,
}

#[derive(Default)]
struct RoomChannel {
    subscribers: Vec<Subscriber>,
    presence: Presence,
}

/// A socket's queue and the flag the hub sets when it cuts the socket off.
#[derive(Clone)]
struct Outlet {
    id: u64,
    tx: FrameSender,
    closed: Arc<CloseFlag>,
}

impl Outlet {
    fn cut_off(&self, reason: CloseReason) {
        if self.closed.set(reason) && reason == CloseReason::SlowConsumer {
            metrics::counter!("ws_slow_consumer_closes_total").increment(1);
        }
    }
}

struct Subscriber {
    outlet: Outlet,
    user_id: i64,
    /// Part of a user-level socket (`/ws/chat/`): leaving the room detaches
    /// it from the room instead of closing it.
    user_level: bool,
}

/// One socket in the user index.
struct UserSocket {
    outlet: Outlet,
    /// A user-level socket, which follows the rooms its user joins.
    user_level: bool,
    /// The rooms it listens to, so it can leave them all when it closes.
    rooms: Vec<i64>,
    /// Unix seconds when it subscribed: a password change at or after it
    /// means the token it was opened with is no longer valid.
    opened_at: i64,
}

/// One socket's membership in a room's fan-out; unsubscribes when dropped.
pub struct Subscription {
    pub rx: FrameReceiver,
    /// The socket's own way into its queue, for answers to its client.
    pub tx: FrameSender,
    /// Online users at the moment of subscribing, this one included: for
    /// the greeting, then taken (a list per idle socket adds up).
    pub online: Vec<UserRef>,
    closed: Arc<CloseFlag>,
    hub: Hub,
    user_id: i64,
    id: u64,
}

impl Subscription {
    /// Set when the hub cut this socket off; its queue then ends.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.get()
    }

    /// The flag the hub sets when it cuts this socket off.
    pub fn close_flag(&self) -> Arc<CloseFlag> {
        self.closed.clone()
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.user_id, self.id);
    }
}

/// A user-level socket's place in the hub; leaves every room when dropped.
pub struct UserSubscription {
    pub rx: FrameReceiver,
    /// The socket's own way into its queue, for answers to its client.
    pub tx: FrameSender,
    closed: Arc<CloseFlag>,
    hub: Hub,
    user_id: i64,
    id: u64,
}

impl UserSubscription {
    /// The flag the hub sets when it cuts this socket off.
    pub fn close_flag(&self) -> Arc<CloseFlag> {
        self.closed.clone()
    }
}

impl Drop for UserSubscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.user_id, self.id);
    }
}

/// The ids held by a sharded index, shard by shard.
fn keys_of<V>(shards: &[Mutex<HashMap<i64, V>>]) -> Vec<i64> {
    let mut ids = Vec::new();
    for shard in shards {
        ids.extend(lock(shard).keys().copied());
    }
    ids
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep serving.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    pub fn new(queue_capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: (0..SHARDS).map(|_| Mutex::default()).collect(),
                users: (0..SHARDS).map(|_| Mutex::default()).collect(),
                next_id: AtomicU64::new(1),
                queue_capacity: queue_capacity.max(1),
                cluster_presence: OnceLock::new(),
            }),
        }
    }

    /// From now on, reports presence changes to `changes` instead of
    /// announcing them (see `Inner::cluster_presence`). Set once, at start.
    pub fn report_presence_to(&self, changes: Arc<PresenceChanges>) {
        let _ = self.inner.cluster_presence.set(changes);
    }

    fn rooms(&self, room: i64) -> MutexGuard<'_, HashMap<i64, RoomChannel>> {
        lock(&self.inner.rooms[shard_of(room)])
    }

    fn users(&self, user: i64) -> MutexGuard<'_, HashMap<i64, Vec<UserSocket>>> {
        lock(&self.inner.users[shard_of(user)])
    }

    fn outlet(&self) -> (Outlet, FrameReceiver) {
        let (tx, rx) = mpsc::channel(self.inner.queue_capacity);
        let outlet = Outlet {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            tx,
            closed: Arc::default(),
        };
        (outlet, rx)
    }

    /// Applies what the backplane delivers: an event for its audience, or a
    /// change to who listens where.
    pub fn apply(&self, notice: &Notice) {
        match notice {
            Notice::Event { audience, seq, event } => {
                self.deliver(*audience, &Frame::encode(event, audience.room(), *seq));
            }
            Notice::Follow { room, user } => self.follow(*room, user),
            Notice::Disconnect { room, user } => self.disconnect(*room, *user),
            Notice::CloseRoom { room } => self.close_room(*room),
        }
    }

    /// Offers an encoded event to its audience.
    pub fn deliver(&self, audience: Audience, frame: &Frame) {
        match audience {
            Audience::Room(room) => self.publish(room, frame),
            Audience::RoomExcept { room, user } => self.publish_to_others(room, frame, user),
            Audience::User(user) => self.publish_to_user(user, frame),
        }
    }

    /// Adds a socket of `user` to `room`. When it is the user's first socket
    /// there, the room's other sockets get `user_joined`.
    pub fn subscribe(&self, room: i64, user: UserRef) -> Subscription {
        let (outlet, rx) = self.outlet();
        let (id, closed) = (outlet.id, outlet.closed.clone());
        let tx = outlet.tx.clone();
        let mut users = self.users(user.id);
        users.entry(user.id).or_default().push(UserSocket {
            outlet: outlet.clone(),
            user_level: false,
            rooms: vec![room],
            opened_at: chrono::Utc::now().timestamp(),
        });
        let online = self.attach(room, &user, outlet, false);
        drop(users);
        metrics::gauge!("ws_subscriptions").increment(1.0);
        Subscription {
            rx,
            tx,
            online,
            closed,
            hub: self.clone(),
            user_id: user.id,
            id,
        }
    }

    /// Adds a user-level socket of `user`, listening to `rooms` and to
    /// whatever rooms the user joins while it is open.
    pub fn subscribe_user(&self, user: UserRef, rooms: &[i64]) -> UserSubscription {
        let (outlet, rx) = self.outlet();
        let (id, closed) = (outlet.id, outlet.closed.clone());
        let mut users = self.users(user.id);
        users.entry(user.id).or_default().push(UserSocket {
            outlet: outlet.clone(),
            user_level: true,
            rooms: rooms.to_vec(),
            opened_at: chrono::Utc::now().timestamp(),
        });
        for &room in rooms {
            self.attach(room, &user, outlet.clone(), true);
        }
        drop(users);
        metrics::gauge!("ws_subscriptions").increment(1.0);
        UserSubscription {
            rx,
            tx: outlet.tx,
            closed,
            hub: self.clone(),
            user_id: user.id,
            id,
        }
    }

    /// Adds a subscriber to a room, counting its user online there (and telling
    /// the room when it is that user's first socket). Returns who is online.
    fn attach(&self, room: i64, user: &UserRef, outlet: Outlet, user_level: bool) -> Vec<UserRef> {
        let mut rooms = self.rooms(room);
        let channel = rooms.entry(room).or_default();
        if channel.presence.arrive(user) {
            match self.inner.cluster_presence.get() {
                Some(changes) => changes.mark(room),
                None => {
                    let frame = Frame::encode(&ServerEvent::UserJoined { user: user.clone() }, Some(room), None);
                    deliver(channel, &frame, |_| true);
                }
            }
        }
        channel.subscribers.push(Subscriber {
            outlet,
            user_id: user.id,
            user_level,
        });
        channel.presence.list()
    }

    /// `user` became a member of `room`: their user-level sockets start
    /// receiving its frames.
    pub(crate) fn follow(&self, room: i64, user: &UserRef) {
        let mut users = self.users(user.id);
        let Some(sockets) = users.get_mut(&user.id) else { return };
        for socket in sockets.iter_mut().filter(|s| s.user_level && !s.rooms.contains(&room)) {
            socket.rooms.push(room);
            self.attach(room, user, socket.outlet.clone(), true);
        }
    }

    /// A socket closed: it leaves each of its rooms and the user index.
    fn unsubscribe(&self, user_id: i64, id: u64) {
        let mut users = self.users(user_id);
        let Some(sockets) = users.get_mut(&user_id) else { return };
        let Some(at) = sockets.iter().position(|s| s.outlet.id == id) else {
            return;
        };
        let socket = sockets.swap_remove(at);
        if sockets.is_empty() {
            users.remove(&user_id);
        }
        for room in socket.rooms {
            self.remove_from_room(room, |s| s.outlet.id == id, |_| None);
        }
        drop(users);
        metrics::gauge!("ws_subscriptions").decrement(1.0);
    }

    /// Removes the matching subscribers of `room` (marking why, when the hub
    /// is the one cutting them off) and announces `user_left` for users whose
    /// last socket this was. Returns the removed outlets' ids.
    fn remove_from_room(
        &self,
        room: i64,
        matches: impl Fn(&Subscriber) -> bool,
        reason: impl Fn(&Subscriber) -> Option<CloseReason>,
    ) -> Vec<(u64, i64)> {
        let mut rooms = self.rooms(room);
        let Some(channel) = rooms.get_mut(&room) else {
            return Vec::new();
        };
        let removed = remove(channel, room, matches, reason, self.inner.cluster_presence.get());
        if channel.subscribers.is_empty() {
            rooms.remove(&room);
        }
        removed
    }

    /// Offers `frame` to every socket in `room`.
    pub fn publish(&self, room: i64, frame: &Frame) {
        self.publish_filtered(room, frame, |_| true);
    }

    /// Offers `frame` to the sockets in `room` of users other than `user_id`.
    pub fn publish_to_others(&self, room: i64, frame: &Frame, user_id: i64) {
        self.publish_filtered(room, frame, |s| s.user_id != user_id);
    }

    fn publish_filtered(&self, room: i64, frame: &Frame, wanted: impl Fn(&Subscriber) -> bool) {
        let mut rooms = self.rooms(room);
        let Some(channel) = rooms.get_mut(&room) else { return };
        let gone = deliver(channel, frame, wanted);
        if !gone.is_empty() {
            remove(
                channel,
                room,
                |s| gone.contains(&s.outlet.id),
                |_| Some(CloseReason::SlowConsumer),
                self.inner.cluster_presence.get(),
            );
        }
    }

    /// Offers `frame` to every socket of `user_id`, in whichever room, once each.
    pub fn publish_to_user(&self, user_id: i64, frame: &Frame) {
        let users = self.users(user_id);
        let Some(sockets) = users.get(&user_id) else { return };
        let shared = Arc::new(frame.clone());
        let mut delivered = 0;
        for socket in sockets {
            match socket.outlet.tx.try_send(shared.clone()) {
                Ok(()) => delivered += 1,
                // Its session sees the flag; its rooms drop it on their next publish.
                Err(mpsc::error::TrySendError::Full(_)) => socket.outlet.cut_off(CloseReason::SlowConsumer),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        metrics::counter!("ws_frames_out_total", "type" => frame.kind).increment(delivered);
    }

    /// Cuts off every socket of `room` (the room was deleted): user-level
    /// sockets get `room_deleted` and stop following it, room sockets close.
    pub(crate) fn close_room(&self, room: i64) {
        let frame = Frame::encode(&ServerEvent::RoomDeleted, Some(room), None);
        self.publish_filtered(room, &frame, |s| s.user_level);
        let channel = self.rooms(room).remove(&room);
        let Some(channel) = channel else { return };
        if let Some(changes) = self.inner.cluster_presence.get() {
            changes.mark(room);
        }
        for subscriber in channel.subscribers {
            if !subscriber.user_level {
                subscriber.outlet.cut_off(CloseReason::RoomClosed);
            }
            // After the room's lock, not under it (the order is user, then
            // room). A deleted room can be joined no more, so no `follow` of
            // it can slip in between.
            let mut users = self.users(subscriber.user_id);
            let socket = users
                .get_mut(&subscriber.user_id)
                .and_then(|sockets| sockets.iter_mut().find(|s| s.outlet.id == subscriber.outlet.id));
            if let Some(socket) = socket {
                socket.rooms.retain(|&r| r != room);
            }
        }
    }

    /// Cuts off `user_id`'s sockets in `room` (they were removed from it):
    /// room sockets close, user-level sockets stop following it.
    pub(crate) fn disconnect(&self, room: i64, user_id: i64) {
        let mut users = self.users(user_id);
        let closing = |s: &Subscriber| (!s.user_level).then_some(CloseReason::Removed);
        let removed = self.remove_from_room(room, |s| s.user_id == user_id, closing);
        if let Some(sockets) = users.get_mut(&user_id) {
            for socket in sockets
                .iter_mut()
                .filter(|s| removed.iter().any(|(id, _)| *id == s.outlet.id))
            {
                socket.rooms.retain(|&r| r != room);
            }
        }
    }

    /// Users with an open socket in `room`.
    pub fn online(&self, room: i64) -> Vec<UserRef> {
        self.rooms(room)
            .get(&room)
            .map(|c| c.presence.list())
            .unwrap_or_default()
    }

    /// Whether any socket of this node listens to `room`.
    pub fn has_room(&self, room: i64) -> bool {
        self.rooms(room).contains_key(&room)
    }

    /// Every room some socket of this node listens to.
    pub fn rooms_listened(&self) -> Vec<i64> {
        keys_of(&self.inner.rooms)
    }

    /// Every `(room, user)` with a socket of the user listening to the room here.
    pub fn listeners(&self) -> Vec<(i64, i64)> {
        let mut pairs = Vec::new();
        for shard in self.inner.rooms.iter() {
            for (&room, channel) in lock(shard).iter() {
                let mut users: Vec<i64> = channel.subscribers.iter().map(|s| s.user_id).collect();
                users.sort_unstable();
                users.dedup();
                pairs.extend(users.into_iter().map(|user| (room, user)));
            }
        }
        pairs
    }

    /// Whether `user` has a socket open on this node.
    pub fn has_user(&self, user: i64) -> bool {
        self.users(user).contains_key(&user)
    }

    /// Every user with a socket open on this node.
    pub fn connected_users(&self) -> Vec<i64> {
        keys_of(&self.inner.users)
    }

    /// Cuts off `user_id`'s sockets (their session closes without writing
    /// what is still queued): all of them, or with `opened_up_to`, those
    /// opened at or before that unix second (with a token it revoked).
    pub fn revoke(&self, user_id: i64, reason: CloseReason, opened_up_to: Option<i64>) -> usize {
        let users = self.users(user_id);
        let Some(sockets) = users.get(&user_id) else { return 0 };
        let mut closed = 0;
        for socket in sockets {
            if opened_up_to.is_none_or(|t| socket.opened_at <= t) {
                socket.outlet.cut_off(reason);
                closed += 1;
            }
        }
        closed
    }

    pub fn is_online(&self, room: i64, user_id: i64) -> bool {
        self.rooms(room)
            .get(&room)
            .is_some_and(|c| c.presence.contains(user_id))
    }
}

/// Offers `frame` to the wanted subscribers; returns the ids of those whose
/// queue is full. The frame is shared, not copied: each queue gets a pointer.
fn deliver(channel: &RoomChannel, frame: &Frame, wanted: impl Fn(&Subscriber) -> bool) -> Vec<u64> {
    let shared = Arc::new(frame.clone());
    let mut slow = Vec::new();
    let mut delivered = 0;
    for subscriber in channel.subscribers.iter().filter(|s| wanted(s)) {
        match subscriber.outlet.tx.try_send(shared.clone()) {
            Ok(()) => delivered += 1,
            Err(mpsc::error::TrySendError::Full(_)) => slow.push(subscriber.outlet.id),
            // The session is already gone; its Drop will unsubscribe it.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
    // One metric update per publish: a lookup per delivery is measurable at 10^5/s.
    metrics::counter!("ws_frames_out_total", "type" => frame.kind).increment(delivered);
    slow
}

/// Removes matching subscribers (marking why, when the hub is the one cutting
/// them off) and announces `user_left` for users whose last socket this was.
/// Returns the `(socket id, user id)` of each socket removed.
fn remove(
    channel: &mut RoomChannel,
    room: i64,
    matches: impl Fn(&Subscriber) -> bool,
    reason: impl Fn(&Subscriber) -> Option<CloseReason>,
    cluster_presence: Option<&Arc<PresenceChanges>>,
) -> Vec<(u64, i64)> {
    let mut gone = Vec::new();
    channel.subscribers.retain(|s| {
        if !matches(s) {
            return true;
        }
        if let Some(reason) = reason(s) {
            s.outlet.cut_off(reason);
        }
        gone.push((s.outlet.id, s.user_id));
        false
    });
    for &(_, user_id) in &gone {
        let Some(user) = channel.presence.depart(user_id) else {
            continue;
        };
        if let Some(changes) = cluster_presence {
            changes.mark(room);
        } else {
            let frame = Frame::encode(&ServerEvent::UserLeft { user }, Some(room), None);
            // Best effort: a full queue here is cut off by the next publish.
            let _ = deliver(channel, &frame, |_| true);
        }
    }
    gone
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> UserRef {
        UserRef {
            id,
            username: format!("u{id}"),
        }
    }

    fn texts(rx: &mut FrameReceiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            out.push(frame.text.as_str().to_owned());
        }
        out
    }

    fn pong(room: Option<i64>) -> Frame {
        Frame::encode(&ServerEvent::Pong, room, None)
    }

    #[test]
    fn presence_counts_sockets_per_user() {
        let hub = Hub::new(16);
        let mut a1 = hub.subscribe(1, user(1));
        let a2 = hub.subscribe(1, user(1));
        assert!(
            texts(&mut a1.rx).is_empty(),
            "a second socket of the same user is not a join"
        );
        let mut b = hub.subscribe(1, user(2));
        assert_eq!(b.online.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(texts(&mut a1.rx).len(), 1, "user_joined for b");
        drop(a2);
        assert!(texts(&mut b.rx).is_empty(), "user 1 still has a socket");
        drop(a1);
        assert_eq!(
            texts(&mut b.rx),
            [r#"{"type":"user_left","user":{"id":1,"username":"u1"}}"#]
        );
        assert_eq!(hub.online(1).len(), 1);
    }

    #[test]
    fn one_encoding_shared_by_all_and_others_only() {
        let hub = Hub::new(16);
        let mut a = hub.subscribe(7, user(1));
        let mut b = hub.subscribe(7, user(2));
        texts(&mut a.rx);
        hub.publish_to_others(7, &pong(Some(7)), 1);
        assert!(texts(&mut a.rx).is_empty());
        assert_eq!(texts(&mut b.rx), [r#"{"type":"pong"}"#]);
        hub.publish(8, &pong(Some(8))); // nobody there: nothing happens
    }

    #[test]
    fn a_full_queue_cuts_the_socket_off_and_spares_the_others() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe(1, user(1));
        let mut fast = hub.subscribe(1, user(2));
        texts(&mut slow.rx); // drain user_joined of `fast`
        for _ in 0..5 {
            hub.publish(1, &pong(Some(1)));
            texts(&mut fast.rx);
        }
        assert_eq!(slow.close_reason(), Some(CloseReason::SlowConsumer));
        assert_eq!(texts(&mut slow.rx).len(), 2, "what was queued stays readable");
        assert!(slow.rx.try_recv().is_err(), "then nothing more comes");
        assert_eq!(hub.online(1).iter().map(|u| u.id).collect::<Vec<_>>(), [2]);
        drop(slow); // already gone: no second user_left
        assert!(texts(&mut fast.rx).is_empty());
    }

    #[test]
    fn frames_for_a_user_reach_all_their_sockets_once() {
        let hub = Hub::new(8);
        let mut a1 = hub.subscribe(1, user(1));
        let mut a2 = hub.subscribe(2, user(1));
        let mut all = hub.subscribe_user(user(1), &[1, 2]);
        let mut b = hub.subscribe(1, user(2));
        texts(&mut a1.rx);
        texts(&mut all.rx); // user_joined of b
        hub.publish_to_user(1, &pong(None));
        assert_eq!(texts(&mut a1.rx).len(), 1);
        assert_eq!(texts(&mut a2.rx).len(), 1);
        assert_eq!(texts(&mut all.rx).len(), 1, "a user socket in two rooms gets it once");
        assert!(texts(&mut b.rx).is_empty());
        drop((a1, a2, all));
        hub.publish_to_user(1, &pong(None)); // nobody left: no-op
        assert!(hub.users(1).get(&1).is_none());
    }

    #[test]
    fn notices_close_rooms_remove_users_and_follow_rooms() {
        let hub = Hub::new(8);
        let a = hub.subscribe(1, user(1));
        let b = hub.subscribe(1, user(2));
        let mut b_all = hub.subscribe_user(user(2), &[1]);
        hub.apply(&Notice::Disconnect { room: 1, user: 2 });
        assert_eq!(b.close_reason(), Some(CloseReason::Removed));
        assert_eq!(a.close_reason(), None);
        assert_eq!(b_all.close_flag().get(), None, "a user socket is detached, not closed");
        texts(&mut b_all.rx);
        hub.publish(1, &pong(Some(1)));
        assert!(texts(&mut b_all.rx).is_empty(), "and hears the room no more");

        hub.apply(&Notice::Follow { room: 1, user: user(2) });
        hub.apply(&Notice::Follow { room: 1, user: user(2) });
        texts(&mut b_all.rx);
        hub.publish(1, &pong(Some(1)));
        assert_eq!(texts(&mut b_all.rx).len(), 1, "following twice is following once");

        hub.apply(&Notice::CloseRoom { room: 1 });
        assert_eq!(a.close_reason(), Some(CloseReason::RoomClosed));
        assert_eq!(texts(&mut b_all.rx), [r#"{"type":"room_deleted"}"#]);
        assert_eq!(b_all.close_flag().get(), None);
        assert!(hub.online(1).is_empty());
    }

    #[test]
    fn in_a_cluster_presence_changes_are_reported_not_announced() {
        let hub = Hub::new(8);
        let changes = Arc::new(PresenceChanges::default());
        hub.report_presence_to(changes.clone());
        let mut a = hub.subscribe(1, user(1));
        let b = hub.subscribe(1, user(2));
        let _also_b = hub.subscribe(2, user(2));
        assert!(texts(&mut a.rx).is_empty(), "no user_joined from the hub itself");
        assert_eq!(b.online.len(), 2, "the local list still counts this node's sockets");
        let mut marked: Vec<i64> = changes.take().into_iter().collect();
        marked.sort_unstable();
        assert_eq!(marked, [1, 2]);
        drop(b);
        assert!(texts(&mut a.rx).is_empty(), "no user_left either");
        assert_eq!(changes.take().into_iter().collect::<Vec<_>>(), [1]);
        hub.apply(&Notice::CloseRoom { room: 1 });
        assert_eq!(
            changes.take().into_iter().collect::<Vec<_>>(),
            [1],
            "a closed room's presence goes too"
        );
        assert_eq!(hub.listeners(), [(2, 2)]);
        assert!(hub.has_room(2) && !hub.has_room(1));
        assert!(
            hub.has_user(2) && hub.has_user(1),
            "a's socket stays open until its session ends"
        );
    }

    #[test]
    fn events_reach_their_audience() {
        let hub = Hub::new(8);
        let mut a = hub.subscribe(1, user(1));
        let mut b = hub.subscribe(1, user(2));
        texts(&mut a.rx);
        let typing = ServerEvent::Typing {
            user: user(1),
            is_typing: true,
        };
        hub.apply(&Notice::Event {
            audience: Audience::RoomExcept { room: 1, user: 1 },
            seq: None,
            event: typing,
        });
        assert!(texts(&mut a.rx).is_empty());
        assert_eq!(texts(&mut b.rx).len(), 1);
        hub.apply(&Notice::Event {
            audience: Audience::Room(1),
            seq: Some(4),
            event: ServerEvent::MessageDeleted {
                message_id: 9,
                change_seq: 3,
            },
        });
        let frame = a.rx.try_recv().expect("a frame");
        assert_eq!((frame.room, frame.seq), (Some(1), Some(4)));
        assert_eq!(texts(&mut b.rx).len(), 1);
    }
}
