//! A [`ServerEvent`] encoded once per fan-out into a [`Frame`] whose bytes
//! every recipient shares.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;

use crate::chat::events::{ServerEvent, KINDS};

/// An encoded event and what the fan-out needs to know about it.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The room it belongs to, if any.
    pub room: Option<i64>,
    /// For `chat_message` frames: the message id, so a resuming socket can
    /// drop what its replay already sent.
    pub message_id: Option<i64>,
    /// For frames published after a commit: the room's change number as of
    /// that commit (a history change's own number). Not on the wire; it is
    /// what a node receiving events from others (the Redis backplane) checks
    /// to detect a gap and fill it from the store.
    pub seq: Option<i64>,
    /// For frames that change a room's history: the room's change number, so
    /// a socket resuming with `?since=` can drop what its replay already sent.
    pub change_seq: Option<i64>,
    /// The `type` of the frame, for metrics.
    pub kind: &'static str,
    /// When it was encoded, right after the commit it reports: the start of
    /// the fan-out latency measured when a socket writes it.
    pub encoded_at: Instant,
    /// The frame as a room socket sends it.
    pub text: Utf8Bytes,
    /// The frame as a user socket sends it (with `"room"`), made on first
    /// use and then shared by every user socket the frame goes to.
    tagged: OnceLock<Utf8Bytes>,
}

impl Frame {
    /// Encodes `event` once; the frame is then shared by reference count.
    /// `seq` is the room's change number the event was committed at.
    pub fn encode(event: &ServerEvent, room: Option<i64>, seq: Option<i64>) -> Frame {
        let text = serde_json::to_string(event).expect("events always serialize");
        let message_id = match event {
            ServerEvent::ChatMessage { message, .. } => Some(message.id),
            _ => None,
        };
        Frame {
            room,
            message_id,
            seq,
            change_seq: event.change_seq(),
            kind: event.kind(),
            encoded_at: Instant::now(),
            text: Utf8Bytes::from(text),
            tagged: OnceLock::new(),
        }
    }

    /// A frame another node encoded (see [`crate::realtime::cluster`]): its
    /// text is used as it came; `kind` is one of [`KINDS`] (else `other`).
    pub fn from_wire(
        room: Option<i64>,
        seq: Option<i64>,
        (message_id, change_seq): (Option<i64>, Option<i64>),
        kind: &str,
        text: String,
    ) -> Frame {
        Frame {
            room,
            message_id,
            seq,
            change_seq,
            kind: KINDS.iter().copied().find(|k| *k == kind).unwrap_or("other"),
            encoded_at: Instant::now(),
            text: Utf8Bytes::from(text),
            tagged: OnceLock::new(),
        }
    }

    /// The text for a user socket (`/ws/chat/`): a room's frames carry `"room"`.
    pub fn tagged_text(&self) -> Utf8Bytes {
        let Some(room) = self.room else {
            return self.text.clone();
        };
        self.tagged
            .get_or_init(|| {
                let rest = self.text.as_str().strip_prefix('{').unwrap_or_default();
                Utf8Bytes::from(format!("{{\"room\":{room},{rest}"))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::types::UserRef;

    fn encode(event: ServerEvent, room: Option<i64>) -> Frame {
        Frame::encode(&event, room, None)
    }

    #[test]
    fn frames_follow_the_contract() {
        let user = UserRef {
            id: 1,
            username: "alice".into(),
        };
        let frame = encode(ServerEvent::Typing { user, is_typing: true }, Some(3));
        assert_eq!(
            frame.text.as_str(),
            r#"{"type":"typing","user":{"id":1,"username":"alice"},"is_typing":true}"#
        );
        assert_eq!(encode(ServerEvent::Pong, None).text.as_str(), r#"{"type":"pong"}"#);
        assert_eq!(
            encode(ServerEvent::ResyncRequired, None).text.as_str(),
            r#"{"type":"resync_required"}"#
        );
        let error = encode(
            ServerEvent::Error {
                code: "invalid_json",
                detail: "bad".into(),
            },
            None,
        );
        assert_eq!(
            error.text.as_str(),
            r#"{"type":"error","code":"invalid_json","detail":"bad"}"#
        );

        let tagged = encode(ServerEvent::Pong, Some(4));
        assert_eq!(tagged.tagged_text().as_str(), r#"{"room":4,"type":"pong"}"#);
        assert_eq!(tagged.text.as_str(), r#"{"type":"pong"}"#);

        let relayed = Frame::from_wire(Some(4), Some(9), (None, None), "pong", tagged.text.to_string());
        assert_eq!((relayed.kind, relayed.tagged_text()), ("pong", tagged.tagged_text()));
        assert_eq!(
            Frame::from_wire(None, None, (None, None), "made-up", "{}".into()).kind,
            "other"
        );
    }
}
