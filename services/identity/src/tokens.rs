//! Issuing tokens: signed access tokens (claims in `switchyard_auth::AccessClaims`) and opaque refresh tokens.

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use switchyard_auth::{AccessClaims, TOKEN_TYPE_ACCESS};
use uuid::Uuid;

use crate::keys::{KeyError, SigningKeys};

/// Who issues what for how long.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
}

/// A signed access token for `user` in session `sid` at permissions version `pv`.
pub fn access_token(
    keys: &SigningKeys,
    settings: &TokenSettings,
    user: Uuid,
    sid: Uuid,
    pv: i64,
) -> Result<String, KeyError> {
    let now = chrono::Utc::now().timestamp();
    keys.sign(&AccessClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: user,
        exp: now + settings.access_ttl.as_secs() as i64,
        nbf: now,
        iat: now,
        jti: Uuid::now_v7(),
        typ: TOKEN_TYPE_ACCESS.into(),
        pv,
        sid,
    })
}

/// A new refresh token (256 random bits, base64url) and the hash to store.
pub fn refresh_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = hash_refresh(&token);
    (token, hash)
}

pub fn hash_refresh(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}
