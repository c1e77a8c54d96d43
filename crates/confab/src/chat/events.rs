//! Everything the server tells a client in real time: the one
//! [`ServerEvent`] enum. Use cases put these in their [`super::outbox`];
//! the real-time layer encodes each once per fan-out.

use serde::Serialize;

use super::types::{Message, Notification, Room, UserRef};

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

/// Every `type` a [`ServerEvent`] may have: what [`ServerEvent::kind`] returns.
pub const KINDS: &[&str] = &[
    "connection_established",
    "chat_message",
    "typing",
    "user_joined",
    "user_left",
    "member_added",
    "member_removed",
    "message_read",
    "message_deleted",
    "notification",
    "error",
    "pong",
    "resync_required",
    "room_deleted",
];

impl ServerEvent {
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
