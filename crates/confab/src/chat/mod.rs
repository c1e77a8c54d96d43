//! The chat domain: the rules of rooms, members, messages and notifications.
//! It knows nothing of HTTP, sockets or nodes.
//!
//! - [`types`]: the vocabulary (room types, roles) and the wire objects.
//! - [`policy`]: who may do what. Every decision is made there, once.
//! - [`fields`]: request fields read and checked as a DRF serializer does.
//! - [`events`]: the one [`events::ServerEvent`] enum of real-time events.
//! - [`outbox`]: the events a use case caused, handed to a
//!   [`outbox::Publisher`] after its commit.
//! - [`rooms`], [`members`], [`messages`], [`notifications`]: the use cases.
//!   Each loads the facts, asks [`policy`], writes in one short transaction
//!   (locking the room row first, so changes to one room are serialized) and
//!   publishes its outbox once committed.
//! - [`posting`]: posting a message, through the group-commit pipeline
//!   ([`crate::pipeline`]): every post waiting on a room's lane is written by
//!   one transaction.

pub mod changes;
pub mod direct;
pub mod events;
pub mod fields;
pub mod files;
pub mod members;
pub mod messages;
pub mod notifications;
pub mod outbox;
pub mod policy;
pub mod posting;
pub mod reactions;
pub mod rooms;
pub mod search;
pub mod types;

/// A window of a paginated list.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub offset: u64,
    pub limit: u64,
}
