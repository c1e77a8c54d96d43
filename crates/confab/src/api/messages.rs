//! `/api/chat/rooms/{id}/messages/` and `/api/chat/messages/{id}/...`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::input::{Fields, JsonObject, Path, Text};
use super::pagination::RequestUrl;
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::messages;
use crate::chat::posting::{self, NewMessageInput, Posted};
use crate::chat::reactions::{self, Added};
use crate::chat::types::limits::{EMOJI_MAX, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, MESSAGE_CONTENT_MAX};
use crate::chat::types::{Message, MessageType, Reaction};
use crate::error::{Error, FieldErrors, Result};
use crate::store::messages::Cursor;

/// Query parameters of the history.
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct HistoryQuery {
    /// Messages older than this id.
    before: Option<i64>,
    /// Messages newer than this id (catch-up).
    after: Option<i64>,
    /// Page size, default 50, at most 200.
    limit: Option<u64>,
}

/// A page of history: `next` links the older page, `previous` the newer one.
#[derive(Serialize, ToSchema)]
pub struct HistoryBody {
    next: Option<String>,
    previous: Option<String>,
    /// Oldest first.
    results: Vec<Message>,
    /// The room's change number as of this page: a socket opened with
    /// `?since=` it receives every later change.
    change_seq: i64,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PostMessageBody {
    /// 1 to 5000 characters after trimming.
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
    /// `text` (default), `image` or `file`.
    message_type: Option<MessageType>,
    /// A message of the same room.
    reply_to: Option<i64>,
    /// At most 64 characters; a retry with the same value returns the first message.
    #[schema(max_length = 64)]
    client_id: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EditMessageBody {
    /// 1 to 5000 characters after trimming.
    #[schema(min_length = 1, max_length = 5000)]
    content: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ReactionBody {
    /// 1 to 32 characters, no whitespace.
    #[schema(min_length = 1, max_length = 32)]
    emoji: String,
}

#[derive(Serialize, ToSchema)]
pub struct ReadBody {
    detail: &'static str,
}

/// Reads `before`, `after` (ids, 0 allowed: `after=0` is "from the start")
/// and `limit` (at least 1) as DRF would: each a valid integer or a 400 naming it.
fn history_params(url: &RequestUrl) -> Result<(Cursor, u64)> {
    let mut errors = FieldErrors::new();
    let mut integer = |name: &str, min: i64| -> Option<i64> {
        let raw = url.param(name)?;
        match raw.trim().parse::<i64>() {
            Ok(value) if value >= min => Some(value),
            Ok(_) => {
                errors.insert(
                    name.into(),
                    vec![format!("Ensure this value is greater than or equal to {min}.")],
                );
                None
            }
            Err(_) => {
                errors.insert(name.into(), vec!["A valid integer is required.".into()]);
                None
            }
        }
    };
    let (before, after, limit) = (integer("before", 0), integer("after", 0), integer("limit", 1));
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let cursor = match (before, after) {
        (None, None) => Cursor::Latest,
        (Some(before), None) => Cursor::Before(before),
        (None, Some(after)) => Cursor::After(after),
        (Some(_), Some(_)) => {
            return Err(Error::field(
                "non_field_errors",
                "Use either before or after, not both.",
            ))
        }
    };
    let limit = limit.map_or(HISTORY_LIMIT_DEFAULT, |l| (l as u64).min(HISTORY_LIMIT_MAX));
    Ok((cursor, limit))
}

/// History of a room, oldest first, by cursor: the newest page by default,
/// `?before=` for older, `?after=` for newer. Deleted messages are left out.
#[utoipa::path(get, path = "/api/chat/rooms/{id}/messages/", tag = "messages", params(("id" = i64, Path), HistoryQuery),
    security(("jwt" = [])),
    responses(
        (status = 200, body = HistoryBody), (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn history(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    url: RequestUrl,
) -> Result<Json<HistoryBody>> {
    let page = messages::history(&state.store, &user, id, || history_params(&url)).await?;
    // The links continue from the ends of this page; an empty page continues
    // from its cursor (an empty `after=X` page: older means `before=X+1`).
    let cursors = ["before", "after"];
    let oldest_bound = match (page.messages.first(), page.cursor) {
        (Some(m), _) => Some(m.id),
        (None, Cursor::After(after)) => Some(after.saturating_add(1)),
        (None, _) => None,
    };
    let newest_bound = match (page.messages.last(), page.cursor) {
        (Some(m), _) => Some(m.id),
        (None, Cursor::Before(before)) => Some(before.saturating_sub(1).max(0)),
        (None, _) => None,
    };
    let next = oldest_bound
        .filter(|_| page.has_older)
        .map(|id| url.with(&cursors, &[("before", id.to_string())]));
    let previous = newest_bound
        .filter(|_| page.has_newer)
        .map(|id| url.with(&cursors, &[("after", id.to_string())]));
    Ok(Json(HistoryBody {
        next,
        previous,
        results: page.messages,
        change_seq: page.change_seq,
    }))
}

/// Post a message (members of the room). 201 with the message; 200 with the
/// first message when the sender already used this `client_id`.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/messages/", tag = "messages", params(("id" = i64, Path)),
    request_body = PostMessageBody, security(("jwt" = [])),
    responses(
        (status = 201, body = Message), (status = 200, description = "Duplicate client_id: the first message", body = Message),
        (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
pub async fn post(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    body: JsonObject,
) -> Result<(StatusCode, Json<Message>)> {
    let input = move || NewMessageInput::read(body.0);
    // Once queued, the post is written and published even if the client hangs up.
    let (message, posted) = posting::post(&state.posts, &user, id, input).await?;
    let status = match posted {
        Posted::Created => StatusCode::CREATED,
        Posted::Duplicate => StatusCode::OK,
    };
    Ok((status, Json(message)))
}

/// Mark this message and every earlier one of its room as read (members).
#[utoipa::path(post, path = "/api/chat/messages/{id}/read/", tag = "messages", params(("id" = i64, Path)), security(("jwt" = [])),
    responses((status = 200, body = ReadBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<Json<ReadBody>> {
    messages::mark_read(&state.store, state.publisher(), &user, id).await?;
    Ok(Json(ReadBody {
        detail: "Marked as read.",
    }))
}

/// Soft-delete a message (its sender, or a room admin or moderator). Deleting again is a 404.
#[utoipa::path(delete, path = "/api/chat/messages/{id}/delete/", tag = "messages", params(("id" = i64, Path)),
    security(("jwt" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    messages::delete(&state.store, state.publisher(), &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a message's content (its sender, while a member); the room gets
/// `message_edited`, and members newly mentioned a `mention` notification.
#[utoipa::path(patch, path = "/api/chat/messages/{id}/", tag = "messages", params(("id" = i64, Path)),
    request_body = EditMessageBody, security(("jwt" = [])),
    responses(
        (status = 200, body = Message), (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, description = "Deleted or invisible", body = ErrorBody),
    ))]
pub async fn edit(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    body: JsonObject,
) -> Result<Json<Message>> {
    let content = || {
        let mut fields = Fields::new(body.0);
        let content = fields.text("content", Text::required(MESSAGE_CONTENT_MAX));
        fields.finish()?;
        Ok(content.unwrap_or_default())
    };
    Ok(Json(
        messages::edit(&state.store, state.publisher(), &user, id, content).await?,
    ))
}

/// React to a message (room members): 201 with everyone's reaction with
/// that emoji, 200 when the caller had already reacted with it.
#[utoipa::path(post, path = "/api/chat/messages/{id}/reactions/", tag = "messages", params(("id" = i64, Path)),
    request_body = ReactionBody, security(("jwt" = [])),
    responses(
        (status = 201, body = Reaction), (status = 200, description = "Already there: nothing stored", body = Reaction),
        (status = 400, description = "Bad emoji, or 20 different emoji already", body = BadRequestBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn react(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    body: JsonObject,
) -> Result<(StatusCode, Json<Reaction>)> {
    let emoji = || {
        let mut fields = Fields::new(body.0);
        let emoji = fields.text("emoji", Text::required(EMOJI_MAX).untrimmed());
        fields.finish()?;
        let emoji = emoji.unwrap_or_default();
        reactions::valid_emoji(&emoji).map_err(|message| Error::field("emoji", message))?;
        Ok(emoji)
    };
    let (added, reaction) = reactions::add(&state.store, state.publisher(), &user, id, emoji).await?;
    let status = match added {
        Added::Created => StatusCode::CREATED,
        Added::Existing => StatusCode::OK,
    };
    Ok((status, Json(reaction)))
}

/// Take back one's reaction (`emoji` URL-encoded); 404 when there is none.
#[utoipa::path(delete, path = "/api/chat/messages/{id}/reactions/{emoji}/", tag = "messages",
    params(("id" = i64, Path), ("emoji" = String, Path)), security(("jwt" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unreact(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path((id, emoji)): Path<(i64, String)>,
) -> Result<StatusCode> {
    // An emoji that could never have been stored is a reaction the caller does not have.
    if reactions::valid_emoji(&emoji).is_err() {
        return Err(Error::NotFound);
    }
    reactions::remove(&state.store, state.publisher(), &user, id, &emoji).await?;
    Ok(StatusCode::NO_CONTENT)
}
