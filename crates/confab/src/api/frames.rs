//! The socket frames in the OpenAPI document. OpenAPI has no words for a
//! WebSocket, so `/ws/chat/` and `/ws/chat/{room_id}/` are not paths there;
//! their frames are component schemas: `ServerEvent` (server to client,
//! the domain's own enum) and `ClientFrame` below (client to server, whose
//! parser is `realtime::client_frame`). docs/api.md describes the sockets.

use serde::Deserialize;
use utoipa::ToSchema;

use crate::chat::types::MessageType;

/// A client -> server frame. On a user socket (`/ws/chat/`) every frame but
/// `ping` also names its `room`; a room socket ignores `room`.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ClientFrame {
    /// Posts a message, with the fields and rules of a REST post.
    ChatMessage {
        room: Option<i64>,
        content: String,
        message_type: Option<MessageType>,
        reply_to: Option<i64>,
        /// Idempotency key: a retry with the same one gets the same message.
        client_id: Option<String>,
        /// Ids of files the sender uploaded to this room (at most 10).
        attachments: Option<Vec<i64>>,
    },
    Typing {
        room: Option<i64>,
        is_typing: bool,
    },
    MarkRead {
        room: Option<i64>,
        message_id: i64,
    },
    Ping,
}
