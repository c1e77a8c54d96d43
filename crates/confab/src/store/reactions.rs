//! Queries on `reactions`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use super::entities::reactions;

/// Every reaction to `message_ids`, oldest first (the order emoji are listed in).
pub async fn of_messages<C: ConnectionTrait>(db: &C, message_ids: Vec<i64>) -> Result<Vec<reactions::Model>, DbErr> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    reactions::Entity::find()
        .filter(reactions::Column::MessageId.is_in(message_ids))
        .order_by_asc(reactions::Column::Id)
        .all(db)
        .await
}

pub async fn find<C: ConnectionTrait>(
    db: &C,
    message_id: i64,
    user_id: i64,
    emoji: &str,
) -> Result<Option<reactions::Model>, DbErr> {
    reactions::Entity::find()
        .filter(reactions::Column::MessageId.eq(message_id))
        .filter(reactions::Column::UserId.eq(user_id))
        .filter(reactions::Column::Emoji.eq(emoji))
        .one(db)
        .await
}

/// How many different emoji `message_id` has, and whether `emoji` is one of them.
pub async fn distinct_emoji<C: ConnectionTrait>(db: &C, message_id: i64, emoji: &str) -> Result<(u64, bool), DbErr> {
    let all: Vec<String> = reactions::Entity::find()
        .select_only()
        .column(reactions::Column::Emoji)
        .distinct()
        .filter(reactions::Column::MessageId.eq(message_id))
        .into_tuple()
        .all(db)
        .await?;
    let present = all.iter().any(|e| e == emoji);
    Ok((all.len() as u64, present))
}

pub async fn insert<C: ConnectionTrait>(db: &C, message_id: i64, user_id: i64, emoji: &str) -> Result<(), DbErr> {
    reactions::Entity::insert(reactions::ActiveModel {
        message_id: Set(message_id),
        user_id: Set(user_id),
        emoji: Set(emoji.to_owned()),
        created_at: Set(super::now()),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub async fn delete<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    reactions::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}
