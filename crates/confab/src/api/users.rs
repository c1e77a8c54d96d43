//! `/api/chat/users/`: developers, for invitations and @mentions.

use axum::extract::State;
use axum::Json;
use utoipa::IntoParams;

use super::pagination::{Paginated, Pagination};
use super::ErrorBody;
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::types::{UserRef, DEVELOPER_ROLE};
use crate::error::Result;
use crate::store;

/// Query parameters (documentation; read through [`Pagination::param`]).
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct UserSearch {
    /// Case-insensitive username prefix.
    search: Option<String>,
    /// Page number, from 1.
    page: Option<String>,
    /// Results per page (default 50, at most 200).
    page_size: Option<String>,
}

/// Active developers whose username starts with `search`, by name.
#[utoipa::path(get, path = "/api/chat/users/", tag = "users", params(UserSearch), security(("jwt" = [])),
    responses(
        (status = 200, body = Paginated<UserRef>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "Invalid page", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Developer(_caller): Developer,
    pagination: Pagination,
) -> Result<Json<Paginated<UserRef>>> {
    let window = pagination.window();
    let search = pagination.search()?;
    let (total, users) = store::users::page_with_role(
        state.store.reader(),
        DEVELOPER_ROLE,
        search.as_deref(),
        window.offset,
        window.limit,
    )
    .await?;
    let users = users
        .into_iter()
        .map(|u| UserRef {
            id: u.id,
            username: u.username,
        })
        .collect();
    Ok(Json(pagination.respond(total, users)?))
}
