//! SeaORM entities: one module per table. Column types are the portable subset
//! every backend supports; the migrations in [`super::migrations`] create them.

pub mod blacklisted_tokens;
pub mod files;
pub mod messages;
pub mod notifications;
pub mod reactions;
pub mod room_changes;
pub mod room_members;
pub mod rooms;
pub mod user_roles;
pub mod users;
