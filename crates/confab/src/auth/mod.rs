//! Authentication: SimpleJWT-compatible tokens ([`jwt`]), password hashing
//! ([`password`]), accounts ([`accounts`]) and the request extractors
//! ([`extract`]) that turn a bearer token into a [`CurrentUser`].

pub mod accounts;
pub mod extract;
pub mod jwt;
pub mod password;
pub mod tokens;

pub use extract::{Authenticated, Developer};

use rand::Rng;

use crate::chat::types::{UserRef, DEVELOPER_ROLE};

/// The authenticated caller of a request or socket.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub id: i64,
    pub username: String,
    /// Global roles, e.g. `developer`.
    pub roles: Vec<String>,
}

impl CurrentUser {
    pub fn is_developer(&self) -> bool {
        self.roles.iter().any(|r| r == DEVELOPER_ROLE)
    }

    pub fn as_ref(&self) -> UserRef {
        UserRef {
            id: self.id,
            username: self.username.clone(),
        }
    }
}

/// A random string of `len` URL-safe characters (secrets, demo passwords).
pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}
