//! Tokens compatible with djangorestframework-simplejwt: HS256, claims
//! `token_type`, `exp`, `iat`, `jti` and `user_id`. We write `user_id` as a
//! string (SimpleJWT 5.5) and accept numbers too (older versions), so tokens
//! minted by a Django deployment with the same signing key are accepted.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::Error;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub token_type: TokenType,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    #[serde(with = "user_id_text")]
    pub user_id: i64,
}

/// `user_id` is written as `"1"` and read from `"1"` or `1`.
mod user_id_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&id.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Id {
            Number(i64),
            Text(String),
        }
        match Id::deserialize(d)? {
            Id::Number(n) => Ok(n),
            Id::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// Signing keys and lifetimes.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_lifetime: Duration,
    refresh_lifetime: Duration,
}

pub struct TokenPair {
    pub access: String,
    pub refresh: String,
}

impl JwtKeys {
    pub fn new(secret: &str, access_lifetime: Duration, refresh_lifetime: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // SimpleJWT sets no audience or issuer by default; `exp` is checked with no leeway.
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            access_lifetime,
            refresh_lifetime,
        }
    }

    pub fn issue(&self, user_id: i64, token_type: TokenType) -> String {
        let now = chrono::Utc::now().timestamp();
        let lifetime = match token_type {
            TokenType::Access => self.access_lifetime,
            TokenType::Refresh => self.refresh_lifetime,
        };
        let claims = Claims {
            token_type,
            exp: now + lifetime.as_secs() as i64,
            iat: now,
            // SimpleJWT uses uuid4().hex.
            jti: uuid::Uuid::new_v4().simple().to_string(),
            user_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    pub fn issue_pair(&self, user_id: i64) -> TokenPair {
        TokenPair {
            access: self.issue(user_id, TokenType::Access),
            refresh: self.issue(user_id, TokenType::Refresh),
        }
    }

    /// Verifies signature, expiry and type. The error is SimpleJWT's 401.
    pub fn verify(&self, token: &str, expected: Option<TokenType>) -> Result<Claims, Error> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| Error::token_not_valid("Token is invalid or expired"))?
            .claims;
        match expected {
            Some(expected) if claims.token_type != expected => Err(Error::token_not_valid("Token has wrong type")),
            _ => Ok(claims),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn keys() -> JwtKeys {
        JwtKeys::new(
            "test-secret-0123456789",
            Duration::from_secs(300),
            Duration::from_secs(86400),
        )
    }

    fn payload(token: &str) -> serde_json::Value {
        let part = token.split('.').nth(1).unwrap();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn claims_match_simplejwt() {
        let token = keys().issue(7, TokenType::Access);
        let claims = payload(&token);
        assert_eq!(claims["token_type"], "access");
        assert_eq!(claims["user_id"], "7");
        assert_eq!(claims["jti"].as_str().unwrap().len(), 32);
        assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 300);
    }

    #[test]
    fn refresh_is_never_an_access_token() {
        let keys = keys();
        let refresh = keys.issue(7, TokenType::Refresh);
        assert!(keys.verify(&refresh, Some(TokenType::Access)).is_err());
        assert_eq!(keys.verify(&refresh, Some(TokenType::Refresh)).unwrap().user_id, 7);
        assert!(keys.verify(&refresh, None).is_ok());
    }

    #[test]
    fn accepts_numeric_user_id_from_older_simplejwt() {
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "token_type": "access", "exp": now + 60, "iat": now,
            "jti": "0123456789abcdef0123456789abcdef", "user_id": 42
        });
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"test-secret-0123456789"),
        )
        .unwrap();
        assert_eq!(keys().verify(&token, Some(TokenType::Access)).unwrap().user_id, 42);
    }

    #[test]
    fn rejects_other_secrets_expired_and_garbage() {
        let other = JwtKeys::new(
            "another-secret-987654",
            Duration::from_secs(300),
            Duration::from_secs(300),
        );
        assert!(keys().verify(&other.issue(1, TokenType::Access), None).is_err());
        let expired = JwtKeys::new("test-secret-0123456789", Duration::ZERO, Duration::ZERO);
        let token = expired.issue(1, TokenType::Access);
        std::thread::sleep(Duration::from_millis(1100));
        assert!(keys().verify(&token, None).is_err());
        assert!(keys().verify("not.a.token", None).is_err());
        assert!(keys().verify("", None).is_err());
    }
}
