//! Ed25519 signing keys (`JWT_SIGNING_KEYS`, a secret) and the JWKS built from them.
//!
//! Format (what `identity gen-key` prints):
//! `{"signing_kid": "k-...", "keys": [{"kid": "k-...", "private_key": "<base64 PKCS#8 DER>"},
//!  {"kid": "k-old", "public_key": "<base64url raw 32 bytes>"}]}`
//!
//! Rotation: `identity rotate-key < current.json` adds a key and makes it the signing key; the previous key stays
//! in the set (so tokens it signed keep verifying). Remove it once `ACCESS_TOKEN_TTL_SECONDS` (plus the services'
//! `JWKS_MAX_AGE_SECONDS`) have passed. Keys are never in the repository: generated at deploy time into the secret,
//! and locally into `.local/`.

use std::fmt;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::{
    rand::SystemRandom,
    signature::{Ed25519KeyPair, KeyPair},
};
use serde::{Deserialize, Serialize};
use switchyard_auth::jwks::{Jwk, JwkSet};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub signing_kid: String,
    pub keys: Vec<KeyEntry>,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

impl fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("private_key", &self.private_key.as_ref().map(|_| "***"))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "JWT_SIGNING_KEYS is not valid JSON of the form {{\"signing_kid\": ..., \"keys\": [...]}}: {0}"
    )]
    Json(#[from] serde_json::Error),
    #[error(
        "JWT_SIGNING_KEYS: key {0:?} has no usable Ed25519 key (private_key: base64 PKCS#8; public_key: base64url)"
    )]
    BadKey(String),
    #[error("JWT_SIGNING_KEYS: signing_kid {0:?} is not among the keys with a private key")]
    NoSigningKey(String),
    #[error("JWT_SIGNING_KEYS: kid {0:?} appears twice")]
    Duplicate(String),
    #[error("cannot generate a key: {0}")]
    Generate(String),
    #[error("signing failed: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// The parsed key set: one signing key, every verifying key.
pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("signing_kid", &self.kid)
            .field(
                "kids",
                &self.jwks.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl SigningKeys {
    pub fn parse(json: &str) -> Result<Self, KeyError> {
        Self::from_file(&serde_json::from_str(json)?)
    }

    pub fn from_file(file: &KeyFile) -> Result<Self, KeyError> {
        let mut jwks = JwkSet::default();
        let mut encoding = None;
        for entry in &file.keys {
            if jwks.keys.iter().any(|k| k.kid == entry.kid) {
                return Err(KeyError::Duplicate(entry.kid.clone()));
            }
            let bad = || KeyError::BadKey(entry.kid.clone());
            let public = match (&entry.private_key, &entry.public_key) {
                (Some(private), _) => {
                    let der = STANDARD.decode(private.trim()).map_err(|_| bad())?;
                    let pair =
                        Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|_| bad())?;
                    if entry.kid == file.signing_kid {
                        encoding = Some(EncodingKey::from_ed_der(&der));
                    }
                    pair.public_key().as_ref().to_vec()
                }
                (None, Some(public)) => URL_SAFE_NO_PAD
                    .decode(public.trim())
                    .ok()
                    .filter(|k| k.len() == 32)
                    .ok_or_else(bad)?,
                (None, None) => return Err(bad()),
            };
            jwks.keys
                .push(Jwk::ed25519(&entry.kid, URL_SAFE_NO_PAD.encode(public)));
        }
        Ok(Self {
            kid: file.signing_kid.clone(),
            encoding: encoding.ok_or_else(|| KeyError::NoSigningKey(file.signing_kid.clone()))?,
            jwks,
        })
    }

    pub fn signing_kid(&self) -> &str {
        &self.kid
    }

    /// The public keys (served at `/.well-known/jwks.json`).
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Signs `claims` (a user's `AccessClaims` or a service's `ServiceClaims`) with the signing key.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, KeyError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.encoding)?)
    }
}

/// A new key entry with a fresh Ed25519 key and a kid like `k-20261123-1a2b3c4d`.
pub fn generate_entry() -> Result<KeyEntry, KeyError> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| KeyError::Generate(e.to_string()))?;
    let kid = format!(
        "k-{}-{}",
        chrono::Utc::now().format("%Y%m%d"),
        hex::encode(rand::random::<[u8; 4]>())
    );
    Ok(KeyEntry {
        kid,
        private_key: Some(STANDARD.encode(pkcs8.as_ref())),
        public_key: None,
    })
}

/// `identity gen-key`: a new key file with one key.
pub fn generate() -> Result<KeyFile, KeyError> {
    let entry = generate_entry()?;
    Ok(KeyFile {
        signing_kid: entry.kid.clone(),
        keys: vec![entry],
    })
}

/// `identity rotate-key`: adds a key to `file` and signs with it from now on.
pub fn rotate(mut file: KeyFile) -> Result<KeyFile, KeyError> {
    let entry = generate_entry()?;
    file.signing_kid = entry.kid.clone();
    file.keys.push(entry);
    SigningKeys::from_file(&file)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_sign_and_rotation_keeps_old_keys() {
        let file = generate().unwrap();
        let keys = SigningKeys::from_file(&file).unwrap();
        assert_eq!(keys.jwks().keys.len(), 1);
        let rotated = rotate(file.clone()).unwrap();
        let keys2 = SigningKeys::from_file(&rotated).unwrap();
        assert_ne!(keys2.signing_kid(), keys.signing_kid());
        assert_eq!(keys2.jwks().keys.len(), 2);
        assert!(format!("{:?}", rotated.keys[0]).contains("***"));
        let json = serde_json::to_string(&rotated).unwrap();
        assert!(SigningKeys::parse(&json).is_ok());
        assert!(SigningKeys::parse(r#"{"signing_kid":"x","keys":[]}"#).is_err());
    }

    /// The upgrade guard (jsonwebtoken 9 -> 10, CVE-2026-25537): a token identity signs still verifies through
    /// switchyard-auth, as every service checks it, and a token by a retired-then-removed key does not.
    #[tokio::test]
    async fn a_token_signed_by_identity_verifies_in_switchyard_auth() {
        use std::time::Duration;
        use switchyard_auth::{
            jwks::{KeyCache, StaticJwks},
            verify::Verifier,
        };
        let keys = SigningKeys::from_file(&generate().unwrap()).unwrap();
        let settings = crate::tokens::TokenSettings {
            issuer: "https://identity.test".into(),
            audience: "switchyard".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            refresh_reuse_grace: Duration::from_secs(20),
            service_ttl: Duration::from_secs(300),
        };
        let (user, sid) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
        let token = crate::tokens::access_token(&keys, &settings, user, sid, 7).unwrap();
        let verifier = |set: JwkSet| {
            Verifier::new(
                KeyCache::new(
                    Box::new(StaticJwks(set)),
                    Duration::from_secs(30),
                    Duration::from_secs(300),
                ),
                "https://identity.test",
                "switchyard",
                Duration::from_secs(5),
            )
        };
        let claims = verifier(keys.jwks().clone()).verify(&token).await.unwrap();
        assert_eq!((claims.sub, claims.sid, claims.pv), (user, sid, 7));
        let other = SigningKeys::from_file(&generate().unwrap()).unwrap();
        assert!(verifier(other.jwks().clone()).verify(&token).await.is_err());
    }
}
