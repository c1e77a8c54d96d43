//! `room_changes`: a room's history changes after the post itself (deletes,
//! edits, reactions), numbered by the room's `change_seq`. Posts carry their
//! number in `messages.change_seq`.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "room_changes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub room_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub change_seq: i64,
    /// `deleted`, `edited`, `reaction_added` or `reaction_removed`.
    pub kind: String,
    pub message_id: i64,
    /// Who reacted (reactions only).
    pub user_id: Option<i64>,
    /// With what (reactions only).
    pub emoji: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
