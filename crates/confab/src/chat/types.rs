//! The chat vocabulary and the objects of the wire contract (`docs/api.md`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Who can see and join a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoomType {
    /// Listed to every developer; anyone may join.
    Public,
    /// Invite-only, visible to members only; a direct conversation is a private room of two.
    Private,
    /// Invite-only team room, visible to members only.
    Group,
}

/// A member's role within one room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Moderator,
    Member,
}

/// Maps enums to the strings stored in the database and sent on the wire.
macro_rules! string_enum {
    ($ty:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($ty::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// What a message carries. `system` is not accepted from clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    Text,
    Image,
    File,
}

string_enum!(RoomType { Public => "public", Private => "private", Group => "group" });
string_enum!(MessageType { Text => "text", Image => "image", File => "file" });
string_enum!(Role { Admin => "admin", Moderator => "moderator", Member => "member" });

/// The global role that opens the chat API.
pub const DEVELOPER_ROLE: &str = "developer";

/// A user as it appears inside any payload.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserRef {
    pub id: i64,
    pub username: String,
}

/// The room object.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Room {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub room_type: RoomType,
    pub created_by: UserRef,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub member_count: i64,
    pub is_member: bool,
    /// The caller's role, or null when not a member.
    pub my_role: Option<Role>,
    pub unread_count: i64,
    /// The newest message that is not deleted, or null.
    pub last_message: Option<Box<Message>>,
    /// A direct conversation: a private room of exactly two members.
    pub is_direct: bool,
    /// For a direct conversation, the other member; null otherwise.
    pub peer: Option<UserRef>,
    /// The number of the room's latest history change: connect with
    /// `?since=` this to receive every change after it.
    pub change_seq: i64,
}

/// A chat message.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    /// The room's id.
    pub room: i64,
    pub sender: UserRef,
    pub content: String,
    pub message_type: String,
    /// Id of the message this one answers, or null.
    pub reply_to: Option<i64>,
    /// The start of the message answered, or null (also when it was deleted).
    pub reply_preview: Option<ReplyPreview>,
    pub is_deleted: bool,
    pub created_at: DateTime<Utc>,
    /// The sender's idempotency key, echoed back.
    pub client_id: Option<String>,
    /// Whether the caller has read it (their read pointer is at or past it).
    pub is_read: bool,
    /// How many members other than the sender have read it.
    pub read_count: i64,
    /// When the content was last edited, or null.
    pub edited_at: Option<DateTime<Utc>>,
    /// Reactions by emoji, in order of each emoji's first use.
    pub reactions: Vec<Reaction>,
    /// The files attached, in upload order; `[]` when none.
    pub attachments: Vec<Attachment>,
    /// The room change number it was posted with (frames carry it, the object does not).
    #[serde(skip)]
    pub change_seq: i64,
}

/// A file shared in a room (the file object of the contract). Its links are
/// signed and expire (`files_url_ttl`): a client that keeps a message longer
/// fetches it again for fresh ones.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Attachment {
    pub id: i64,
    /// The name the uploader gave it.
    pub name: String,
    /// In bytes.
    pub size: i64,
    /// Read from the bytes, not from the uploader.
    pub content_type: String,
    /// Signed link to the bytes; no `Authorization` header needed.
    pub url: String,
    /// Signed link to a PNG thumbnail (images only), or null.
    pub thumbnail_url: Option<String>,
}

/// Everyone who reacted to a message with one emoji.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// In the order they reacted.
    pub users: Vec<UserRef>,
}

/// What a reply shows of the message it answers.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReplyPreview {
    pub id: i64,
    pub sender: UserRef,
    /// At most 200 characters.
    pub content: String,
}

/// A notification.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Notification {
    pub id: i64,
    /// `mention`, `reply`, `room_invite`, `role_changed` or `removed_from_room`.
    pub notification_type: String,
    pub title: String,
    pub content: String,
    pub is_read: bool,
    pub created_at: DateTime<Utc>,
    /// The room's id, or null.
    pub room: Option<i64>,
    /// The message's id (for `reply`: the reply), or null.
    pub message: Option<i64>,
}

/// One member of a room.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Member {
    pub user: UserRef,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
    /// Whether the user has a live socket (filled by the real-time layer).
    pub is_online: bool,
}

/// Limits of the contract.
pub mod limits {
    pub const ROOM_NAME_MAX: usize = 100;
    pub const ROOM_DESCRIPTION_MAX: usize = 500;
    pub const USERNAME_MAX: usize = 150;
    pub const MESSAGE_CONTENT_MAX: usize = 5000;
    pub const CLIENT_ID_MAX: usize = 64;
    /// Characters of an emoji (a reaction), and different emoji per message.
    pub const EMOJI_MAX: usize = 32;
    pub const EMOJI_PER_MESSAGE_MAX: u64 = 20;
    /// Characters of the answered message shown in a reply.
    pub const REPLY_PREVIEW_CHARS: usize = 200;
    pub const HISTORY_LIMIT_DEFAULT: u64 = 50;
    pub const HISTORY_LIMIT_MAX: u64 = 200;
}
