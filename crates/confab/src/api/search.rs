//! `GET /api/chat/search/`: messages of the caller's rooms.

use axum::extract::State;
use axum::Json;
use utoipa::IntoParams;

use super::pagination::{Paginated, Pagination};
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::search::{self, QUERY_MAX};
use crate::chat::types::Message;
use crate::error::{Error, Result};

/// Query parameters (documentation; read through [`Pagination::param`]).
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct SearchQuery {
    /// 1 to 200 characters after trimming; every whitespace-separated term
    /// must occur in the message, in any case, inside words too.
    q: String,
    /// Only this room (one the caller is a member of).
    room: Option<i64>,
    /// Page number, from 1.
    page: Option<String>,
    /// Results per page (default 50, at most 200).
    page_size: Option<String>,
}

/// Live messages of the caller's rooms that contain every term of `q`, newest first.
#[utoipa::path(get, path = "/api/chat/search/", tag = "messages", params(SearchQuery), security(("jwt" = [])),
    responses(
        (status = 200, body = Paginated<Message>), (status = 400, body = BadRequestBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "An invisible room, or an invalid page", body = ErrorBody),
    ))]
pub async fn search(
    State(state): State<AppState>,
    Developer(user): Developer,
    pagination: Pagination,
) -> Result<Json<Paginated<Message>>> {
    let query = pagination.param("q").unwrap_or_default();
    let query = query.trim();
    if query.is_empty() {
        let message = if pagination.param("q").is_some() {
            "This field may not be blank."
        } else {
            "This field is required."
        };
        return Err(Error::field("q", message));
    }
    if query.contains('\0') {
        return Err(Error::field("q", "Null characters are not allowed."));
    }
    if query.chars().count() > QUERY_MAX {
        return Err(Error::field(
            "q",
            format!("Ensure this field has no more than {QUERY_MAX} characters."),
        ));
    }
    let room = match pagination.param("room").as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .map_err(|_| Error::field("room", "A valid integer is required."))?,
        ),
    };
    let terms = search::terms(query);
    let (total, messages) = search::search(&state.store, &user, room, &terms, pagination.window()).await?;
    Ok(Json(pagination.respond(total, messages)?))
}
