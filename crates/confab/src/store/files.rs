//! Queries on `files` (see the entity).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, JoinType, QueryFilter,
    QueryOrder, QuerySelect, RelationDef, Set,
};

use super::entities::{files, messages};

/// What a new upload is, once its bytes are stored.
pub struct NewFile<'a> {
    pub room_id: i64,
    pub uploader_id: i64,
    pub storage_key: &'a str,
    pub thumbnail_key: Option<&'a str>,
    pub name: &'a str,
    pub size: i64,
    pub content_type: &'a str,
}

pub async fn insert<C: ConnectionTrait>(db: &C, new: NewFile<'_>) -> Result<files::Model, DbErr> {
    files::ActiveModel {
        room_id: Set(new.room_id),
        uploader_id: Set(new.uploader_id),
        message_id: Set(None),
        storage_key: Set(new.storage_key.to_owned()),
        thumbnail_key: Set(new.thumbnail_key.map(str::to_owned)),
        name: Set(new.name.to_owned()),
        size: Set(new.size),
        content_type: Set(new.content_type.to_owned()),
        created_at: Set(super::now()),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<files::Model>, DbErr> {
    files::Entity::find_by_id(id).one(db).await
}

pub async fn find_many<C: ConnectionTrait>(db: &C, ids: Vec<i64>) -> Result<Vec<files::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    files::Entity::find().filter(files::Column::Id.is_in(ids)).all(db).await
}

/// The files attached to `message_ids`, in upload order.
pub async fn of_messages<C: ConnectionTrait>(db: &C, message_ids: Vec<i64>) -> Result<Vec<files::Model>, DbErr> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    files::Entity::find()
        .filter(files::Column::MessageId.is_in(message_ids))
        .order_by_asc(files::Column::Id)
        .all(db)
        .await
}

/// Attaches `ids` to `message_id`. Returns how many were still unattached
/// (and so are now attached).
pub async fn attach<C: ConnectionTrait>(db: &C, message_id: i64, ids: Vec<i64>) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let result = files::Entity::update_many()
        .col_expr(files::Column::MessageId, Expr::value(message_id))
        .filter(files::Column::Id.is_in(ids))
        .filter(files::Column::MessageId.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

fn message_of_file() -> RelationDef {
    files::Entity::belongs_to(messages::Entity)
        .from(files::Column::MessageId)
        .to(messages::Column::Id)
        .into()
}

/// The bytes `uploader_id` keeps stored: every upload but those of deleted messages.
pub async fn bytes_of<C: ConnectionTrait>(db: &C, uploader_id: i64) -> Result<i64, DbErr> {
    let total: Option<Option<i64>> = files::Entity::find()
        .select_only()
        .expr(sum_of_sizes(db))
        .join(JoinType::LeftJoin, message_of_file())
        .filter(files::Column::UploaderId.eq(uploader_id))
        .filter(messages::Column::Id.is_null().or(messages::Column::IsDeleted.eq(false)))
        .into_tuple()
        .one(db)
        .await?;
    Ok(total.flatten().unwrap_or(0))
}

/// `SUM(files.size)` as a 64-bit integer: PostgreSQL sums `BIGINT` into
/// `NUMERIC` and MySQL into `DECIMAL`, which do not decode as `i64`.
fn sum_of_sizes<C: ConnectionTrait>(db: &C) -> sea_orm::sea_query::SimpleExpr {
    Expr::cust(match db.get_database_backend() {
        DatabaseBackend::Postgres => "CAST(SUM(\"files\".\"size\") AS BIGINT)",
        DatabaseBackend::MySql => "CAST(SUM(`files`.`size`) AS SIGNED)",
        DatabaseBackend::Sqlite => "SUM(\"files\".\"size\")",
    })
}

/// Every stored byte, for the `files_stored_bytes` gauge at start-up.
pub async fn bytes_stored<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let total: Option<Option<i64>> = files::Entity::find()
        .select_only()
        .expr(sum_of_sizes(db))
        .into_tuple()
        .one(db)
        .await?;
    Ok(total.flatten().unwrap_or(0))
}

/// Up to `limit` uploads never attached and created before `cutoff`, oldest first.
pub async fn unattached_before<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<files::Model>, DbErr> {
    files::Entity::find()
        .filter(files::Column::MessageId.is_null())
        .filter(files::Column::CreatedAt.lt(cutoff))
        .order_by_asc(files::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Deletes the row of an upload if it is still unattached; true when it did.
pub async fn delete_unattached<C: ConnectionTrait>(db: &C, id: i64) -> Result<bool, DbErr> {
    let result = files::Entity::delete_many()
        .filter(files::Column::Id.eq(id))
        .filter(files::Column::MessageId.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
