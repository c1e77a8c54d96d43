//! Everything the server sends on a socket: one [`ServerEvent`] enum,
//! encoded once per fan-out into a [`Frame`] whose bytes every recipient
//! shares.

use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use serde::Serialize;

use crate::chat::types::{Message, Notification, Room, UserRef};

/// A server -> client frame of the wire contract.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    ConnectionEstablished {
        room: Box<Room>,
        user: UserRef,
        online: Vec<UserRef>,
    },
    /// The user socket's greeting: the rooms it listens to.
    #[serde(rename = "connection_established")]
    UserConnectionEstablished {
        user: UserRef,
        rooms: Vec<i64>,
    },
    /// In socket frames a new message is as nobody but its sender has seen it:
    /// `is_read` false and `read_count` 0 (clients treat their own as read).
    ChatMessage {
        message: Box<Message>,
    },
    Typing {
        user: UserRef,
        is_typing: bool,
    },
    UserJoined {
        user: UserRef,
    },
    UserLeft {
        user: UserRef,
    },
    MemberAdded {
        user: UserRef,
    },
    MemberRemoved {
        user: UserRef,
    },
    MessageRead {
        message_id: i64,
        user: UserRef,
    },
    MessageDeleted {
        message_id: i64,
    },
    Notification {
        notification: Notification,
    },
    Error {
        code: &'static str,
        detail: String,
    },
    Pong,
    ResyncRequired,
    /// User sockets only (room sockets close with 4004 instead): the room was
    /// deleted and its frames stop.
    RoomDeleted,
}

impl ServerEvent {
    /// Encodes the event once; the frame is then cloned by reference count.
    pub fn encode(&self, room: Option<i64>) -> Frame {
        let text = serde_json::to_string(self).expect("events always serialize");
        let message_id = match self {
            ServerEvent::ChatMessage { message } => Some(message.id),
            _ => None,
        };
        Frame {
            room,
            message_id,
            seq: None,
            kind: self.kind(),
            encoded_at: Instant::now(),
            text: Utf8Bytes::from(text),
        }
    }

    /// The frame's `type`, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerEvent::ConnectionEstablished { .. } | ServerEvent::UserConnectionEstablished { .. } => {
                "connection_established"
            }
            ServerEvent::ChatMessage { .. } => "chat_message",
            ServerEvent::Typing { .. } => "typing",
            ServerEvent::UserJoined { .. } => "user_joined",
            ServerEvent::UserLeft { .. } => "user_left",
            ServerEvent::MemberAdded { .. } => "member_added",
            ServerEvent::MemberRemoved { .. } => "member_removed",
            ServerEvent::MessageRead { .. } => "message_read",
            ServerEvent::MessageDeleted { .. } => "message_deleted",
            ServerEvent::Notification { .. } => "notification",
            ServerEvent::Error { .. } => "error",
            ServerEvent::Pong => "pong",
            ServerEvent::ResyncRequired => "resync_required",
            ServerEvent::RoomDeleted => "room_deleted",
        }
    }
}

/// An encoded event and what the fan-out needs to know about it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The room it belongs to, if any.
    pub room: Option<i64>,
    /// For `chat_message` frames: the message id, so a resuming socket can
    /// drop what its replay already sent.
    pub message_id: Option<i64>,
    /// For `chat_message` frames published after a commit: the message's
    /// position in its room (1, 2, 3...). Not on the wire; it is what a node
    /// receiving events from others (the Redis backplane) checks to detect a
    /// gap and fill it from the store.
    pub seq: Option<i64>,
    /// The `type` of the frame, for metrics.
    pub kind: &'static str,
    /// When it was encoded, right after the commit it reports: the start of
    /// the fan-out latency measured when a socket writes it.
    pub encoded_at: Instant,
    pub text: Utf8Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_follow_the_contract() {
        let user = UserRef {
            id: 1,
            username: "alice".into(),
        };
        let frame = ServerEvent::Typing { user, is_typing: true }.encode(Some(3));
        assert_eq!(
            frame.text.as_str(),
            r#"{"type":"typing","user":{"id":1,"username":"alice"},"is_typing":true}"#
        );
        assert_eq!(ServerEvent::Pong.encode(None).text.as_str(), r#"{"type":"pong"}"#);
        assert_eq!(
            ServerEvent::ResyncRequired.encode(None).text.as_str(),
            r#"{"type":"resync_required"}"#
        );
        let error = ServerEvent::Error {
            code: "invalid_json",
            detail: "bad".into(),
        }
        .encode(None);
        assert_eq!(
            error.text.as_str(),
            r#"{"type":"error","code":"invalid_json","detail":"bad"}"#
        );
    }
}
