//! What a client may send on a socket, parsed once into [`ClientFrame`].
//! A message's fields are read later by the domain
//! ([`crate::chat::posting::NewMessageInput::read`]), the same way as a REST post.

use serde_json::{Map, Value};

use crate::error::Error;

/// A client frame of a known type, with its fields checked.
#[derive(Debug)]
pub enum ClientFrame {
    /// A message to post; its fields are validated once the sender may post.
    ChatMessage(Map<String, Value>),
    Typing {
        is_typing: bool,
    },
    MarkRead {
        message_id: i64,
    },
    Ping,
}

/// A frame of a known type: the room it names (the user socket needs one;
/// the room socket ignores it) and the frame, or what is wrong with its fields.
#[derive(Debug)]
pub struct Incoming {
    pub kind: &'static str,
    pub room: Option<i64>,
    pub frame: Result<ClientFrame, Error>,
}

/// A frame refused before its type was known.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub code: &'static str,
    pub detail: String,
}

/// Parses a text frame. Unknown or missing types and anything but a JSON
/// object are refused whole.
pub fn parse(text: &str) -> Result<Incoming, Refused> {
    let Ok(Value::Object(mut map)) = serde_json::from_str::<Value>(text) else {
        return Err(Refused {
            code: "invalid_json",
            detail: "Frames must be JSON objects.".into(),
        });
    };
    let kind = match map.remove("type") {
        Some(Value::String(kind)) => kind,
        _ => {
            return Err(Refused {
                code: "unknown_type",
                detail: "A frame needs a \"type\".".into(),
            })
        }
    };
    let room = map.remove("room").and_then(|r| r.as_i64());
    let (kind, frame) = match kind.as_str() {
        "ping" => ("ping", Ok(ClientFrame::Ping)),
        "chat_message" => ("chat_message", Ok(ClientFrame::ChatMessage(map))),
        "typing" => {
            let frame = match map.get("is_typing").and_then(Value::as_bool) {
                Some(is_typing) => Ok(ClientFrame::Typing { is_typing }),
                None => Err(Error::field("is_typing", "Must be true or false.")),
            };
            ("typing", frame)
        }
        "mark_read" => {
            let frame = match map.get("message_id").and_then(Value::as_i64) {
                Some(message_id) => Ok(ClientFrame::MarkRead { message_id }),
                None => Err(Error::field("message_id", "A valid integer is required.")),
            };
            ("mark_read", frame)
        }
        other => {
            return Err(Refused {
                code: "unknown_type",
                detail: format!("Unknown frame type \"{}\".", other.chars().take(50).collect::<String>()),
            })
        }
    };
    Ok(Incoming { kind, room, frame })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_once_into_their_variant() {
        let ping = parse(r#"{"type":"ping"}"#).unwrap();
        assert!(matches!(ping.frame, Ok(ClientFrame::Ping)));
        let typing = parse(r#"{"type":"typing","is_typing":true,"room":4}"#).unwrap();
        assert_eq!(typing.room, Some(4));
        assert!(matches!(typing.frame, Ok(ClientFrame::Typing { is_typing: true })));
        let read = parse(r#"{"type":"mark_read","message_id":9}"#).unwrap();
        assert!(matches!(read.frame, Ok(ClientFrame::MarkRead { message_id: 9 })));
        let post = parse(r#"{"type":"chat_message","content":"hi","room":2}"#).unwrap();
        let Ok(ClientFrame::ChatMessage(fields)) = post.frame else {
            panic!("a chat message")
        };
        assert_eq!(fields.get("content").and_then(Value::as_str), Some("hi"));
        assert!(!fields.contains_key("type") && !fields.contains_key("room"));
    }

    #[test]
    fn bad_frames_are_refused_or_carry_their_field_error() {
        assert_eq!(parse("[1]").unwrap_err().code, "invalid_json");
        assert_eq!(parse("nope").unwrap_err().code, "invalid_json");
        assert_eq!(parse(r#"{"x":1}"#).unwrap_err().code, "unknown_type");
        let unknown = parse(&format!(r#"{{"type":"{}"}}"#, "z".repeat(500))).unwrap_err();
        assert!(unknown.detail.len() < 100, "the echoed type is cut short");
        let typing = parse(r#"{"type":"typing","is_typing":"yes"}"#).unwrap();
        assert_eq!(typing.kind, "typing");
        assert!(matches!(typing.frame, Err(Error::Invalid(_))));
        let read = parse(r#"{"type":"mark_read"}"#).unwrap();
        assert!(matches!(read.frame, Err(Error::Invalid(_))));
    }
}
