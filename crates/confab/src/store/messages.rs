//! Queries on `messages`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::messages;

pub async fn find<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<messages::Model>, DbErr> {
    messages::Entity::find_by_id(id).one(db).await
}

pub async fn find_many<C: ConnectionTrait>(db: &C, ids: Vec<i64>) -> Result<Vec<messages::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    messages::Entity::find()
        .filter(messages::Column::Id.is_in(ids))
        .all(db)
        .await
}

/// The message a sender already sent with this idempotency key.
pub async fn find_by_client_id<C: ConnectionTrait>(
    db: &C,
    sender_id: i64,
    client_id: &str,
) -> Result<Option<messages::Model>, DbErr> {
    messages::Entity::find()
        .filter(messages::Column::SenderId.eq(sender_id))
        .filter(messages::Column::ClientId.eq(client_id))
        .one(db)
        .await
}

/// The messages already stored under each `(sender_id, client_id)` pair.
pub async fn find_by_client_ids<C: ConnectionTrait>(
    db: &C,
    keys: &[(i64, &str)],
) -> Result<Vec<messages::Model>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for (sender_id, client_id) in keys {
        any = any.add(
            Condition::all()
                .add(messages::Column::SenderId.eq(*sender_id))
                .add(messages::Column::ClientId.eq(*client_id)),
        );
    }
    messages::Entity::find().filter(any).all(db).await
}

pub struct NewMessage<'a> {
    pub room_id: i64,
    pub sender_id: i64,
    pub seq: i64,
    pub change_seq: i64,
    pub content: &'a str,
    pub message_type: &'a str,
    pub reply_to_id: Option<i64>,
    pub client_id: Option<&'a str>,
}

/// Replaces a message's content and stamps `edited_at`; returns the new row.
pub async fn set_content<C: ConnectionTrait>(
    db: &C,
    message: messages::Model,
    content: &str,
) -> Result<messages::Model, DbErr> {
    let mut active: messages::ActiveModel = message.into();
    active.content = Set(content.to_owned());
    active.edited_at = Set(Some(super::now()));
    let edited = active.update(db).await?;
    super::search::reindex(db, edited.id, &edited.content).await?;
    Ok(edited)
}

/// Inserts many messages in one statement. Their ids are read back with
/// [`find_by_seq_ranges`]: a multi-row insert reports no ids on MySQL.
pub async fn insert_many<C: ConnectionTrait>(db: &C, rows: &[NewMessage<'_>]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let now = super::now();
    let models = rows.iter().map(|new| messages::ActiveModel {
        room_id: Set(new.room_id),
        sender_id: Set(new.sender_id),
        seq: Set(new.seq),
        change_seq: Set(new.change_seq),
        content: Set(new.content.to_owned()),
        message_type: Set(new.message_type.to_owned()),
        reply_to_id: Set(new.reply_to_id),
        is_deleted: Set(false),
        client_id: Set(new.client_id.map(str::to_owned)),
        created_at: Set(now),
        ..Default::default()
    });
    messages::Entity::insert_many(models).exec_without_returning(db).await?;
    Ok(())
}

/// The messages of each `(room_id, first_seq, last_seq)` range, in id order.
pub async fn find_by_seq_ranges<C: ConnectionTrait>(
    db: &C,
    ranges: &[(i64, i64, i64)],
) -> Result<Vec<messages::Model>, DbErr> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for (room_id, first, last) in ranges {
        any = any.add(
            Condition::all()
                .add(messages::Column::RoomId.eq(*room_id))
                .add(messages::Column::Seq.between(*first, *last)),
        );
    }
    messages::Entity::find()
        .filter(any)
        .order_by_asc(messages::Column::Id)
        .all(db)
        .await
}

pub async fn mark_deleted<C: ConnectionTrait>(db: &C, id: i64) -> Result<(), DbErr> {
    messages::Entity::update_many()
        .col_expr(messages::Column::IsDeleted, Expr::value(true))
        .filter(messages::Column::Id.eq(id))
        .exec(db)
        .await?;
    super::search::unindex(db, id).await
}

/// Where a history page starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages.
    Latest,
    /// Messages older than this id.
    Before(i64),
    /// Messages newer than this id.
    After(i64),
}

/// Up to `limit` live (not deleted) messages of a room from `cursor`, in
/// ascending id order. Served by `messages_room_live_idx`.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    room_id: i64,
    cursor: Cursor,
    limit: u64,
) -> Result<Vec<messages::Model>, DbErr> {
    let live = messages::Entity::find()
        .filter(messages::Column::RoomId.eq(room_id))
        .filter(messages::Column::IsDeleted.eq(false));
    let mut rows = match cursor {
        Cursor::Latest => live.order_by_desc(messages::Column::Id).limit(limit).all(db).await?,
        Cursor::Before(id) => {
            live.filter(messages::Column::Id.lt(id))
                .order_by_desc(messages::Column::Id)
                .limit(limit)
                .all(db)
                .await?
        }
        Cursor::After(id) => {
            return live
                .filter(messages::Column::Id.gt(id))
                .order_by_asc(messages::Column::Id)
                .limit(limit)
                .all(db)
                .await
        }
    };
    rows.reverse();
    Ok(rows)
}

/// Whether the room has a live message with an id below / above `id`.
pub async fn has_live_beyond<C: ConnectionTrait>(db: &C, room_id: i64, id: i64, older: bool) -> Result<bool, DbErr> {
    let side = if older {
        messages::Column::Id.lt(id)
    } else {
        messages::Column::Id.gt(id)
    };
    let found: Option<i64> = messages::Entity::find()
        .select_only()
        .column(messages::Column::Id)
        .filter(messages::Column::RoomId.eq(room_id))
        .filter(messages::Column::IsDeleted.eq(false))
        .filter(side)
        .limit(1)
        .into_tuple()
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// The newest live message of each of `room_ids` that has one.
pub async fn latest_per_room<C: ConnectionTrait>(db: &C, room_ids: Vec<i64>) -> Result<Vec<messages::Model>, DbErr> {
    if room_ids.is_empty() {
        return Ok(Vec::new());
    }
    let newest: Vec<Option<i64>> = messages::Entity::find()
        .select_only()
        .column_as(messages::Column::Id.max(), "newest")
        .filter(messages::Column::RoomId.is_in(room_ids))
        .filter(messages::Column::IsDeleted.eq(false))
        .group_by(messages::Column::RoomId)
        .into_tuple()
        .all(db)
        .await?;
    find_many(db, newest.into_iter().flatten().collect()).await
}

/// For each `(room_id, seq)`, how many deleted messages of that room lie past
/// `seq`: the correction to a `last_seq - last_read_seq` unread count.
pub async fn deleted_after<C: ConnectionTrait>(db: &C, pointers: &[(i64, i64)]) -> Result<Vec<(i64, i64)>, DbErr> {
    if pointers.is_empty() {
        return Ok(Vec::new());
    }
    let mut past_pointer = Condition::any();
    for (room_id, seq) in pointers {
        past_pointer = past_pointer.add(
            Condition::all()
                .add(messages::Column::RoomId.eq(*room_id))
                .add(messages::Column::Seq.gt(*seq)),
        );
    }
    messages::Entity::find()
        .select_only()
        .column(messages::Column::RoomId)
        .column_as(messages::Column::Id.count(), "deleted")
        .filter(messages::Column::IsDeleted.eq(true))
        .filter(past_pointer)
        .group_by(messages::Column::RoomId)
        .into_tuple()
        .all(db)
        .await
}
