//! `/api/chat/rooms/...`: rooms, join and leave.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::input::{Fields, JsonObject, Path, Text};
use super::pagination::{Paginated, Pagination};
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::Developer;
use crate::chat::direct::{self, Opened};
use crate::chat::policy::JoinDecision;
use crate::chat::rooms::{self, NewRoom, RoomPatch};
use crate::chat::types::limits::{ROOM_DESCRIPTION_MAX, ROOM_NAME_MAX};
use crate::chat::types::{Room, RoomType};
use crate::error::{Error, Result};
use crate::store::rooms::RoomFilter;

/// Query parameters (documentation; read through [`Pagination::param`]).
#[derive(IntoParams)]
#[allow(dead_code)]
pub struct RoomSearch {
    /// Case-insensitive substring of the room name.
    search: Option<String>,
    /// `true`: only direct conversations; `false`: only other rooms.
    is_direct: Option<bool>,
    /// Page number, from 1.
    page: Option<String>,
    /// Results per page (default 50, at most 200).
    page_size: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RoomBody {
    /// 1 to 100 characters after trimming.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
    /// At most 500 characters.
    #[schema(max_length = 500)]
    description: Option<String>,
    /// Default `public`.
    room_type: Option<RoomType>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RoomPatchBody {
    #[schema(min_length = 1, max_length = 100)]
    name: Option<String>,
    #[schema(max_length = 500)]
    description: Option<String>,
    room_type: Option<RoomType>,
}

#[derive(Serialize, ToSchema)]
pub struct JoinResponse {
    detail: &'static str,
    room: Room,
}

#[derive(Serialize, ToSchema)]
pub struct DetailBody {
    detail: &'static str,
}

/// Active rooms the caller can see: every public room and the rooms they belong to, newest first.
#[utoipa::path(get, path = "/api/chat/rooms/", tag = "rooms", params(RoomSearch), security(("jwt" = [])),
    responses(
        (status = 200, body = Paginated<Room>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, description = "Invalid page", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Developer(user): Developer,
    pagination: Pagination,
) -> Result<Json<Paginated<Room>>> {
    let search = pagination.search()?;
    let is_direct = match pagination.param("is_direct").as_deref() {
        None | Some("") => None,
        Some("true" | "True" | "1") => Some(true),
        Some("false" | "False" | "0") => Some(false),
        Some(_) => return Err(Error::field("is_direct", "Must be true or false.")),
    };
    let filter = RoomFilter {
        search: search.as_deref(),
        is_direct,
    };
    let (total, rooms) = rooms::list(&state.store, &user, filter, pagination.window()).await?;
    Ok(Json(pagination.respond(total, rooms)?))
}

/// Create a room; the creator becomes its admin.
#[utoipa::path(post, path = "/api/chat/rooms/", tag = "rooms", request_body = RoomBody, security(("jwt" = [])),
    responses(
        (status = 201, body = Room),
        (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Developer(user): Developer,
    body: JsonObject,
) -> Result<(StatusCode, Json<Room>)> {
    let mut fields = Fields::new(body.0);
    let name = fields.text("name", Text::required(ROOM_NAME_MAX));
    let description = fields.text("description", Text::optional(ROOM_DESCRIPTION_MAX));
    let room_type = fields.choice("room_type", false, RoomType::parse);
    fields.finish()?;
    let new = NewRoom {
        name: name.unwrap_or_default(),
        description: description.unwrap_or_default(),
        room_type: room_type.unwrap_or(RoomType::Public),
    };
    Ok((
        StatusCode::CREATED,
        Json(rooms::create(&state.store, state.publisher(), &user, new).await?),
    ))
}

/// A room the caller can see (404 otherwise, whether or not it exists).
#[utoipa::path(get, path = "/api/chat/rooms/{id}/", tag = "rooms", params(("id" = i64, Path)), security(("jwt" = [])),
    responses((status = 200, body = Room), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(State(state): State<AppState>, Developer(user): Developer, Path(id): Path<i64>) -> Result<Json<Room>> {
    Ok(Json(rooms::get(&state.store, &user, id).await?))
}

/// Change name, description or type (room admins).
#[utoipa::path(patch, path = "/api/chat/rooms/{id}/", tag = "rooms", params(("id" = i64, Path)), request_body = RoomPatchBody,
    security(("jwt" = [])),
    responses(
        (status = 200, body = Room), (status = 400, body = BadRequestBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
    body: JsonObject,
) -> Result<Json<Room>> {
    let patch = || {
        let mut fields = Fields::new(body.0);
        let patch = RoomPatch {
            name: fields.text("name", Text::required(ROOM_NAME_MAX).not_required()),
            description: fields.text("description", Text::optional(ROOM_DESCRIPTION_MAX)),
            room_type: fields.choice("room_type", false, RoomType::parse),
        };
        fields.finish().map(|()| patch)
    };
    Ok(Json(rooms::update(&state.store, &user, id, patch).await?))
}

/// Deactivate a room (room admins): it disappears from every list.
#[utoipa::path(delete, path = "/api/chat/rooms/{id}/", tag = "rooms", params(("id" = i64, Path)), security(("jwt" = [])),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<StatusCode> {
    rooms::delete(&state.store, state.publisher(), &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join a public room; joining again is harmless. Invite-only rooms answer 403.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/join/", tag = "rooms", params(("id" = i64, Path)), security(("jwt" = [])),
    responses((status = 200, body = JoinResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<Json<JoinResponse>> {
    let (decision, room) = rooms::join(&state.store, state.publisher(), &user, id).await?;
    let detail = match decision {
        JoinDecision::Join => "Joined the room.",
        JoinDecision::AlreadyMember => "Already a member of the room.",
    };
    Ok(Json(JoinResponse { detail, room }))
}

/// Leave a room. When its last admin leaves, the longest-standing member becomes admin.
#[utoipa::path(post, path = "/api/chat/rooms/{id}/leave/", tag = "rooms", params(("id" = i64, Path)), security(("jwt" = [])),
    responses(
        (status = 200, body = DetailBody), (status = 400, description = "Not a member", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ))]
pub async fn leave(
    State(state): State<AppState>,
    Developer(user): Developer,
    Path(id): Path<i64>,
) -> Result<Json<DetailBody>> {
    rooms::leave(&state.store, state.publisher(), &user, id).await?;
    Ok(Json(DetailBody {
        detail: "Left the room.",
    }))
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DirectBody {
    /// The other user; or give `username` instead.
    user_id: Option<i64>,
    #[schema(min_length = 1, max_length = 150)]
    username: Option<String>,
}

/// Open the direct conversation with another developer: 201 with the room
/// when it is new, 200 with the same room when it exists (for either of the two).
#[utoipa::path(post, path = "/api/chat/direct/", tag = "rooms", request_body = DirectBody, security(("jwt" = [])),
    responses(
        (status = 201, description = "Created", body = Room), (status = 200, description = "Already there", body = Room),
        (status = 400, description = "Not another active developer", body = BadRequestBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ))]
pub async fn open_direct(
    State(state): State<AppState>,
    Developer(user): Developer,
    body: JsonObject,
) -> Result<(StatusCode, Json<Room>)> {
    let other = super::members::user_ref(body)?;
    let (opened, room) = direct::open(&state.store, state.publisher(), &user, other).await?;
    let status = match opened {
        Opened::Created => StatusCode::CREATED,
        Opened::Existing => StatusCode::OK,
    };
    Ok((status, Json(room)))
}
