//! Password hashing with argon2id (the `argon2` crate's defaults: 19 MiB, 2
//! passes). Hashing is CPU-bound for tens of milliseconds, so it always runs on
//! the blocking pool, never on an async worker, and at most one hash per core
//! runs at a time: a burst of logins queues instead of taking 19 MiB each (the
//! allocator keeps that memory) and slowing every hash down.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::error::Error;

pub const MIN_LENGTH: usize = 8;
/// Bounds the work an anonymous caller can ask of the hasher.
pub const MAX_LENGTH: usize = 1024;

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt)?.to_string())
}

/// One permit per core: the most hashes worth running at once.
fn hashers() -> &'static Arc<Semaphore> {
    static HASHERS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    HASHERS.get_or_init(|| {
        Arc::new(Semaphore::new(
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ))
    })
}

/// Hashes waiting for a core, and how many may.
static WAITING: AtomicUsize = AtomicUsize::new(0);
static QUEUE_LIMIT: AtomicUsize = AtomicUsize::new(64);

/// Sets how many hashes may wait for a core (`password_hash_queue`).
pub fn set_queue_limit(limit: usize) {
    QUEUE_LIMIT.store(limit, Ordering::Relaxed);
}

/// A core to hash on. The permit goes into the blocking task and is given
/// back when the hash is done, not when the caller stops waiting: a client
/// that hangs up does not free a core its hash still uses. Beyond
/// `password_hash_queue` waiting, the answer is 503 at once.
async fn hasher() -> Result<OwnedSemaphorePermit, Error> {
    if let Ok(permit) = hashers().clone().try_acquire_owned() {
        return Ok(permit);
    }
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::AcqRel);
        }
    }
    let waiting = Waiting;
    if WAITING.fetch_add(1, Ordering::AcqRel) >= QUEUE_LIMIT.load(Ordering::Relaxed) {
        metrics::counter!("password_hash_refused_total").increment(1);
        return Err(Error::Unavailable("too many password checks waiting".into()));
    }
    let permit = hashers().clone().acquire_owned().await.map_err(Error::internal);
    drop(waiting);
    permit
}

pub async fn hash(password: String) -> Result<String, Error> {
    let permit = hasher().await?;
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        hash_blocking(&password)
    })
    .await
    .map_err(Error::internal)?
    .map_err(|e| Error::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// A hash of a random password with the same parameters as real ones, so a
/// login for an unknown user costs what a wrong password costs.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(&super::random_token(24)).expect("hashing a random password"))
}

/// Checks `password` against `stored`, or against a dummy hash when there is
/// no such user: both paths do the same work, so timing does not reveal
/// which usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, Error> {
    let permit = hasher().await?;
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (hash, real) = match &stored {
            Some(hash) => (hash.as_str(), true),
            None => (dummy_hash(), false),
        };
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        matches && real
    })
    .await;
    Ok(result.unwrap_or(false))
}

/// Warms the dummy hash at start-up so the first failed login is not slower.
pub fn prepare() {
    let _ = dummy_hash();
}

/// Django's default password validators, in short: long enough, not all
/// digits, not the username. Returns the messages of every rule broken.
pub fn check_strength(password: &str, username: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let length = password.chars().count();
    if length < MIN_LENGTH {
        problems.push(format!(
            "This password is too short. It must contain at least {MIN_LENGTH} characters."
        ));
    }
    if length > MAX_LENGTH {
        problems.push(format!(
            "This password is too long. It must contain at most {MAX_LENGTH} characters."
        ));
    }
    if !password.is_empty() && password.chars().all(|c| c.is_ascii_digit()) {
        problems.push("This password is entirely numeric.".to_owned());
    }
    let lowered = password.to_lowercase();
    let name = username.to_lowercase();
    if !name.is_empty() && (lowered.contains(&name) || name.contains(&lowered)) {
        problems.push("The password is too similar to the username.".to_owned());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let hash = hash("correct horse".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(hash.clone())).await.unwrap());
        assert!(!verify("wrong horse".into(), Some(hash)).await.unwrap());
        assert!(!verify("anything".into(), None).await.unwrap());
        assert!(!verify("anything".into(), Some("not-a-phc-string".into()))
            .await
            .unwrap());
    }

    #[test]
    fn strength_rules() {
        assert!(check_strength("long enough pass", "alice").is_empty());
        assert_eq!(check_strength("short", "bob").len(), 1);
        assert!(!check_strength("12345678901", "bob").is_empty());
        assert!(!check_strength("alice-password", "alice").is_empty());
    }
}
