//! The in-process hub: which sockets listen to which room, who is online,
//! and the fan-out to them.
//!
//! Every socket owns a bounded queue. Publishing encodes nothing (the frame
//! is encoded once by the caller) and never waits: it offers the shared
//! frame to each queue, and a socket whose queue is full is cut off (its
//! session closes with 1013) instead of letting memory grow.
//!
//! Order: within a room, chat messages are appended under the room's row
//! lock in the database *and* under [`Hub::append_lock`] here, held from
//! before the insert until after the publish, so this node publishes a room's
//! messages in commit order. (A Redis backplane between nodes will carry the
//! room's sequence numbers so receivers can detect and fill gaps.)

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use super::event::{Frame, ServerEvent};
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
}

impl CloseReason {
    pub fn code(self) -> u16 {
        match self {
            CloseReason::SlowConsumer => 1013,
            CloseReason::RoomClosed => 4004,
            CloseReason::Removed => 4003,
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            CloseReason::SlowConsumer => "too slow to keep up",
            CloseReason::RoomClosed => "room deleted",
            CloseReason::Removed => "removed from the room",
        }
    }
}

/// Room-append locks are striped: enough stripes that unrelated rooms rarely
/// share one, a fixed number so the table never grows.
const APPEND_LOCK_STRIPES: usize = 256;

/// Cheap to clone: all clones share one hub.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Rooms with at least one socket. A std mutex: held only for non-blocking
    /// work (no `.await` inside), shorter than any async lock round trip.
    rooms: Mutex<Rooms>,
    next_id: AtomicU64,
    /// Capacity of each socket's queue, in frames.
    queue_capacity: usize,
    append_locks: Vec<tokio::sync::Mutex<()>>,
}

/// Sockets by room, and by user for what goes to a person wherever they listen.
#[derive(Default)]
struct Rooms {
    by_room: HashMap<i64, RoomChannel>,
    /// user id -> the rooms where that user has sockets, with their count.
    by_user: HashMap<i64, HashMap<i64, usize>>,
    /// user id -> that user's user-level sockets.
    user_sockets: HashMap<i64, Vec<UserSocket>>,
}

#[derive(Default)]
struct RoomChannel {
    subscribers: Vec<Subscriber>,
    /// Online users with their number of open sockets in this room.
    online: HashMap<i64, (UserRef, usize)>,
}

struct Subscriber {
    /// The socket's id (a user-level socket has the same id in each of its rooms).
    id: u64,
    user_id: i64,
    tx: FrameSender,
    closed: Arc<OnceLock<CloseReason>>,
    /// Part of a user-level socket (`/ws/chat/`): leaving the room detaches
    /// it from the room instead of closing it.
    user_level: bool,
}

/// A user-level socket, reachable by its user wherever they are a member.
struct UserSocket {
    id: u64,
    tx: FrameSender,
    closed: Arc<OnceLock<CloseReason>>,
}

/// One socket's membership in a room's fan-out; unsubscribes when dropped.
pub struct Subscription {
    pub rx: FrameReceiver,
    /// Online users at the moment of subscribing, this one included.
    pub online: Vec<UserRef>,
    closed: Arc<OnceLock<CloseReason>>,
    hub: Hub,
    room: i64,
    id: u64,
}

impl Subscription {
    /// Set when the hub cut this socket off; its queue then ends.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.closed.get().copied()
    }

    /// The flag the hub sets when it cuts this socket off.
    pub fn close_flag(&self) -> Arc<OnceLock<CloseReason>> {
        self.closed.clone()
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.room, self.id);
    }
}

/// A user-level socket's place in the hub; leaves every room when dropped.
pub struct UserSubscription {
    pub rx: FrameReceiver,
    closed: Arc<OnceLock<CloseReason>>,
    hub: Hub,
    user_id: i64,
    id: u64,
}

impl UserSubscription {
    /// The flag the hub sets when it cuts this socket off.
    pub fn close_flag(&self) -> Arc<OnceLock<CloseReason>> {
        self.closed.clone()
    }
}

impl Drop for UserSubscription {
    fn drop(&mut self) {
        self.hub.unsubscribe_user(self.user_id, self.id);
    }
}

impl Hub {
    pub fn new(queue_capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: Mutex::new(Rooms::default()),
                next_id: AtomicU64::new(1),
                queue_capacity: queue_capacity.max(1),
                append_locks: (0..APPEND_LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            }),
        }
    }

    /// Serializes appends to one room on this node, from before the insert
    /// until after the publish.
    pub async fn append_lock(&self, room: i64) -> tokio::sync::MutexGuard<'_, ()> {
        let stripe = room.rem_euclid(APPEND_LOCK_STRIPES as i64) as usize;
        self.inner.append_locks[stripe].lock().await
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, Rooms> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.inner.rooms.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a socket of `user` to `room`. When it is the user's first socket
    /// there, the room's other sockets get `user_joined`.
    pub fn subscribe(&self, room: i64, user: UserRef) -> Subscription {
        let (tx, rx) = mpsc::channel(self.inner.queue_capacity);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(OnceLock::new());
        let subscriber = Subscriber {
            id,
            user_id: user.id,
            tx,
            closed: closed.clone(),
            user_level: false,
        };
        let online = attach(&mut self.rooms(), room, &user, subscriber);
        metrics::gauge!("ws_subscriptions").increment(1.0);
        Subscription {
            rx,
            online,
            closed,
            hub: self.clone(),
            room,
            id,
        }
    }

    /// Adds a user-level socket of `user`, listening to `rooms` and to
    /// whatever rooms the user joins while it is open.
    pub fn subscribe_user(&self, user: UserRef, rooms: &[i64]) -> UserSubscription {
        let (tx, rx) = mpsc::channel(self.inner.queue_capacity);
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let closed = Arc::new(OnceLock::new());
        let mut state = self.rooms();
        state.user_sockets.entry(user.id).or_default().push(UserSocket {
            id,
            tx: tx.clone(),
            closed: closed.clone(),
        });
        for &room in rooms {
            let subscriber = Subscriber {
                id,
                user_id: user.id,
                tx: tx.clone(),
                closed: closed.clone(),
                user_level: true,
            };
            attach(&mut state, room, &user, subscriber);
        }
        drop(state);
        metrics::gauge!("ws_subscriptions").increment(1.0);
        UserSubscription {
            rx,
            closed,
            hub: self.clone(),
            user_id: user.id,
            id,
        }
    }

    /// `user` became a member of `room`: their user-level sockets start
    /// receiving its frames.
    pub fn attach_user_sockets(&self, room: i64, user: &UserRef) {
        let mut state = self.rooms();
        let sockets: Vec<(u64, FrameSender, Arc<OnceLock<CloseReason>>)> = state
            .user_sockets
            .get(&user.id)
            .map(|list| list.iter().map(|s| (s.id, s.tx.clone(), s.closed.clone())).collect())
            .unwrap_or_default();
        for (id, tx, closed) in sockets {
            let present = state
                .by_room
                .get(&room)
                .is_some_and(|c| c.subscribers.iter().any(|s| s.id == id));
            if !present {
                attach(
                    &mut state,
                    room,
                    user,
                    Subscriber {
                        id,
                        user_id: user.id,
                        tx,
                        closed,
                        user_level: true,
                    },
                );
            }
        }
    }

    fn unsubscribe_user(&self, user_id: i64, id: u64) {
        let mut state = self.rooms();
        if let Some(list) = state.user_sockets.get_mut(&user_id) {
            list.retain(|s| s.id != id);
            if list.is_empty() {
                state.user_sockets.remove(&user_id);
            }
        }
        let Rooms { by_room, by_user, .. } = &mut *state;
        by_room.retain(|&room, channel| {
            for user in remove(channel, room, |s| s.id == id, None) {
                forget_socket(by_user, user, room);
            }
            !channel.subscribers.is_empty()
        });
        metrics::gauge!("ws_subscriptions").decrement(1.0);
    }

    fn unsubscribe(&self, room: i64, id: u64) {
        let mut rooms = self.rooms();
        let Rooms { by_room, by_user, .. } = &mut *rooms;
        if let Some(channel) = by_room.get_mut(&room) {
            for user_id in remove(channel, room, |s| s.id == id, None) {
                forget_socket(by_user, user_id, room);
            }
            if channel.subscribers.is_empty() {
                by_room.remove(&room);
            }
        }
        metrics::gauge!("ws_subscriptions").decrement(1.0);
    }

    /// Offers `frame` to every socket in `room`.
    pub fn publish(&self, room: i64, frame: &Frame) {
        self.publish_filtered(room, frame, |_| true);
    }

    /// Offers `frame` to the sockets in `room` of users other than `user_id`.
    pub fn publish_to_others(&self, room: i64, frame: &Frame, user_id: i64) {
        self.publish_filtered(room, frame, |s| s.user_id != user_id);
    }

    /// Offers `frame` to the user-level sockets (`/ws/chat/`) following `room`.
    pub fn publish_to_user_sockets(&self, room: i64, frame: &Frame) {
        self.publish_filtered(room, frame, |s| s.user_level);
    }

    fn publish_filtered(&self, room: i64, frame: &Frame, wanted: impl Fn(&Subscriber) -> bool) {
        let mut rooms = self.rooms();
        let Rooms { by_room, by_user, .. } = &mut *rooms;
        let Some(channel) = by_room.get_mut(&room) else { return };
        let slow = deliver(channel, frame, wanted);
        for id in slow {
            for user_id in remove(channel, room, |s| s.id == id, Some(CloseReason::SlowConsumer)) {
                forget_socket(by_user, user_id, room);
            }
        }
    }

    /// Offers `frame` to every socket of `user_id`, in whichever room.
    pub fn publish_to_user(&self, user_id: i64, frame: &Frame) {
        let rooms: Vec<i64> = self
            .rooms()
            .by_user
            .get(&user_id)
            .map(|r| r.keys().copied().collect())
            .unwrap_or_default();
        for room in rooms {
            self.publish_filtered(room, frame, |s| s.user_id == user_id && !s.user_level);
        }
        // Each user-level socket once, however many rooms it listens to.
        if let Some(sockets) = self.rooms().user_sockets.get(&user_id) {
            let shared = Arc::new(frame.clone());
            for socket in sockets {
                if let Err(mpsc::error::TrySendError::Full(_)) = socket.tx.try_send(shared.clone()) {
                    let _ = socket.closed.set(CloseReason::SlowConsumer);
                    metrics::counter!("ws_slow_consumer_closes_total").increment(1);
                }
            }
        }
    }

    /// Cuts off every socket of `room` (the room was deleted).
    pub fn close_room(&self, room: i64) {
        let mut rooms = self.rooms();
        let Rooms { by_room, by_user, .. } = &mut *rooms;
        if let Some(mut channel) = by_room.remove(&room) {
            for subscriber in channel.subscribers.drain(..) {
                if !subscriber.user_level {
                    let _ = subscriber.closed.set(CloseReason::RoomClosed);
                }
                forget_socket(by_user, subscriber.user_id, room);
            }
        }
    }

    /// Cuts off `user_id`'s sockets in `room` (they were removed from it).
    pub fn disconnect(&self, room: i64, user_id: i64) {
        let mut rooms = self.rooms();
        let Rooms { by_room, by_user, .. } = &mut *rooms;
        if let Some(channel) = by_room.get_mut(&room) {
            let closing = |s: &Subscriber| s.user_id == user_id && !s.user_level;
            let detaching = |s: &Subscriber| s.user_id == user_id && s.user_level;
            let room_sockets = remove(channel, room, closing, Some(CloseReason::Removed));
            let user_sockets = remove(channel, room, detaching, None);
            for gone in room_sockets.into_iter().chain(user_sockets) {
                forget_socket(by_user, gone, room);
            }
        }
    }

    /// Users with an open socket in `room`.
    pub fn online(&self, room: i64) -> Vec<UserRef> {
        self.rooms().by_room.get(&room).map(online_list).unwrap_or_default()
    }

    pub fn is_online(&self, room: i64, user_id: i64) -> bool {
        self.rooms()
            .by_room
            .get(&room)
            .is_some_and(|c| c.online.contains_key(&user_id))
    }
}

/// Offers `frame` to the wanted subscribers; returns those whose queue is full.
/// The frame is shared, not copied: each queue gets a pointer to it.
fn deliver(channel: &RoomChannel, frame: &Frame, wanted: impl Fn(&Subscriber) -> bool) -> Vec<u64> {
    let shared = Arc::new(frame.clone());
    let mut slow = Vec::new();
    let mut delivered = 0;
    for subscriber in channel.subscribers.iter().filter(|s| wanted(s)) {
        match subscriber.tx.try_send(shared.clone()) {
            Ok(()) => delivered += 1,
            Err(mpsc::error::TrySendError::Full(_)) => slow.push(subscriber.id),
            // The session is already gone; its Drop will unsubscribe it.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
    // One metric update per publish: a lookup per delivery is measurable at 10^5/s.
    metrics::counter!("ws_frames_out_total", "type" => frame.kind).increment(delivered);
    slow
}

/// Adds a subscriber to a room, counting its user online there (and telling
/// the room when it is that user's first socket). Returns who is online.
fn attach(state: &mut Rooms, room: i64, user: &UserRef, subscriber: Subscriber) -> Vec<UserRef> {
    *state.by_user.entry(user.id).or_default().entry(room).or_default() += 1;
    let channel = state.by_room.entry(room).or_default();
    let entry = channel.online.entry(user.id).or_insert_with(|| (user.clone(), 0));
    entry.1 += 1;
    if entry.1 == 1 {
        let frame = ServerEvent::UserJoined { user: user.clone() }.encode(Some(room));
        deliver(channel, &frame, |_| true);
    }
    channel.subscribers.push(subscriber);
    online_list(channel)
}

fn forget_socket(by_user: &mut HashMap<i64, HashMap<i64, usize>>, user_id: i64, room: i64) {
    if let Some(rooms) = by_user.get_mut(&user_id) {
        if let Some(count) = rooms.get_mut(&room) {
            *count -= 1;
            if *count == 0 {
                rooms.remove(&room);
            }
        }
        if rooms.is_empty() {
            by_user.remove(&user_id);
        }
    }
}

/// Removes matching subscribers (marking why, when the hub is the one cutting
/// them off) and announces `user_left` for users whose last socket this was.
/// Returns the user id of each socket removed.
fn remove(
    channel: &mut RoomChannel,
    room: i64,
    matches: impl Fn(&Subscriber) -> bool,
    reason: Option<CloseReason>,
) -> Vec<i64> {
    let mut gone = Vec::new();
    channel.subscribers.retain(|s| {
        if matches(s) {
            if let Some(reason) = reason {
                let _ = s.closed.set(reason);
                if reason == CloseReason::SlowConsumer {
                    metrics::counter!("ws_slow_consumer_closes_total").increment(1);
                }
            }
            gone.push(s.user_id);
            false
        } else {
            true
        }
    });
    for &user_id in &gone {
        let Some(entry) = channel.online.get_mut(&user_id) else {
            continue;
        };
        entry.1 -= 1;
        if entry.1 == 0 {
            let (user, _) = channel.online.remove(&user_id).expect("entry exists");
            let frame = ServerEvent::UserLeft { user }.encode(Some(room));
            // Best effort: a full queue here is cut off by the next publish.
            let _ = deliver(channel, &frame, |_| true);
        }
    }
    gone
}

fn online_list(channel: &RoomChannel) -> Vec<UserRef> {
    let mut users: Vec<UserRef> = channel.online.values().map(|(u, _)| u.clone()).collect();
    users.sort_by_key(|u| u.id);
    users
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

    fn texts(sub: &mut Subscription) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(frame) = sub.rx.try_recv() {
            out.push(frame.text.as_str().to_owned());
        }
        out
    }

    #[test]
    fn presence_counts_sockets_per_user() {
        let hub = Hub::new(16);
        let mut a1 = hub.subscribe(1, user(1));
        let a2 = hub.subscribe(1, user(1));
        assert!(
            texts(&mut a1).is_empty(),
            "a second socket of the same user is not a join"
        );
        let mut b = hub.subscribe(1, user(2));
        assert_eq!(b.online.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(texts(&mut a1).len(), 1, "user_joined for b");
        drop(a2);
        assert!(texts(&mut b).is_empty(), "user 1 still has a socket");
        drop(a1);
        assert_eq!(
            texts(&mut b),
            [r#"{"type":"user_left","user":{"id":1,"username":"u1"}}"#]
        );
        assert_eq!(hub.online(1).len(), 1);
    }

    #[test]
    fn one_encoding_shared_by_all_and_others_only() {
        let hub = Hub::new(16);
        let mut a = hub.subscribe(7, user(1));
        let mut b = hub.subscribe(7, user(2));
        texts(&mut a);
        let frame = ServerEvent::Pong.encode(Some(7));
        hub.publish_to_others(7, &frame, 1);
        assert!(texts(&mut a).is_empty());
        assert_eq!(texts(&mut b), [r#"{"type":"pong"}"#]);
        hub.publish(8, &frame); // nobody there: nothing happens
    }

    #[test]
    fn a_full_queue_cuts_the_socket_off_and_spares_the_others() {
        let hub = Hub::new(2);
        let mut slow = hub.subscribe(1, user(1));
        let mut fast = hub.subscribe(1, user(2));
        texts(&mut slow); // drain user_joined of `fast`
        for _ in 0..5 {
            hub.publish(1, &ServerEvent::Pong.encode(Some(1)));
            texts(&mut fast);
        }
        assert_eq!(slow.close_reason(), Some(CloseReason::SlowConsumer));
        assert_eq!(texts(&mut slow).len(), 2, "what was queued stays readable");
        assert!(slow.rx.try_recv().is_err(), "then the queue ends");
        assert_eq!(hub.online(1).iter().map(|u| u.id).collect::<Vec<_>>(), [2]);
        drop(slow); // already gone: no second user_left
        assert!(texts(&mut fast).is_empty());
    }

    #[test]
    fn frames_for_a_user_reach_all_their_sockets_only() {
        let hub = Hub::new(8);
        let mut a1 = hub.subscribe(1, user(1));
        let mut a2 = hub.subscribe(2, user(1));
        let mut b = hub.subscribe(1, user(2));
        texts(&mut a1);
        hub.publish_to_user(1, &ServerEvent::Pong.encode(None));
        assert_eq!(texts(&mut a1).len(), 1);
        assert_eq!(texts(&mut a2).len(), 1);
        assert!(texts(&mut b).is_empty());
        drop(a1);
        drop(a2);
        hub.publish_to_user(1, &ServerEvent::Pong.encode(None)); // nobody left: no-op
        assert!(!hub.rooms().by_user.contains_key(&1));
    }

    #[test]
    fn closing_a_room_or_removing_a_user() {
        let hub = Hub::new(4);
        let a = hub.subscribe(1, user(1));
        let b = hub.subscribe(1, user(2));
        hub.disconnect(1, 2);
        assert_eq!(b.close_reason(), Some(CloseReason::Removed));
        assert_eq!(a.close_reason(), None);
        hub.close_room(1);
        assert_eq!(a.close_reason(), Some(CloseReason::RoomClosed));
        assert!(hub.online(1).is_empty());
    }
}
