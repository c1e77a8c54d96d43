//! Queries on `users` and `user_roles`.

use sea_orm::sea_query::{Expr, LikeExpr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::{user_roles, users};
use super::escape_like;

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find_by_id(id).one(db).await
}

/// Case-insensitive lookup.
pub async fn find_by_username<C: ConnectionTrait>(db: &C, username: &str) -> Result<Option<users::Model>, DbErr> {
    users::Entity::find()
        .filter(users::Column::UsernameKey.eq(username_key(username)))
        .one(db)
        .await
}

/// `(id, username)` of each of `ids` that exists.
pub async fn names<C: ConnectionTrait>(db: &C, ids: Vec<i64>) -> Result<Vec<(i64, String)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    users::Entity::find()
        .select_only()
        .column(users::Column::Id)
        .column(users::Column::Username)
        .filter(users::Column::Id.is_in(ids))
        .into_tuple()
        .all(db)
        .await
}

/// Inserts a user; a taken name fails with a unique violation
/// (see [`super::is_unique_violation`]).
pub async fn insert<C: ConnectionTrait>(db: &C, username: &str, password_hash: &str) -> Result<users::Model, DbErr> {
    users::ActiveModel {
        username: Set(username.to_owned()),
        username_key: Set(username_key(username)),
        password_hash: Set(password_hash.to_owned()),
        is_active: Set(true),
        created_at: Set(super::now()),
        tokens_valid_after: Set(0),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Sets the hash and refuses every token issued before now.
pub async fn set_password_hash<C: ConnectionTrait>(db: &C, id: i64, password_hash: &str) -> Result<(), DbErr> {
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(
            users::Column::TokensValidAfter,
            Expr::value(chrono::Utc::now().timestamp()),
        )
        .filter(users::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deactivating also refuses every token issued before now, so that
/// reactivating an account does not revive the tokens it had.
pub async fn set_active<C: ConnectionTrait>(db: &C, id: i64, active: bool) -> Result<(), DbErr> {
    let mut update = users::Entity::update_many().col_expr(users::Column::IsActive, Expr::value(active));
    if !active {
        update = update.col_expr(
            users::Column::TokensValidAfter,
            Expr::value(chrono::Utc::now().timestamp()),
        );
    }
    update.filter(users::Column::Id.eq(id)).exec(db).await?;
    Ok(())
}

/// What decides whether a user may keep their sockets open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub user_id: i64,
    pub is_active: bool,
    pub is_developer: bool,
    pub tokens_valid_after: i64,
}

/// The standing of each of `ids` that exists (a deleted user is simply absent).
pub async fn standings<C: ConnectionTrait>(db: &C, ids: &[i64], developer_role: &str) -> Result<Vec<Standing>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    // Bounded lists: every backend caps the parameters of one statement.
    for chunk in ids.chunks(1000) {
        let rows: Vec<(i64, bool, i64)> = users::Entity::find()
            .select_only()
            .column(users::Column::Id)
            .column(users::Column::IsActive)
            .column(users::Column::TokensValidAfter)
            .filter(users::Column::Id.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        let developers: Vec<i64> = user_roles::Entity::find()
            .select_only()
            .column(user_roles::Column::UserId)
            .filter(user_roles::Column::Role.eq(developer_role))
            .filter(user_roles::Column::UserId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(
            rows.into_iter()
                .map(|(user_id, is_active, tokens_valid_after)| Standing {
                    user_id,
                    is_active,
                    is_developer: developers.contains(&user_id),
                    tokens_valid_after,
                }),
        );
    }
    Ok(found)
}

pub async fn count<C: ConnectionTrait>(db: &C) -> Result<u64, DbErr> {
    users::Entity::find().count(db).await
}

/// Every user, by id, for the admin CLI.
pub async fn all<C: ConnectionTrait>(db: &C) -> Result<Vec<users::Model>, DbErr> {
    users::Entity::find().order_by_asc(users::Column::Id).all(db).await
}

pub async fn roles<C: ConnectionTrait>(db: &C, user_id: i64) -> Result<Vec<String>, DbErr> {
    user_roles::Entity::find()
        .select_only()
        .column(user_roles::Column::Role)
        .filter(user_roles::Column::UserId.eq(user_id))
        .order_by_asc(user_roles::Column::Role)
        .into_tuple()
        .all(db)
        .await
}

/// Every `(user_id, role)` pair, for the admin CLI.
pub async fn all_roles<C: ConnectionTrait>(db: &C) -> Result<Vec<(i64, String)>, DbErr> {
    user_roles::Entity::find()
        .select_only()
        .column(user_roles::Column::UserId)
        .column(user_roles::Column::Role)
        .into_tuple()
        .all(db)
        .await
}

/// Grants `role`; granting twice is a no-op.
pub async fn grant<C: ConnectionTrait>(db: &C, user_id: i64, role: &str) -> Result<(), DbErr> {
    let exists = user_roles::Entity::find_by_id((user_id, role.to_owned()))
        .one(db)
        .await?
        .is_some();
    if !exists {
        user_roles::ActiveModel {
            user_id: Set(user_id),
            role: Set(role.to_owned()),
        }
        .insert(db)
        .await?;
    }
    Ok(())
}

/// Returns whether the user had the role.
pub async fn revoke<C: ConnectionTrait>(db: &C, user_id: i64, role: &str) -> Result<bool, DbErr> {
    let result = user_roles::Entity::delete_by_id((user_id, role.to_owned()))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Active users holding `role` whose name starts with `prefix` (case-insensitive),
/// by name: the total and one page.
pub async fn page_with_role<C: ConnectionTrait>(
    db: &C,
    role: &str,
    prefix: Option<&str>,
    offset: u64,
    limit: u64,
) -> Result<(u64, Vec<users::Model>), DbErr> {
    let holders = Query::select()
        .column(user_roles::Column::UserId)
        .from(user_roles::Entity)
        .and_where(user_roles::Column::Role.eq(role))
        .to_owned();
    let mut query = users::Entity::find()
        .filter(users::Column::IsActive.eq(true))
        .filter(users::Column::Id.in_subquery(holders));
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        let pattern = format!("{}%", escape_like(&username_key(prefix)));
        query = query.filter(Expr::col(users::Column::UsernameKey).like(LikeExpr::new(pattern).escape('\\')));
    }
    let total = query.clone().count(db).await?;
    let page = query
        .order_by_asc(users::Column::UsernameKey)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((total, page))
}

/// The unique, case-insensitive form of a username.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}
