//! Confab: a real-time team chat server, wire-compatible with a Django + DRF +
//! SimpleJWT + Channels chat app (see `docs/api.md`).
//!
//! # Layout
//!
//! A request travels down this list and back up:
//!
//! - [`config`]: one [`config::Config`], from defaults < `confab.toml` < `CONFAB_*` env.
//! - [`app`]: [`app::AppState`], the router and [`app::Server`] (bind, run, shut down).
//! - [`api`]: REST handlers, thin: extract and validate input, call [`chat`], respond.
//! - [`auth`]: SimpleJWT-compatible tokens, password hashing, the extractors that
//!   yield the current user and enforce the `developer` role.
//! - [`chat`]: the domain: rooms, members, notifications, and [`chat::policy`],
//!   the one place that decides who may do what.
//! - [`pipeline`]: group commit: the posts waiting on a lane are written by one transaction.
//! - [`files`]: uploaded files' bytes in an object store, their content
//!   types, thumbnails and signed links.
//! - [`store`]: the database (SQLite, MySQL/MariaDB, PostgreSQL by URL) with
//!   versioned migrations; one code path for every backend.
//! - [`realtime`]: WebSocket sessions, the backplane every committed event goes
//!   through, and the hub that fans events out to this node's sockets.
//! - [`error`]: the one error type, rendered in DRF's JSON shapes.
//! - [`telemetry`]: tracing, request ids and Prometheus metrics.
//! - [`web`]: the browser client (`web/`), embedded in the binary and served at `/`.
//! - [`cli`]: the admin commands (`confab user ...`, `confab token ...`), which use
//!   the same store and rules as the API.

pub mod api;
pub mod app;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod config;
pub mod error;
pub mod files;
pub mod limits;
pub mod listener;
pub mod pipeline;
pub mod realtime;
pub mod store;
pub mod telemetry;
pub mod web;
