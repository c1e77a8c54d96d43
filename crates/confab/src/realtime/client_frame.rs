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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Any JSON a client could send: nested, of every type.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                prop::collection::btree_map(".{0,8}", inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any text: a frame or a refusal with a code, never a panic.
        #[test]
        fn any_text_is_parsed_or_refused(text in ".{0,200}") {
            if let Err(refused) = parse(&text) {
                prop_assert!(["invalid_json", "unknown_type"].contains(&refused.code));
            }
        }

        /// Objects of a known type parse to that type (its fields may still be invalid).
        #[test]
        fn known_types_keep_their_kind(
            kind in prop::sample::select(vec!["ping", "typing", "mark_read", "chat_message"]),
            fields in prop::collection::btree_map("[a-z_]{1,12}", any_json(), 0..6),
            room in prop::option::of(any::<i64>()),
        ) {
            let mut frame: serde_json::Map<String, Value> = fields.into_iter().collect();
            frame.insert("type".into(), json!(kind));
            if let Some(room) = room {
                frame.insert("room".into(), json!(room));
            }
            let incoming = parse(&Value::Object(frame).to_string()).expect("an object with a known type");
            prop_assert_eq!(incoming.kind, kind);
            prop_assert_eq!(incoming.room, room);
        }

        /// A typing frame is valid exactly when `is_typing` is a boolean.
        #[test]
        fn typing_needs_a_boolean(value in any_json()) {
            let incoming = parse(&json!({"type": "typing", "is_typing": value}).to_string()).unwrap();
            prop_assert_eq!(incoming.frame.is_ok(), value.is_boolean());
        }
    }
}
