//! `confab-bench`: a load generator that speaks only the wire contract
//! (`/api/token/`, the room REST API and `/ws/chat/{room_id}/?token=`), so it
//! can drive Confab or any other implementation of the contract, such as the
//! original Django app, given a base URL and a way to create users.
//!
//! The scenarios live here (not in `main.rs`) so that tests can run them
//! against a server started in-process.

pub mod accounts;
pub mod bench;
pub mod checker;
pub mod client;
pub mod rate;
pub mod report;
pub mod scenarios;
pub mod sys;
pub mod wire;

pub use bench::Bench;
