//! Access-token verification. Each check has its own [`Rejection`] so the debug log says why; the client always
//! gets the same 401.

use std::{collections::HashMap, time::Duration};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};

use crate::{
    claims::{AccessClaims, MAX_TOKEN_BYTES, TOKEN_TYPE_ACCESS},
    jwks::KeyCache,
};

/// Why a token was refused (for logs only).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    #[error("no Authorization: Bearer header")]
    Missing,
    #[error("token sent in the query string (only the Authorization header is accepted)")]
    InQuery,
    #[error("token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLong,
    #[error("token does not have three segments")]
    Segments,
    #[error("unreadable header: {0}")]
    Header(String),
    #[error("algorithm {0} is not EdDSA")]
    Algorithm(String),
    #[error("no kid in the header")]
    NoKid,
    #[error("unknown kid {0:?}")]
    UnknownKid(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("typ is {0:?}, not access")]
    NotAccess(String),
}

pub struct Verifier {
    keys: KeyCache,
    validation: Validation,
    leeway: i64,
    /// Tokens whose signature and static claims were already verified, by their exact text. A signature check
    /// (Ed25519) costs far more than the rest of a request, and clients send the same token for minutes. On a hit
    /// only the time claims are re-checked, and the signing `kid` must still be in the key set.
    verified: std::sync::RwLock<HashMap<String, (String, AccessClaims)>>,
}

/// Entries in the verified-token cache before it is pruned (a few MiB at most).
const VERIFIED_CAPACITY: usize = 20_000;

impl Verifier {
    /// `leeway` tolerates clock skew on `exp`/`nbf` between identity and this service.
    pub fn new(keys: KeyCache, issuer: &str, audience: &str, leeway: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = leeway.as_secs();
        Self {
            keys,
            validation,
            leeway: leeway.as_secs() as i64,
            verified: Default::default(),
        }
    }

    pub fn keys(&self) -> &KeyCache {
        &self.keys
    }

    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        if let Some(claims) = self.cached(token) {
            return Ok(claims);
        }
        if token.split('.').count() != 3 {
            return Err(Rejection::Segments);
        }
        // decode_header fails for algorithms jsonwebtoken does not know, `none` included.
        let header = decode_header(token).map_err(|e| Rejection::Header(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(Rejection::Algorithm(format!("{:?}", header.alg)));
        }
        let kid = header.kid.ok_or(Rejection::NoKid)?;
        let key = self
            .keys
            .get(&kid)
            .await
            .ok_or_else(|| Rejection::UnknownKid(kid.chars().take(64).collect()))?;
        let data = decode::<AccessClaims>(token, &key, &self.validation)
            .map_err(|e| Rejection::Invalid(e.to_string()))?;
        if data.claims.typ != TOKEN_TYPE_ACCESS {
            return Err(Rejection::NotAccess(data.claims.typ));
        }
        self.remember(token, kid, &data.claims);
        Ok(data.claims)
    }

    fn cached(&self, token: &str) -> Option<AccessClaims> {
        let (kid, claims) = self.verified.read().ok()?.get(token).cloned()?;
        let now = chrono_now();
        let in_time = claims.exp > now - self.leeway && claims.nbf <= now + self.leeway;
        (in_time && self.keys.knows(&kid)).then_some(claims)
    }

    fn remember(&self, token: &str, kid: String, claims: &AccessClaims) {
        if let Ok(mut map) = self.verified.write() {
            if map.len() >= VERIFIED_CAPACITY {
                let now = chrono_now();
                map.retain(|_, (_, c)| c.exp > now - self.leeway);
                if map.len() >= VERIFIED_CAPACITY {
                    map.clear();
                }
            }
            map.insert(token.to_owned(), (kid, claims.clone()));
        }
    }
}

/// Seconds since the epoch.
fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
