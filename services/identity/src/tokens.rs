//! Issuing tokens: signed access tokens (claims in `switchyard_auth::AccessClaims`) and opaque refresh tokens, and
//! the sealed successor that lets a rotated refresh token be presented again for a short while (see
//! [`seal_successor`]).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchyard_auth::{AccessClaims, ServiceClaims, TOKEN_TYPE_ACCESS, TOKEN_TYPE_SERVICE};
use uuid::Uuid;

use crate::keys::{KeyError, SigningKeys};

/// Who issues what for how long.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How long a rotated refresh token may be presented again and get the same successor pair instead of
    /// counting as reuse (`REFRESH_REUSE_GRACE_SECONDS`; zero: never).
    pub refresh_reuse_grace: Duration,
    /// Lifetime of a service's token (client credentials; `SERVICE_TOKEN_TTL_SECONDS`).
    pub service_ttl: Duration,
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

/// A signed service token for `client_id` with `scope` (space-separated), `typ` = `service`: accepted only where a
/// service is expected (switchyard_auth's `ServiceCaller`), never as a user's token.
pub fn service_token(
    keys: &SigningKeys,
    settings: &TokenSettings,
    client_id: &str,
    scope: &str,
) -> Result<String, KeyError> {
    let now = chrono::Utc::now().timestamp();
    keys.sign(&ServiceClaims {
        iss: settings.issuer.clone(),
        aud: settings.audience.clone(),
        sub: client_id.to_owned(),
        exp: now + settings.service_ttl.as_secs() as i64,
        nbf: now,
        iat: now,
        jti: Uuid::now_v7(),
        typ: TOKEN_TYPE_SERVICE.into(),
        scope: scope.to_owned(),
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

/// What a rotation issued: returned again when the rotated token is presented within the grace window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessorPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// The sealing key of a rotated token's successor: derived from the rotated token itself (256 random bits, stored
/// only as a hash), so only a holder of that token can open the sealed pair — a copy of the database cannot.
fn successor_key(presented: &str) -> Option<LessSafeKey> {
    let mut hasher = Sha256::new();
    hasher.update(b"switchyard refresh successor v1\0");
    hasher.update(presented.as_bytes());
    let key = hasher.finalize();
    UnboundKey::new(&CHACHA20_POLY1305, &key)
        .ok()
        .map(LessSafeKey::new)
}

/// Seals `pair` (ChaCha20-Poly1305) for storage with the token it replaced. Each key seals exactly one message
/// (a refresh token is rotated once), so the all-zero nonce is never reused with a key.
pub fn seal_successor(presented: &str, pair: &SuccessorPair) -> Vec<u8> {
    // Sealing cannot fail for a 32-byte key and a short message; if it did, the grace window would not apply.
    let mut data = serde_json::to_vec(pair).unwrap_or_default();
    let sealed = successor_key(presented).is_some_and(|key| {
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut data,
        )
        .is_ok()
    });
    if sealed { data } else { Vec::new() }
}

/// Opens what [`seal_successor`] sealed for `presented`; `None` for anything else.
pub fn open_successor(presented: &str, sealed: &[u8]) -> Option<SuccessorPair> {
    let mut data = sealed.to_vec();
    let plain = successor_key(presented)?
        .open_in_place(
            Nonce::assume_unique_for_key([0; 12]),
            Aad::empty(),
            &mut data,
        )
        .ok()?;
    serde_json::from_slice(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rotated_token_opens_its_successor() {
        let (presented, _) = refresh_token();
        let pair = SuccessorPair {
            access_token: "a.b.c".into(),
            refresh_token: refresh_token().0,
        };
        let sealed = seal_successor(&presented, &pair);
        assert!(!String::from_utf8_lossy(&sealed).contains(&pair.refresh_token));
        assert_eq!(open_successor(&presented, &sealed), Some(pair));
        assert_eq!(open_successor(&refresh_token().0, &sealed), None);
        let mut tampered = sealed.clone();
        tampered[0] ^= 1;
        assert_eq!(open_successor(&presented, &tampered), None);
    }
}
