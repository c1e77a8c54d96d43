//! The chat domain: the rules of rooms, members and notifications.
//!
//! - [`types`]: the vocabulary (room types, roles) and the wire objects.
//! - [`policy`]: who may do what. Every decision is made there, once.
//! - [`rooms`], [`members`], [`messages`], [`notifications`]: the use cases. Each loads the facts, asks
//!   [`policy`], and writes in one short transaction, locking the room row
//!   first so changes to one room are serialized.

pub mod members;
pub mod messages;
pub mod notifications;
pub mod policy;
pub mod rooms;
pub mod types;

/// A window of a paginated list.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}
