//! A refresh token's life after it is issued: exchanged for an access token
//! (rotated and blacklisted, when configured), blacklisted at logout, and
//! forgotten once it would have expired anyway. SimpleJWT's `token_blacklist`
//! app, with its `BLACKLIST_AFTER_ROTATION`.

use std::time::Duration;

use super::accounts;
use super::jwt::{Claims, JwtKeys, TokenType};
use crate::error::{Error, Result};
use crate::store::{self, Store};

fn blacklisted() -> Error {
    Error::token_not_valid("Token is blacklisted")
}

/// How `/api/token/refresh/` treats the token it is given.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    /// Return a new refresh token too (`ROTATE_REFRESH_TOKENS`)...
    pub rotate: bool,
    /// ...and blacklist the one given, so it works once (`BLACKLIST_AFTER_ROTATION`).
    pub blacklist_after: bool,
}

/// A verified refresh token that is not blacklisted.
pub async fn check_refresh(store: &Store, jwt: &JwtKeys, token: &str) -> Result<Claims> {
    let claims = jwt.verify(token, Some(TokenType::Refresh))?;
    if store::tokens::is_blacklisted(store.reader(), &claims.jti).await? {
        return Err(blacklisted());
    }
    Ok(claims)
}

/// A new access token (and, rotating, a new refresh token) for a valid
/// refresh token of an active user, issued after their last password change.
pub async fn refresh(
    store: &Store,
    jwt: &JwtKeys,
    rotation: Rotation,
    claims: Claims,
) -> Result<(String, Option<String>)> {
    let found = accounts::find_user(store, claims.user_id).await?;
    match found {
        Some(found) if found.accepts_token_issued_at(claims.iat) => {}
        Some(found) if found.active => return Err(Error::token_not_valid("Token is invalid or expired")),
        // A deactivated user's refresh token stops working at once.
        _ => {
            return Err(Error::Unauthorized {
                detail: "No active account found for the given token.".into(),
                code: Some("no_active_account"),
            })
        }
    }
    let refresh = if rotation.rotate {
        // Blacklisted first: of two requests racing with one token, one wins.
        if rotation.blacklist_after && !blacklist_claims(store, &claims).await? {
            return Err(blacklisted());
        }
        Some(jwt.issue(claims.user_id, TokenType::Refresh))
    } else {
        None
    };
    Ok((jwt.issue(claims.user_id, TokenType::Access), refresh))
}

/// Logout: the refresh token works no more. Blacklisting it twice is the
/// 401 SimpleJWT gives.
pub async fn blacklist(store: &Store, claims: &Claims) -> Result<()> {
    if blacklist_claims(store, claims).await? {
        Ok(())
    } else {
        Err(blacklisted())
    }
}

async fn blacklist_claims(store: &Store, claims: &Claims) -> Result<bool> {
    let txn = store.begin().await?;
    let added = store::tokens::blacklist(&txn, &claims.jti, claims.user_id, claims.exp).await?;
    if added {
        txn.commit().await?;
    }
    Ok(added)
}

/// Forgets blacklisted tokens past their expiry, hourly, until dropped. The
/// first purge is an hour after start-up, not at it: a server started and
/// stopped at once (tests, a failed deploy) should not be caught mid-write.
pub async fn purge_blacklist(store: Store) {
    let hour = Duration::from_secs(3600);
    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + hour, hour);
    loop {
        every.tick().await;
        let now = chrono::Utc::now().timestamp();
        let purged = async {
            let txn = store.begin().await?;
            store::tokens::purge_expired(&txn, now).await?;
            txn.commit().await
        };
        if let Err(error) = purged.await {
            tracing::warn!(%error, "could not purge expired blacklisted tokens");
        }
    }
}
