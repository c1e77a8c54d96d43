//! `/api/token/...` (SimpleJWT's views) and `/api/auth/me/`.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::input::ClientAddress;
use super::input::{Fields, JsonObject, Text};
use super::{BadRequestBody, ErrorBody};
use crate::app::AppState;
use crate::auth::jwt::TokenType;
use crate::auth::tokens::{self, Rotation};
use crate::auth::{accounts, password, Authenticated};
use crate::error::{Error, Result};
use crate::limits::Limits;

/// Longest token we bother to verify; real ones are a few hundred bytes.
const MAX_TOKEN_CHARS: usize = 4096;

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenObtainBody {
    #[schema(min_length = 1, max_length = 1024)]
    username: String,
    #[schema(min_length = 1, max_length = 1024)]
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
    #[schema(min_length = 1, max_length = 4096)]
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
    #[schema(min_length = 1, max_length = 4096)]
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
        (status = 400, body = BadRequestBody),
        (status = 401, description = "Wrong credentials or inactive user", body = ErrorBody),
        (status = 429, description = "Throttled", body = ErrorBody),
        (status = 503, description = "Too many password checks waiting", body = ErrorBody),
    ))]
pub async fn obtain(
    State(state): State<AppState>,
    client: ClientAddress,
    body: JsonObject,
) -> Result<Json<TokenPairBody>> {
    let mut fields = Fields::new(body.0);
    // Longer than any stored name or password can be, so only a bound on the work asked of us.
    let username = fields.text("username", Text::required(password::MAX_LENGTH));
    let password = fields.text("password", Text::required(password::MAX_LENGTH).untrimmed());
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        unreachable!("checked by finish")
    };
    let throttle = Throttle::new(&state, &client, Some(crate::store::users::username_key(&username)));
    throttle.check()?;
    let Some(user) = accounts::authenticate(&state.store, &username, &password).await? else {
        throttle.charge();
        return Err(Error::Unauthorized {
            detail: "No active account found with the given credentials".into(),
            code: Some("no_active_account"),
        });
    };
    let pair = state.jwt.issue_pair(user.id);
    Ok(Json(TokenPairBody {
        access: pair.access,
        refresh: pair.refresh,
    }))
}

/// Failed token requests are budgeted per client address and per account;
/// once a budget is spent, requests are refused before any password is
/// hashed: 429 with `Retry-After`, as DRF's throttles answer. Successful
/// requests cost nothing, so a client that logs in often is never refused.
struct Throttle<'a> {
    limits: &'a Limits,
    address: Option<std::net::IpAddr>,
    account: Option<String>,
}

impl<'a> Throttle<'a> {
    fn new(state: &'a AppState, client: &ClientAddress, account: Option<String>) -> Self {
        Self {
            limits: &state.limits,
            // Loopback counts too (unlike for the connection cap): behind a
            // local proxy, `trust_forwarded_for` gives the real addresses.
            address: client.0,
            account,
        }
    }

    fn check(&self) -> Result<()> {
        let retry = |retry_after_secs| Error::RateLimited { retry_after_secs };
        if let Some(address) = &self.address {
            self.limits.login_failures_per_address.check(address).map_err(retry)?;
        }
        if let Some(account) = &self.account {
            self.limits.login_failures_per_user.check(account).map_err(retry)?;
        }
        Ok(())
    }

    fn charge(&self) {
        if let Some(address) = self.address {
            self.limits.login_failures_per_address.charge(address);
        }
        if let Some(account) = &self.account {
            self.limits.login_failures_per_user.charge(account.clone());
        }
    }

    /// Charges a failure when `result` is a 401.
    fn charged<T>(&self, result: Result<T>) -> Result<T> {
        if let Err(Error::Unauthorized { .. }) = &result {
            self.charge();
        }
        result
    }
}

/// Exchange a refresh token for a new access token.
#[utoipa::path(post, path = "/api/token/refresh/", tag = "auth", request_body = TokenRefreshBody,
    responses(
        (status = 200, body = TokenRefreshed),
        (status = 400, body = BadRequestBody),
        (status = 401, description = "Invalid, expired, blacklisted or non-refresh token", body = ErrorBody),
        (status = 429, description = "Throttled", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientAddress,
    body: JsonObject,
) -> Result<Json<TokenRefreshed>> {
    let mut fields = Fields::new(body.0);
    let token = fields.text("refresh", Text::required(MAX_TOKEN_CHARS));
    fields.finish()?;
    let by_address = Throttle::new(&state, &client, None);
    by_address.check()?;
    let claims =
        by_address.charged(tokens::check_refresh(&state.store, &state.jwt, &token.unwrap_or_default()).await)?;
    // Per account too: "#<id>" cannot collide with a username, which has no '#'.
    let throttle = Throttle::new(&state, &client, Some(format!("#{}", claims.user_id)));
    throttle.check()?;
    let rotation = Rotation {
        rotate: state.config.rotate_refresh_tokens,
        blacklist_after: state.config.blacklist_after_rotation,
    };
    let (access, refresh) = throttle.charged(tokens::refresh(&state.store, &state.jwt, rotation, claims).await)?;
    Ok(Json(TokenRefreshed { access, refresh }))
}

/// Log out: the refresh token is blacklisted and can no longer be used.
/// (Access tokens stay valid until they expire, as with SimpleJWT.)
#[utoipa::path(post, path = "/api/token/blacklist/", tag = "auth", request_body = TokenRefreshBody,
    responses(
        (status = 200, description = "Blacklisted: an empty object", body = Object),
        (status = 400, body = BadRequestBody),
        (status = 401, description = "Invalid, expired, already blacklisted or non-refresh token", body = ErrorBody),
    ))]
pub async fn blacklist(State(state): State<AppState>, body: JsonObject) -> Result<Json<serde_json::Value>> {
    let mut fields = Fields::new(body.0);
    let token = fields.text("refresh", Text::required(MAX_TOKEN_CHARS));
    fields.finish()?;
    let claims = tokens::check_refresh(&state.store, &state.jwt, &token.unwrap_or_default()).await?;
    tokens::blacklist(&state.store, &claims).await?;
    Ok(Json(serde_json::json!({})))
}

/// Check a token's signature and expiry (either type).
#[utoipa::path(post, path = "/api/token/verify/", tag = "auth", request_body = TokenVerifyBody,
    responses(
        (status = 200, description = "Valid: an empty object", body = Object),
        (status = 400, body = BadRequestBody),
        (status = 401, body = ErrorBody),
    ))]
pub async fn verify(State(state): State<AppState>, body: JsonObject) -> Result<Json<serde_json::Value>> {
    let mut fields = Fields::new(body.0);
    let token = fields.text("token", Text::required(MAX_TOKEN_CHARS));
    fields.finish()?;
    let claims = state.jwt.verify(&token.unwrap_or_default(), None)?;
    // As SimpleJWT's verify with the blacklist app: a validation error.
    if claims.token_type == TokenType::Refresh
        && crate::store::tokens::is_blacklisted(state.store.reader(), &claims.jti).await?
    {
        return Err(Error::field("non_field_errors", "Token is blacklisted"));
    }
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
