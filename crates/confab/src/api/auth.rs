//! `/api/token/...` (SimpleJWT's views) and `/api/auth/me/`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::input::{Fields, JsonObject, Text};
use super::{ErrorBody, ValidationErrorBody};
use crate::app::AppState;
use crate::auth::jwt::TokenType;
use crate::auth::{accounts, password, Authenticated};
use crate::error::{Error, Result};

/// Longest token we bother to verify; real ones are a few hundred bytes.
const MAX_TOKEN_CHARS: usize = 4096;

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenObtainBody {
    username: String,
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPairBody {
    access: String,
    refresh: String,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenRefreshBody {
    refresh: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenRefreshed {
    access: String,
    /// Present only when refresh-token rotation is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenVerifyBody {
    token: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    id: i64,
    username: String,
    roles: Vec<String>,
    is_developer: bool,
}

/// Obtain an access/refresh token pair.
#[utoipa::path(post, path = "/api/token/", tag = "auth", request_body = TokenObtainBody,
    responses(
        (status = 200, body = TokenPairBody),
        (status = 400, body = ValidationErrorBody),
        (status = 401, description = "Wrong credentials or inactive user", body = ErrorBody),
    ))]
pub async fn obtain(State(state): State<AppState>, body: JsonObject) -> Result<Json<TokenPairBody>> {
    let mut fields = Fields::new(body.0);
    // Longer than any stored name or password can be, so only a bound on the work asked of us.
    let username = fields.text("username", Text::required(password::MAX_LENGTH));
    let password = fields.text("password", Text::required(password::MAX_LENGTH).untrimmed());
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        unreachable!("checked by finish")
    };
    let user = accounts::authenticate(&state.store, &username, &password)
        .await?
        .ok_or_else(|| Error::Unauthorized {
            detail: "No active account found with the given credentials".into(),
            code: Some("no_active_account"),
        })?;
    let pair = state.jwt.issue_pair(user.id);
    Ok(Json(TokenPairBody {
        access: pair.access,
        refresh: pair.refresh,
    }))
}

/// Exchange a refresh token for a new access token.
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth", request_body = TokenRefreshBody,
    responses(
        (status = 200, body = TokenRefreshed),
        (status = 400, body = ValidationErrorBody),
        (status = 401, description = "Invalid, expired or non-refresh token", body = ErrorBody),
    ))]
pub async fn refresh(State(state): State<AppState>, body: JsonObject) -> Result<Json<TokenRefreshed>> {
    let mut fields = Fields::new(body.0);
    let token = fields.text("refresh", Text::required(MAX_TOKEN_CHARS));
    fields.finish()?;
    let claims = state.jwt.verify(&token.unwrap_or_default(), Some(TokenType::Refresh))?;
    // A deactivated user's refresh token stops working at once.
    let active = accounts::find_user(&state.store, claims.user_id)
        .await?
        .is_some_and(|found| found.active);
    if !active {
        return Err(Error::Unauthorized {
            detail: "No active account found for the given token.".into(),
            code: Some("no_active_account"),
        });
    }
    let refresh = state
        .config
        .rotate_refresh_tokens
        .then(|| state.jwt.issue(claims.user_id, TokenType::Refresh));
    Ok(Json(TokenRefreshed {
        access: state.jwt.issue(claims.user_id, TokenType::Access),
        refresh,
    }))
}

/// Check a token's signature and expiry (either type).
#[utoipa::path(post, path = "/api/token/verify/", tag = "auth", request_body = TokenVerifyBody,
    responses(
        (status = 200, description = "Valid: an empty object", body = Object),
        (status = 400, body = ValidationErrorBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>, body: JsonObject) -> Result<Json<serde_json::Value>> {
    let mut fields = Fields::new(body.0);
    let token = fields.text("token", Text::required(MAX_TOKEN_CHARS));
    fields.finish()?;
    state.jwt.verify(&token.unwrap_or_default(), None)?;
    Ok(Json(serde_json::json!({})))
}

/// The caller, with their global roles.
#[utoipa::path(get, path = "/api/auth/me/", tag = "auth", security(("jwt" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Authenticated(user): Authenticated) -> Json<Me> {
    let is_developer = user.is_developer();
    Json(Me {
        id: user.id,
        username: user.username,
        roles: user.roles,
        is_developer,
    })
}
