//! What travels between nodes: a [`Notice`] in a JSON envelope naming the
//! node it comes from. An event travels as the frame text its node encoded,
//! so a receiver delivers it without decoding or re-encoding the event.

use serde::{Deserialize, Serialize};

use crate::chat::outbox::{Audience, Notice};
use crate::chat::types::UserRef;
use crate::realtime::frame::Frame;

/// A notice ready for this node's hub: events are encoded frames.
#[derive(Debug)]
pub enum Delivery {
    Event {
        audience: Audience,
        seq: Option<i64>,
        frame: Frame,
    },
    Follow {
        room: i64,
        user: UserRef,
    },
    Disconnect {
        room: i64,
        user: i64,
    },
    CloseRoom {
        room: i64,
    },
}

impl Delivery {
    /// Encodes an event once; control notices pass through.
    pub fn from_notice(notice: Notice) -> Self {
        match notice {
            Notice::Event { audience, seq, event } => Delivery::Event {
                frame: Frame::encode(&event, audience.room(), seq),
                audience,
                seq,
            },
            Notice::Follow { room, user } => Delivery::Follow { room, user },
            Notice::Disconnect { room, user } => Delivery::Disconnect { room, user },
            Notice::CloseRoom { room } => Delivery::CloseRoom { room },
        }
    }

    /// What orders this notice: its room, or for events addressed to one
    /// user, that user. Notices with the same key are applied in order.
    pub fn key(&self) -> i64 {
        match self {
            Delivery::Event { audience, .. } => match *audience {
                Audience::Room(room) | Audience::RoomExcept { room, .. } => room,
                Audience::User(user) => user,
            },
            // A user starts following a room in the room's order, so the
            // room's next message finds their sockets attached.
            Delivery::Follow { room, .. } | Delivery::Disconnect { room, .. } | Delivery::CloseRoom { room } => *room,
        }
    }
}

/// The JSON published on a partition's channel.
#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing node, which ignores its own notices (it delivered them already).
    pub node: String,
    /// Unix microseconds at publication, for the lag metric.
    pub at: i64,
    pub body: Body,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Body {
    Event {
        audience: Audience,
        /// The room's change number as of the commit. Named apart from the
        /// message number that nodes before change numbers sent as `seq`, so
        /// neither side mistakes the other's for its own.
        #[serde(rename = "at_change", default)]
        seq: Option<i64>,
        kind: String,
        message_id: Option<i64>,
        /// Absent from nodes that predate change numbers.
        #[serde(default)]
        change_seq: Option<i64>,
        text: String,
    },
    Follow {
        room: i64,
        user: UserRef,
    },
    Disconnect {
        room: i64,
        user: i64,
    },
    CloseRoom {
        room: i64,
    },
}

impl Envelope {
    pub fn encode(node: &str, delivery: &Delivery) -> String {
        let body = match delivery {
            Delivery::Event { audience, seq, frame } => Body::Event {
                audience: *audience,
                seq: *seq,
                kind: frame.kind.to_owned(),
                message_id: frame.message_id,
                change_seq: frame.change_seq,
                text: frame.text.as_str().to_owned(),
            },
            Delivery::Follow { room, user } => Body::Follow {
                room: *room,
                user: user.clone(),
            },
            Delivery::Disconnect { room, user } => Body::Disconnect {
                room: *room,
                user: *user,
            },
            Delivery::CloseRoom { room } => Body::CloseRoom { room: *room },
        };
        let envelope = Envelope {
            node: node.to_owned(),
            at: chrono::Utc::now().timestamp_micros(),
            body,
        };
        serde_json::to_string(&envelope).expect("envelopes always serialize")
    }

    pub fn into_delivery(self) -> Delivery {
        match self.body {
            Body::Event {
                audience,
                seq,
                kind,
                message_id,
                change_seq,
                text,
            } => Delivery::Event {
                frame: Frame::from_wire(audience.room(), seq, (message_id, change_seq), &kind, text),
                audience,
                seq,
            },
            Body::Follow { room, user } => Delivery::Follow { room, user },
            Body::Disconnect { room, user } => Delivery::Disconnect { room, user },
            Body::CloseRoom { room } => Delivery::CloseRoom { room },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::events::ServerEvent;

    #[test]
    fn a_notice_crosses_unchanged() {
        let alice = UserRef {
            id: 1,
            username: "alice".into(),
        };
        let notices = [
            Notice::Event {
                audience: Audience::RoomExcept { room: 3, user: 1 },
                seq: Some(7),
                event: ServerEvent::Typing {
                    user: alice.clone(),
                    is_typing: true,
                },
            },
            Notice::Event {
                audience: Audience::User(1),
                seq: None,
                event: ServerEvent::Pong,
            },
            Notice::Follow { room: 3, user: alice },
            Notice::Disconnect { room: 3, user: 1 },
            Notice::CloseRoom { room: 3 },
        ];
        for notice in notices {
            let sent = Delivery::from_notice(notice);
            let text = Envelope::encode("n1", &sent);
            let envelope: Envelope = serde_json::from_str(&text).unwrap();
            assert_eq!(envelope.node, "n1");
            let received = envelope.into_delivery();
            assert_eq!(received.key(), sent.key());
            match (sent, received) {
                (
                    Delivery::Event { audience, seq, frame },
                    Delivery::Event {
                        audience: a2,
                        seq: s2,
                        frame: f2,
                    },
                ) => {
                    assert_eq!((audience, seq, frame.kind, frame.text), (a2, s2, f2.kind, f2.text));
                    assert_eq!(frame.room, f2.room);
                }
                (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            }
        }
        assert_eq!(
            Delivery::from_notice(Notice::Event {
                audience: Audience::User(42),
                seq: None,
                event: ServerEvent::Pong
            })
            .key(),
            42,
            "a user's events are ordered by the user"
        );
    }
}
