//! Access-token verification. Each check has its own [`Rejection`] so the debug log says why; the client always
//! gets the same 401.

use std::{collections::HashMap, time::Duration};

use jsonwebtoken::{Algorithm, Validation, decode, decode_header};
use serde::de::DeserializeOwned;

use crate::{
    claims::{AccessClaims, MAX_TOKEN_BYTES, ServiceClaims, TOKEN_TYPE_ACCESS, TOKEN_TYPE_SERVICE},
    jwks::KeyCache,
};

/// Why a token was refused (for logs only).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Rejection {
    /// No `Authorization` header, or another scheme than Bearer: no credentials (401 without `error=`).
    #[error("no Authorization: Bearer header")]
    Missing,
    #[error("more than one Authorization header")]
    Repeated,
    #[error("Authorization: Bearer without a readable token")]
    Malformed,
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
    #[error("typ is {0:?}, not service")]
    NotService(String),
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

    /// A user's access token (`typ` = `access`). Verified tokens are remembered (the `verified` cache).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        if let Some(claims) = self.cached(token) {
            return Ok(claims);
        }
        let (kid, claims) = self.decode_verified::<AccessClaims>(token).await?;
        if claims.typ != TOKEN_TYPE_ACCESS {
            return Err(Rejection::NotAccess(claims.typ));
        }
        self.remember(token, kid, &claims);
        Ok(claims)
    }

    /// A service's access token (`typ` = `service`, client credentials). Never a user's token: a user token lacks
    /// `scope` and carries `typ` = `access`, so it is refused here, as a service token is refused by
    /// [`Verifier::verify`]. Not cached: services present their token only on cache misses.
    pub async fn verify_service(&self, token: &str) -> Result<ServiceClaims, Rejection> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Rejection::TooLong);
        }
        let (_, claims) = self.decode_verified::<ServiceClaims>(token).await?;
        if claims.typ != TOKEN_TYPE_SERVICE {
            return Err(Rejection::NotService(claims.typ));
        }
        Ok(claims)
    }

    /// Signature (EdDSA only, by a known `kid`) and the static claims; returns the `kid` and the claims.
    async fn decode_verified<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<(String, C), Rejection> {
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
        let data = decode::<C>(token, &key, &self.validation)
            .map_err(|e| Rejection::Invalid(e.to_string()))?;
        Ok((kid, data.claims))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwks::{Jwk, JwkSet, StaticJwks};
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use jsonwebtoken::{EncodingKey, Header, encode};
    use ring::{
        rand::SystemRandom,
        signature::{Ed25519KeyPair, KeyPair},
    };
    use uuid::Uuid;

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://identity.test".into(),
            aud: "switchyard".into(),
            sub: Uuid::now_v7(),
            exp: now + 600,
            nbf: now,
            iat: now,
            jti: Uuid::now_v7(),
            typ: TOKEN_TYPE_ACCESS.into(),
            pv: 1,
            sid: Uuid::now_v7(),
        }
    }

    /// jsonwebtoken >= 10 does its cryptography through a provider chosen by a cargo feature (`aws_lc_rs` here);
    /// with none it panics on the first sign or verify. This signs and verifies an EdDSA token end to end through
    /// the workspace's dependency declaration, so a build without a backend fails here, not in production.
    #[tokio::test]
    async fn the_crypto_backend_signs_and_verifies_eddsa() {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
        let keys = KeyCache::new(
            Box::new(StaticJwks(JwkSet {
                keys: vec![Jwk::ed25519("k1", x)],
            })),
            Duration::from_secs(30),
            Duration::from_secs(300),
        );
        let verifier = Verifier::new(
            keys,
            "https://identity.test",
            "switchyard",
            Duration::from_secs(5),
        );
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let claims = claims(chrono_now());
        let token = encode(&header, &claims, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_eq!(verifier.verify(&token).await, Ok(claims));

        // A signature by another key under the same kid is refused by the backend's verification.
        let other = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let forged = encode(
            &header,
            &self::claims(chrono_now()),
            &EncodingKey::from_ed_der(other.as_ref()),
        )
        .unwrap();
        assert!(matches!(
            verifier.verify(&forged).await,
            Err(Rejection::Invalid(_))
        ));

        // A user token is never a service token, and a service token never a user token.
        assert!(verifier.verify_service(&token).await.is_err());
        let now = chrono_now();
        let service = ServiceClaims {
            iss: "https://identity.test".into(),
            aud: "switchyard".into(),
            sub: "tasks".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: Uuid::now_v7(),
            typ: TOKEN_TYPE_SERVICE.into(),
            scope: "permissions:read".into(),
        };
        let service_token =
            encode(&header, &service, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_eq!(
            verifier.verify_service(&service_token).await,
            Ok(service.clone())
        );
        assert!(verifier.verify(&service_token).await.is_err());
        // A service-shaped token that says it is a user's access token is refused by both.
        let posing = ServiceClaims {
            typ: TOKEN_TYPE_ACCESS.into(),
            ..service
        };
        let posing = encode(&header, &posing, &EncodingKey::from_ed_der(pkcs8.as_ref())).unwrap();
        assert_eq!(
            verifier.verify_service(&posing).await,
            Err(Rejection::NotService("access".into()))
        );
        assert!(verifier.verify(&posing).await.is_err());
    }
}
