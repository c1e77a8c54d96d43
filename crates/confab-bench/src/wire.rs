//! The few frame fields the bench reads, parsed borrowed and typed.
//!
//! The receive path runs once per delivery (hundreds of thousands per
//! second in a big room), so a frame is never built into a `serde_json::Value`:
//! serde skips every field not named here without allocating.

use std::borrow::Cow;

use serde::Deserialize;

/// A server -> client frame, reduced to what the bench checks.
#[derive(Debug, Deserialize)]
pub struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    /// `chat_message` frames.
    #[serde(default, borrow)]
    pub message: Option<MessageRef<'a>>,
    /// `error` frames, e.g. `rate_limited`.
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
}

/// A message object, reduced to identity and the bench's payload.
#[derive(Debug, Deserialize)]
pub struct MessageRef<'a> {
    pub id: i64,
    pub room: i64,
    #[serde(default, borrow)]
    pub client_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub content: Cow<'a, str>,
}

/// The bench's message content: the intended send time in nanoseconds since
/// the bench's epoch, so a receiver computes latency without any shared map.
/// `size` pads it with `x` to a given length.
pub fn encode_content(intended_ns: u64, size: usize) -> String {
    let mut content = format!("t{intended_ns}");
    if content.len() < size {
        content.extend(std::iter::repeat_n('x', size - content.len()));
    }
    content
}

/// The intended send time carried by [`encode_content`], if this is one.
pub fn decode_content(content: &str) -> Option<u64> {
    let digits = content.strip_prefix('t')?;
    let end = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_round_trip() {
        assert_eq!(decode_content(&encode_content(123_456, 0)), Some(123_456));
        let padded = encode_content(42, 64);
        assert_eq!(padded.len(), 64);
        assert_eq!(decode_content(&padded), Some(42));
        assert_eq!(decode_content("hello"), None);
    }

    #[test]
    fn parses_a_chat_message_frame_and_skips_the_rest() {
        let text = r#"{"type":"chat_message","message":{"id":7,"room":1,"sender":{"id":1,"username":"a"},
            "content":"t99","message_type":"text","reply_to":null,"reply_preview":null,"is_deleted":false,
            "created_at":"2024-01-01T00:00:00Z","client_id":"b1-0-3","is_read":false,"read_count":0}}"#;
        let frame: Frame = serde_json::from_str(text).unwrap();
        assert_eq!(frame.kind, "chat_message");
        let message = frame.message.unwrap();
        assert_eq!((message.id, message.room), (7, 1));
        assert_eq!(message.client_id.as_deref(), Some("b1-0-3"));
        assert!(matches!(message.content, Cow::Borrowed(_)));

        let error: Frame = serde_json::from_str(r#"{"type":"error","code":"rate_limited","detail":"x"}"#).unwrap();
        assert_eq!(error.code.as_deref(), Some("rate_limited"));
        let other: Frame = serde_json::from_str(r#"{"type":"connection_established","room":{"id":1}}"#).unwrap();
        assert!(other.message.is_none());
    }
}
