//! Real-time: WebSocket sessions and the fan-out to them.
//!
//! - [`event`]: the one [`event::ServerEvent`] enum of server frames, encoded
//!   once per fan-out into a shared [`event::Frame`].
//! - [`hub`]: who listens to which room, presence, bounded per-socket queues.
//! - [`socket`]: the `/ws/chat/{room_id}/` session.
//! - [`rate`]: the per-user message rate limit.
//!
//! Domain use cases publish to the [`hub::Hub`] after their transaction
//! commits, so REST and socket actions reach sockets the same way.

pub mod event;
pub mod hub;
pub mod rate;
pub mod socket;
