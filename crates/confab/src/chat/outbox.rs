//! The outbox: what a use case caused, handed over after its commit.
//!
//! A use case collects [`Notice`]s while its transaction runs and gives the
//! [`Outbox`] to a [`Publisher`] once the transaction has committed, so
//! nothing is announced that did not happen. Audiences and control operations
//! (close a room, disconnect a user) are plain data: the real-time layer may
//! carry them to other nodes before any socket sees them, and tests can read
//! them without sockets.

use serde::{Deserialize, Serialize};

use super::events::ServerEvent;
use super::types::UserRef;

/// Who receives an event. Plain data (serializable), so other nodes can be told.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every socket following the room, room sockets and user sockets alike.
    Room(i64),
    /// Every socket following the room except those of `user` (typing).
    RoomExcept { room: i64, user: i64 },
    /// Every socket of one user, wherever it listens (notifications).
    User(i64),
}

impl Audience {
    /// The room the event belongs to, if it belongs to one.
    pub fn room(self) -> Option<i64> {
        match self {
            Audience::Room(room) | Audience::RoomExcept { room, .. } => Some(room),
            Audience::User(_) => None,
        }
    }
}

/// One thing to tell the sockets, in the order it was caused.
#[derive(Clone, Debug)]
pub enum Notice {
    /// Deliver `event` to `audience`. `seq` is the room's change number
    /// (`rooms.change_seq`) as of the commit that caused it; for a change of
    /// the room's history (a post, delete, edit or reaction) its own number.
    /// A receiver that has not yet seen every change up to `seq` knows it
    /// missed some. `None` for events that are not committed (typing), not
    /// about a room, or not ordered with its history (membership).
    Event {
        audience: Audience,
        seq: Option<i64>,
        event: ServerEvent,
    },
    /// `user` became a member: their user sockets start following `room`.
    Follow { room: i64, user: UserRef },
    /// `user` is no longer a member: their room sockets close (4003) and
    /// their user sockets stop following `room`.
    Disconnect { room: i64, user: i64 },
    /// The room was deleted: its room sockets close (4004), and user sockets
    /// get `room_deleted` and stop following it.
    CloseRoom { room: i64 },
}

/// The notices one use case caused, in order.
#[derive(Debug, Default)]
pub struct Outbox {
    notices: Vec<Notice>,
}

impl Outbox {
    pub fn new() -> Self {
        Self::default()
    }

    /// `event` for every socket of `room`, committed at the room's `seq`.
    pub fn to_room(&mut self, room: i64, seq: Option<i64>, event: ServerEvent) {
        self.push(Notice::Event {
            audience: Audience::Room(room),
            seq,
            event,
        });
    }

    /// `event` for every socket of `room` but those of `user`.
    pub fn to_others(&mut self, room: i64, user: i64, event: ServerEvent) {
        self.push(Notice::Event {
            audience: Audience::RoomExcept { room, user },
            seq: None,
            event,
        });
    }

    /// `event` for every socket of `user`.
    pub fn to_user(&mut self, user: i64, event: ServerEvent) {
        self.push(Notice::Event {
            audience: Audience::User(user),
            seq: None,
            event,
        });
    }

    pub fn push(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    /// Appends everything `other` holds, after what this one holds.
    pub fn append(&mut self, other: Outbox) {
        self.notices.extend(other.notices);
    }

    pub fn is_empty(&self) -> bool {
        self.notices.is_empty()
    }

    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    pub fn into_notices(self) -> Vec<Notice> {
        self.notices
    }
}

/// Where use cases hand their outbox after commit. The real-time layer
/// implements it; the domain never sees sockets or nodes.
pub trait Publisher: Send + Sync {
    fn publish(&self, outbox: Outbox);

    /// Publishes `outbox`, then runs `then` once it is on its way to this
    /// node's sockets behind everything published before about `room` (so
    /// an answer to a client comes after the echoes it follows).
    fn publish_then(&self, room: i64, outbox: Outbox, then: Box<dyn FnOnce() + Send>) {
        let _ = room;
        self.publish(outbox);
        then();
    }
}

/// Keeps what was published, for tests of the domain without sockets.
#[derive(Debug, Default)]
pub struct Recorder {
    published: std::sync::Mutex<Vec<Notice>>,
}

impl Recorder {
    /// Everything published so far, in order; empties the record.
    pub fn take(&self) -> Vec<Notice> {
        std::mem::take(&mut *self.published.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Publisher for Recorder {
    fn publish(&self, outbox: Outbox) {
        self.published
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(outbox.into_notices());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserRef {
        UserRef {
            id: 1,
            username: "alice".into(),
        }
    }

    #[test]
    fn notices_keep_their_order_and_audience() {
        let mut outbox = Outbox::new();
        outbox.push(Notice::Follow { room: 3, user: alice() });
        outbox.to_room(3, Some(7), ServerEvent::MemberAdded { user: alice() });
        outbox.to_others(
            3,
            1,
            ServerEvent::Typing {
                user: alice(),
                is_typing: true,
            },
        );
        let mut later = Outbox::new();
        later.to_user(2, ServerEvent::Pong);
        later.push(Notice::CloseRoom { room: 3 });
        outbox.append(later);

        let recorder = Recorder::default();
        recorder.publish(outbox);
        let published = recorder.take();
        let kinds: Vec<String> = published
            .iter()
            .map(|n| match n {
                Notice::Event { audience, seq, event } => format!("{}:{audience:?}:{seq:?}", event.kind()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                r#"Follow { room: 3, user: UserRef { id: 1, username: "alice" } }"#,
                "member_added:Room(3):Some(7)",
                "typing:RoomExcept { room: 3, user: 1 }:None",
                "pong:User(2):None",
                "CloseRoom { room: 3 }",
            ]
        );
        assert!(recorder.take().is_empty(), "taking empties the record");
        assert_eq!(Audience::User(2).room(), None);
        assert_eq!(Audience::RoomExcept { room: 3, user: 1 }.room(), Some(3));
    }
}
