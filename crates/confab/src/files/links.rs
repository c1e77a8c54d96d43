//! Signed download links: `/api/chat/files/{id}/?expires=<unix s>&signature=<b64>`
//! (and `.../thumbnail/?...`). The signature is an HMAC-SHA256, under a key
//! derived from the server's secret, of the file, the variant and the expiry:
//! a link works without an `Authorization` header (so `<img src>` loads it),
//! for that file only, until it expires. Nodes sharing the secret accept each
//! other's links.
//!
//! Message objects are built in many places (history, search, replays,
//! socket frames), and each must carry fresh links, so the signer is set once
//! per process ([`install`]) rather than handed down every call. A process
//! runs one server; in a test process the first server's key serves all,
//! which none of them can tell apart.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Which bytes of a file a link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Original,
    Thumbnail,
}

impl Variant {
    fn tag(self) -> &'static str {
        match self {
            Variant::Original => "file",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

/// Signs and checks links.
pub struct Links {
    key: Vec<u8>,
    ttl_secs: i64,
}

static LINKS: OnceLock<Links> = OnceLock::new();

/// Sets the process's signer from the server secret (the first call wins).
pub fn install(secret: &str, ttl_secs: u64) {
    let _ = LINKS.set(Links::new(secret, ttl_secs));
}

/// The process's signer. Before [`install`] (a CLI command that prints a
/// message, say) links are signed with a key nobody can check: they 403.
pub fn links() -> &'static Links {
    LINKS.get_or_init(|| Links::new(&format!("{:x}", rand::random::<u128>()), 60))
}

impl Links {
    pub fn new(secret: &str, ttl_secs: u64) -> Self {
        // A key of its own, so a file link can never be mistaken for a token.
        let mut derive = <HmacSha256 as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
        derive.update(b"confab file links v1");
        Self {
            key: derive.finalize().into_bytes().to_vec(),
            ttl_secs: ttl_secs.min(i64::MAX as u64) as i64,
        }
    }

    fn signature(&self, file_id: i64, variant: Variant, expires: i64) -> Vec<u8> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("{}:{file_id}:{expires}", variant.tag()).as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    /// The link to `file_id`'s bytes (or thumbnail), valid from now for the TTL.
    pub fn url(&self, file_id: i64, variant: Variant) -> String {
        self.url_expiring(
            file_id,
            variant,
            chrono::Utc::now().timestamp().saturating_add(self.ttl_secs),
        )
    }

    pub fn url_expiring(&self, file_id: i64, variant: Variant, expires: i64) -> String {
        let signature = URL_SAFE_NO_PAD.encode(self.signature(file_id, variant, expires));
        let path = match variant {
            Variant::Original => format!("/api/chat/files/{file_id}/"),
            Variant::Thumbnail => format!("/api/chat/files/{file_id}/thumbnail/"),
        };
        format!("{path}?expires={expires}&signature={signature}")
    }

    /// Whether `signature` is this server's for the file, variant and expiry,
    /// and the expiry has not passed. Compared in constant time.
    pub fn check(&self, file_id: i64, variant: Variant, expires: i64, signature: &str) -> bool {
        if expires < chrono::Utc::now().timestamp() {
            return false;
        }
        let Ok(given) = URL_SAFE_NO_PAD.decode(signature) else {
            return false;
        };
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.key).expect("any key length");
        mac.update(format!("{}:{file_id}:{expires}", variant.tag()).as_bytes());
        mac.verify_slice(&given).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> (i64, String) {
        let query = url.split_once('?').unwrap().1;
        let mut expires = 0;
        let mut signature = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => expires = v.parse().unwrap(),
                ("signature", v) => signature = v.to_owned(),
                _ => {}
            }
        }
        (expires, signature)
    }

    #[test]
    fn a_link_opens_its_own_file_and_variant_until_it_expires() {
        let links = Links::new("secret", 60);
        let url = links.url(7, Variant::Original);
        assert!(url.starts_with("/api/chat/files/7/?expires="), "{url}");
        let (expires, signature) = query(&url);
        assert!(links.check(7, Variant::Original, expires, &signature));
        assert!(!links.check(8, Variant::Original, expires, &signature), "another file");
        assert!(
            !links.check(7, Variant::Thumbnail, expires, &signature),
            "another variant"
        );
        assert!(
            !links.check(7, Variant::Original, expires + 1, &signature),
            "another expiry"
        );
        assert!(
            !Links::new("other", 60).check(7, Variant::Original, expires, &signature),
            "another key"
        );
        assert!(!links.check(7, Variant::Original, expires, "not-base64!"), "garbage");
        let past = chrono::Utc::now().timestamp() - 1;
        let (_, old) = query(&links.url_expiring(7, Variant::Original, past));
        assert!(!links.check(7, Variant::Original, past, &old), "expired");
    }
}
