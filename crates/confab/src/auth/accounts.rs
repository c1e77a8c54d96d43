//! Accounts: creation, authentication, password and role changes. Shared by
//! the token endpoints and the admin CLI, so both apply the same rules.

use crate::chat::types::limits::USERNAME_MAX;
use crate::error::{Error, Result};
use crate::store::{self, entities::users, Store};

use super::{password, CurrentUser};

/// Django's `UnicodeUsernameValidator`: letters, digits and `@.+-_`, at most 150.
pub fn check_username(username: &str) -> Result<()> {
    let length = username.chars().count();
    if length == 0 {
        return Err(Error::field("username", "This field may not be blank."));
    }
    if length > USERNAME_MAX {
        return Err(Error::field(
            "username",
            format!("Ensure this field has no more than {USERNAME_MAX} characters."),
        ));
    }
    if !username.chars().all(|c| c.is_alphanumeric() || "@.+-_".contains(c)) {
        return Err(Error::field(
            "username",
            "Enter a valid username. This value may contain only letters, numbers, and @/./+/-/_ characters.",
        ));
    }
    Ok(())
}

pub fn check_password(password: &str, username: &str) -> Result<()> {
    let problems = password::check_strength(password, username);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid([("password".to_owned(), problems)].into()))
    }
}

/// Creates an active user, optionally with the `developer` role.
pub async fn create_user(store: &Store, username: &str, password: &str, developer: bool) -> Result<users::Model> {
    check_username(username)?;
    check_password(password, username)?;
    let hash = password::hash(password.to_owned()).await?;
    let txn = store.begin().await?;
    let user = match store::users::insert(&txn, username, &hash).await {
        Ok(user) => user,
        Err(e) if store::is_unique_violation(&e) => {
            return Err(Error::field("username", "A user with that username already exists."))
        }
        Err(e) => return Err(e.into()),
    };
    if developer {
        store::users::grant(&txn, user.id, crate::chat::types::DEVELOPER_ROLE).await?;
    }
    txn.commit().await?;
    Ok(user)
}

/// The active user with these credentials, or `None`. Takes the same time
/// whether or not the username exists.
pub async fn authenticate(store: &Store, username: &str, password: &str) -> Result<Option<users::Model>> {
    let user = if username.chars().count() <= USERNAME_MAX {
        store::users::find_by_username(store.reader(), username).await?
    } else {
        None
    };
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let password_ok = password::verify(password.to_owned(), stored_hash).await?;
    Ok(user.filter(|u| password_ok && u.is_active))
}

/// A user looked up by id, active or not.
pub struct FoundUser {
    pub user: CurrentUser,
    pub active: bool,
    /// Unix seconds: tokens issued at or before it are refused (password changed,
    /// account deactivated).
    pub tokens_valid_after: i64,
}

impl FoundUser {
    /// Whether a token issued at `iat` (unix seconds) still speaks for this
    /// user. A token from the very second of a password change is refused
    /// too: `iat` has no finer grain, and refusing a new token (the client
    /// logs in again) beats accepting an old one.
    pub fn accepts_token_issued_at(&self, iat: i64) -> bool {
        self.active && iat > self.tokens_valid_after
    }
}

/// The user behind a verified token, with their roles.
pub async fn find_user(store: &Store, user_id: i64) -> Result<Option<FoundUser>> {
    let Some(user) = store::users::find(store.reader(), user_id).await? else {
        return Ok(None);
    };
    let roles = store::users::roles(store.reader(), user.id).await?;
    let active = user.is_active;
    let tokens_valid_after = user.tokens_valid_after;
    Ok(Some(FoundUser {
        tokens_valid_after,
        user: CurrentUser {
            id: user.id,
            username: user.username,
            roles,
        },
        active,
    }))
}

pub async fn find_by_username(store: &Store, username: &str) -> Result<users::Model> {
    store::users::find_by_username(store.reader(), username)
        .await?
        .ok_or_else(|| Error::BadRequest(format!("no user named {username:?}")))
}

pub async fn set_password(store: &Store, username: &str, password: &str) -> Result<()> {
    let user = find_by_username(store, username).await?;
    check_password(password, &user.username)?;
    let hash = password::hash(password.to_owned()).await?;
    let txn = store.begin().await?;
    store::users::set_password_hash(&txn, user.id, &hash).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn set_active(store: &Store, username: &str, active: bool) -> Result<()> {
    let user = find_by_username(store, username).await?;
    let txn = store.begin().await?;
    store::users::set_active(&txn, user.id, active).await?;
    txn.commit().await?;
    Ok(())
}

/// Grants (`true`) or revokes (`false`) a global role. Returns whether anything changed.
pub async fn set_role(store: &Store, username: &str, role: &str, granted: bool) -> Result<bool> {
    let user = find_by_username(store, username).await?;
    let txn = store.begin().await?;
    let had = store::users::roles(&txn, user.id).await?.iter().any(|r| r == role);
    if granted && !had {
        store::users::grant(&txn, user.id, role).await?;
    } else if !granted && had {
        store::users::revoke(&txn, user.id, role).await?;
    }
    txn.commit().await?;
    Ok(had != granted)
}
