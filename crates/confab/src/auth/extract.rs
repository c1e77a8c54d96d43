//! Request extractors. A handler that takes [`Authenticated`] runs only for a
//! valid access token of an active user; [`Developer`] additionally requires
//! the `developer` role. A bad token is always a 401, never "anonymous".

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::jwt::TokenType;
use super::{accounts, CurrentUser};
use crate::app::AppState;
use crate::error::Error;

/// Any authenticated, active user (e.g. `/api/auth/me/`).
pub struct Authenticated(pub CurrentUser);

/// An authenticated user with the `developer` role: every `/api/chat/...` call.
pub struct Developer(pub CurrentUser);

/// The token of an `Authorization: Bearer <token>` header. `None` when there
/// is no header or another scheme (DRF then treats the request as
/// unauthenticated); an error when the header is malformed.
pub fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Error> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| Error::token_not_valid("Authorization header is not valid text"))?;
    let mut parts = value.split_whitespace();
    match (parts.next(), parts.next(), parts.next()) {
        (Some("Bearer"), Some(token), None) => Ok(Some(token)),
        (Some(scheme), _, _) if scheme != "Bearer" => Ok(None),
        _ => Err(Error::Unauthorized {
            detail: "Authorization header must contain two space-delimited values".into(),
            code: Some("bad_authorization_header"),
        }),
    }
}

/// Resolves an access token to its active user (shared with the socket handshake).
pub async fn user_for_token(state: &AppState, token: &str) -> Result<CurrentUser, Error> {
    let claims = state
        .jwt
        .verify(token, Some(TokenType::Access))
        .map_err(|_| Error::token_not_valid("Given token not valid for any token type"))?;
    match accounts::find_user(&state.store, claims.user_id).await? {
        None => Err(Error::Unauthorized {
            detail: "User not found".into(),
            code: Some("user_not_found"),
        }),
        Some(found) if !found.active => Err(Error::Unauthorized {
            detail: "User is inactive".into(),
            code: Some("user_inactive"),
        }),
        // Issued before a password change or deactivation: the client must log in again.
        Some(found) if !found.accepts_token_issued_at(claims.iat) => {
            Err(Error::token_not_valid("Given token not valid for any token type"))
        }
        Some(found) => Ok(found.user),
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let token = bearer_token(&parts.headers)?.ok_or_else(Error::not_authenticated)?;
        let user = user_for_token(state, token).await?;
        tracing::Span::current().record("user_id", user.id);
        Ok(Authenticated(user))
    }
}

impl FromRequestParts<AppState> for Developer {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        let Authenticated(user) = Authenticated::from_request_parts(parts, state).await?;
        if user.is_developer() {
            Ok(Developer(user))
        } else {
            Err(Error::Forbidden(
                "Only users with the developer role may use chat.".into(),
            ))
        }
    }
}
