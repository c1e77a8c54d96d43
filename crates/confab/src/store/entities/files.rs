//! `files`: one row per upload; the bytes are in the object store.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "files")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub room_id: i64,
    pub uploader_id: i64,
    /// The message it is attached to; `None` until a post claims it.
    pub message_id: Option<i64>,
    /// Where the bytes are in the object store (random, never from the client).
    pub storage_key: String,
    /// The thumbnail's key, for images that have one.
    pub thumbnail_key: Option<String>,
    /// The name the uploader gave it, for `Content-Disposition`.
    pub name: String,
    pub size: i64,
    /// Read from the bytes, not from the client.
    pub content_type: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
