//! Real-time: WebSocket sessions and the fan-out to them.
//!
//! - [`frame`]: a [`crate::chat::events::ServerEvent`] encoded once per
//!   fan-out into a shared [`frame::Frame`].
//! - [`backplane`]: the [`backplane::Backplane`] every outbox goes through on
//!   its way to the hubs of every node; [`backplane::LocalBackplane`] for one node.
//! - [`cluster`]: several nodes as one server, through Redis: the cluster's
//!   backplane, presence and budgets.
//! - [`hub`]: who listens to which room on this node, presence, bounded
//!   per-socket queues.
//! - [`client_frame`]: what a client may send, parsed once into an enum.
//! - [`socket`]: the `/ws/chat/{room_id}/` and `/ws/chat/` sessions.
//! - [`revocation`]: open sockets of users who may no longer chat are cut off.
//!
//! Domain use cases hand their outbox to the backplane after their
//! transaction commits, so REST and socket actions reach sockets the same way.

pub mod backplane;
pub mod client_frame;
pub mod cluster;
pub mod frame;
pub mod hub;
pub mod revocation;
pub mod socket;
