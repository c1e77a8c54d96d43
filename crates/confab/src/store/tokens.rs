//! Queries on `blacklisted_tokens`.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use super::entities::blacklisted_tokens;

/// Blacklists a refresh token. Returns `false` when it already was: two
/// requests racing to use one token cannot both succeed.
pub async fn blacklist<C: ConnectionTrait>(db: &C, jti: &str, user_id: i64, expires_at: i64) -> Result<bool, DbErr> {
    let inserted = blacklisted_tokens::Entity::insert(blacklisted_tokens::ActiveModel {
        jti: Set(jti.to_owned()),
        user_id: Set(user_id),
        expires_at: Set(expires_at),
    })
    .exec(db)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(error) if super::is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

pub async fn is_blacklisted<C: ConnectionTrait>(db: &C, jti: &str) -> Result<bool, DbErr> {
    Ok(blacklisted_tokens::Entity::find_by_id(jti.to_owned())
        .one(db)
        .await?
        .is_some())
}

/// Forgets tokens that have expired on their own (SimpleJWT's `flushexpiredtokens`).
pub async fn purge_expired<C: ConnectionTrait>(db: &C, now: i64) -> Result<u64, DbErr> {
    let deleted = blacklisted_tokens::Entity::delete_many()
        .filter(blacklisted_tokens::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
