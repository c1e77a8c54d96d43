//! Black-box tests: each starts a real server on port 0 with its own
//! database and talks HTTP to it, as a client would. One test binary
//! (see `helpers`) keeps link time down.

mod auth;
mod changes;
mod cli;
mod direct;
mod edits;
mod files;
mod hardening;
mod helpers;
mod hostile;
mod members;
mod messages;
mod notifications;
mod pipeline;
#[path = "../common/process.rs"]
mod process;
mod robustness;
mod rooms;
mod search;
mod service;
#[path = "../common/testdb.rs"]
mod testdb;
mod users;
mod ws;
