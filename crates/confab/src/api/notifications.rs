//! `/api/chat/notifications/...`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::input::Path;
use super::pagination::{Paginated, Pagination};
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::notifications;
use crate::chat::types::Notification;
use crate::error::{Error, Result};

/// Query parameters of the notification list.
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct NotificationQuery {
    /// `true` or `false`: only read or only unread notifications.
    is_read: Option<bool>,
    /// Page number, from 1.
    page: Option<String>,
    /// Results per page (default 50, at most 200).
    page_size: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ReadAllBody {
    /// How many notifications were unread.
    updated: u64,
}

/// The caller's notifications, newest first.
#[utoipa::path(get, path = "/api/chat/notifications/", tag = "notifications", params(NotificationQuery),
    security(("jwt" = [])),
    responses(
        (status = 200, body = Paginated<Notification>), (status = 400, body = BadRequestBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "Invalid page", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Developer(user): Developer,
    pagination: Pagination,
) -> Result<Json<Paginated<Notification>>> {
    let is_read = match pagination
        .param("is_read")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("") => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(_) => return Err(Error::field("is_read", "Must be true or false.")),
    };
    let (total, items) = notifications::list(&state.store, &user, is_read, pagination.window()).await?;
    Ok(Json(pagination.respond(total, items)?))
}

/// Mark one notification read; someone else's is not found.
#[utoipa::path(post, path = "/api/chat/notifications/{id}/read/", tag = "notifications", params(("id" = i64, Path)),
    security(("jwt" = [])),
    responses((status = 200, body = Notification), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<Json<Notification>> {
    Ok(Json(notifications::mark_read(&state.store, &user, id).await?))
}

/// Mark every notification of the caller read.
#[utoipa::path(post, path = "/api/chat/notifications/read_all/", tag = "notifications", security(("jwt" = [])),
    responses((status = 200, body = ReadAllBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn read_all(State(state): State<AppState>, Developer(user): Developer) -> Result<Json<ReadAllBody>> {
    Ok(Json(ReadAllBody {
        updated: notifications::mark_all_read(&state.store, &user).await?,
    }))
}
