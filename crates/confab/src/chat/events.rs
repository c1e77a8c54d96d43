//! Everything the server tells a client in real time: the one
//! [`ServerEvent`] enum. Use cases put these in their [`super::outbox`];
//! the real-time layer encodes each once per fan-out.

use serde::Serialize;
use utoipa::ToSchema;

use super::types::{Message, Notification, Room, UserRef};

/// A server -> client frame of the wire contract. On a user socket every
/// frame about a room also carries `"room": <id>`.
#[derive(Clone, Debug, Serialize, ToSchema)]
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
        change_seq: i64,
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
        change_seq: i64,
    },
    MessageEdited {
        message: Box<Message>,
        change_seq: i64,
    },
    ReactionAdded {
        message_id: i64,
        emoji: String,
        user: UserRef,
        change_seq: i64,
    },
    ReactionRemoved {
        message_id: i64,
        emoji: String,
        user: UserRef,
        change_seq: i64,
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
    "message_edited",
    "reaction_added",
    "reaction_removed",
    "notification",
    "error",
    "pong",
    "resync_required",
    "room_deleted",
];

impl ServerEvent {
    /// The room change number of a frame that changes a room's history.
    pub fn change_seq(&self) -> Option<i64> {
        match self {
            ServerEvent::ChatMessage { change_seq, .. }
            | ServerEvent::MessageDeleted { change_seq, .. }
            | ServerEvent::MessageEdited { change_seq, .. }
            | ServerEvent::ReactionAdded { change_seq, .. }
            | ServerEvent::ReactionRemoved { change_seq, .. } => Some(*change_seq),
            _ => None,
        }
    }

    /// A new message's frame, numbered as it was posted.
    pub fn chat_message(message: Message) -> ServerEvent {
        ServerEvent::ChatMessage {
            change_seq: message.change_seq,
            message: Box::new(message),
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
            ServerEvent::MessageEdited { .. } => "message_edited",
            ServerEvent::ReactionAdded { .. } => "reaction_added",
            ServerEvent::ReactionRemoved { .. } => "reaction_removed",
            ServerEvent::Notification { .. } => "notification",
            ServerEvent::Error { .. } => "error",
            ServerEvent::Pong => "pong",
            ServerEvent::ResyncRequired => "resync_required",
            ServerEvent::RoomDeleted => "room_deleted",
        }
    }
}
