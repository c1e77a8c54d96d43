//! `/api/chat/rooms/{id}/members/...`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa::ToSchema;

use super::input::{Fields, JsonObject, Path, Text};
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::members::{self, MemberRef};
use crate::chat::types::limits::USERNAME_MAX;
use crate::chat::types::{Member, Role};
use crate::error::{Error, Result};

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AddMemberBody {
    /// The user to add; or give `username` instead.
    user_id: Option<i64>,
    #[schema(min_length = 1, max_length = 150)]
    username: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RoleBody {
    role: Role,
}

/// The room's members, longest-standing first (a plain list, not paginated).
#[utoipa::path(get, path = "/api/chat/rooms/{id}/members/", tag = "members", params(("id" = i64, Path)), security(("jwt" = [])),
    responses((status = 200, body = Vec<Member>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<Json<Vec<Member>>> {
    let online: std::collections::HashSet<i64> = state.online(id).await.into_iter().map(|u| u.id).collect();
    Ok(Json(
        members::list(&state.store, |u| online.contains(&u), &user, id).await?,
    ))
}

/// Add a developer to the room (room admins and moderators); they get a `room_invite` notification.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/members/", tag = "members", params(("id" = i64, Path)), request_body = AddMemberBody,
    security(("jwt" = [])),
    responses(
        (status = 201, body = Member), (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn add(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    body: JsonObject,
) -> Result<(StatusCode, Json<Member>)> {
    let member = members::add(&state.store, state.publisher(), &user, id, || user_ref(body)).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// A request body naming a user: `{"user_id"}` or `{"username"}`.
pub(super) fn user_ref(body: JsonObject) -> Result<MemberRef> {
    let mut fields = Fields::new(body.0);
    let target = if fields.has("user_id") {
        fields.integer("user_id", true).map(MemberRef::Id)
    } else if fields.has("username") {
        fields
            .text("username", Text::required(USERNAME_MAX))
            .map(MemberRef::Username)
    } else {
        None
    };
    fields.finish()?;
    target.ok_or_else(|| Error::field("user_id", "This field is required."))
}

/// Change a member's role (room admins; the last admin cannot be demoted).
#[utoipa::path(patch, path = "/api/chat/rooms/{id}/members/{user_id}/", tag = "members",
    params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = RoleBody, security(("jwt" = [])),
    responses(
        (status = 200, body = Member), (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path((id, user_id)): Path<(i64, i64)>,
    body: JsonObject,
) -> Result<Json<Member>> {
    let role = || {
        let mut fields = Fields::new(body.0);
        let role = fields.choice("role", true, Role::parse);
        fields.finish()?;
        role.ok_or_else(|| Error::field("role", "This field is required."))
    };
    Ok(Json(
        members::change_role(&state.store, state.publisher(), &user, id, user_id, role).await?,
    ))
}

/// Remove a member: admins remove anyone, moderators plain members, anyone themself.
#[utoipa::path(delete, path = "/api/chat/rooms/{id}/members/{user_id}/", tag = "members",
    params(("id" = i64, Path), ("user_id" = i64, Path)), security(("jwt" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<StatusCode> {
    members::remove(&state.store, state.publisher(), &user, id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
