//! REST handlers, thin by rule: extract and validate input, call the domain
//! ([`crate::chat`]), respond. Each handler carries its `utoipa` annotation,
//! so `/api/schema/` is generated from the code it describes.

pub mod auth;
pub mod files;
mod frames;
pub mod guard;
pub mod input;
pub mod members;
pub mod messages;
pub mod notifications;
pub mod pagination;
pub mod rooms;
pub mod search;
pub mod service;
pub mod users;

use std::collections::BTreeMap;

use axum::routing::{delete, get, patch, post};
use axum::Router;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::app::AppState;

/// `{"detail": "..."}`: every non-validation error.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub detail: String,
    /// SimpleJWT's machine-readable code on some 401s, e.g. `token_not_valid`.
    pub code: Option<String>,
}

/// `{"field": ["message", ...]}`: validation errors, per field (`non_field_errors` for the whole body).
#[derive(Serialize, ToSchema)]
pub struct ValidationErrorBody(pub BTreeMap<String, Vec<String>>);

/// A 400: field errors, or `{"detail"}` for a body that is not JSON at all.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum BadRequestBody {
    Fields(ValidationErrorBody),
    Detail(ErrorBody),
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Confab", description = "Real-time team chat. Wire-compatible with the Django/DRF/SimpleJWT chat app; see docs/api.md."),
    paths(
        auth::obtain, auth::refresh, auth::blacklist, auth::verify, auth::me,
        users::list,
        rooms::list, rooms::create, rooms::get, rooms::update, rooms::delete, rooms::join, rooms::leave,
        rooms::open_direct,
        members::list, members::add, members::update, members::remove,
        messages::history, messages::post, messages::read, messages::delete,
        messages::edit, messages::react, messages::unreact,
        search::search,
        files::upload, files::download, files::thumbnail,
        notifications::list, notifications::read, notifications::read_all,
        service::healthz, service::readyz, service::metrics, service::schema,
    ),
    components(schemas(crate::chat::events::ServerEvent, frames::ClientFrame)),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "SimpleJWT-compatible tokens"),
        (name = "users", description = "Developers"),
        (name = "rooms", description = "Rooms"),
        (name = "members", description = "Room members and roles"),
        (name = "messages", description = "Messages, history and read state"),
        (name = "notifications", description = "Notifications"),
        (name = "files", description = "Files shared in rooms: uploads and signed downloads"),
        (name = "service", description = "Operations"),
        (name = "sockets", description = "WebSockets at /ws/chat/{room_id}/ (one room) and /ws/chat/ (every room of the user), with ?token=<access token> and, to resume, ?since= or ?after=. OpenAPI cannot describe them as paths: their frames are the schemas ServerEvent (server to client) and ClientFrame (client to server); docs/api.md has the rest."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Every REST route. Paths are written without the trailing slash; the app
/// strips one from incoming requests, so both spellings reach the same handler.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/token", post(auth::obtain))
        .route("/api/token/refresh", post(auth::refresh))
        .route("/api/token/verify", post(auth::verify))
        .route("/api/token/blacklist", post(auth::blacklist))
        .route("/api/auth/me", get(auth::me))
        .route("/api/chat/users", get(users::list))
        .route("/api/chat/rooms", get(rooms::list).post(rooms::create))
        .route(
            "/api/chat/rooms/{id}",
            get(rooms::get).patch(rooms::update).delete(rooms::delete),
        )
        .route("/api/chat/rooms/{id}/join", post(rooms::join))
        .route("/api/chat/direct", post(rooms::open_direct))
        .route("/api/chat/rooms/{id}/leave", post(rooms::leave))
        .route("/api/chat/rooms/{id}/members", get(members::list).post(members::add))
        .route(
            "/api/chat/rooms/{id}/members/{user_id}",
            axum::routing::patch(members::update).delete(members::remove),
        )
        .route(
            "/api/chat/rooms/{id}/messages",
            get(messages::history).post(messages::post),
        )
        .route("/api/chat/messages/{id}/read", post(messages::read))
        .route("/api/chat/messages/{id}", patch(messages::edit))
        .route("/api/chat/messages/{id}/reactions", post(messages::react))
        .route("/api/chat/messages/{id}/reactions/{emoji}", delete(messages::unreact))
        .route(
            "/api/chat/messages/{id}/delete",
            axum::routing::delete(messages::delete),
        )
        .route("/api/chat/search", get(search::search))
        // Uploads stream past the JSON body limit; `files_max_bytes` bounds them.
        .route(
            "/api/chat/rooms/{id}/files",
            post(files::upload).layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/api/chat/files/{id}", get(files::download))
        .route("/api/chat/files/{id}/thumbnail", get(files::thumbnail))
        .route("/api/chat/notifications", get(notifications::list))
        .route("/api/chat/notifications/read_all", post(notifications::read_all))
        .route("/api/chat/notifications/{id}/read", post(notifications::read))
        .route("/ws/chat", get(crate::realtime::socket::user_socket))
        .route("/ws/chat/{room_id}", get(crate::realtime::socket::room_socket))
        .route("/healthz", get(service::healthz))
        .route("/readyz", get(service::readyz))
        .route("/metrics", get(service::metrics))
        .route("/api/schema", get(service::schema))
}
