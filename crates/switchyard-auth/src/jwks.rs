//! JSON Web Key Sets (RFC 7517/8037) of Ed25519 keys, and the cache that services keep of identity's set.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use jsonwebtoken::DecodingKey;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

/// One public key: `kty` OKP, `crv` Ed25519, `x` = the 32-byte public key, base64url without padding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub key_use: Option<String>,
}

impl Jwk {
    pub fn ed25519(kid: impl Into<String>, x: impl Into<String>) -> Self {
        Self {
            kty: "OKP".into(),
            crv: "Ed25519".into(),
            x: x.into(),
            kid: kid.into(),
            alg: Some("EdDSA".into()),
            key_use: Some("sig".into()),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching the JWKS from {url} failed: {source}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

/// Where the key set comes from: identity's `/.well-known/jwks.json`, or (inside identity) its own keys.
pub trait KeySource: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, JwksError>>;
}

/// `GET {IDENTITY_URL}/.well-known/jwks.json`.
#[derive(Debug, Clone)]
pub struct RemoteJwks {
    pub url: String,
    pub client: reqwest::Client,
}

impl KeySource for RemoteJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, JwksError>> {
        Box::pin(async move {
            let fail = |source| JwksError::Fetch {
                url: self.url.clone(),
                source,
            };
            self.client
                .get(&self.url)
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(fail)?
                .json::<JwkSet>()
                .await
                .map_err(fail)
        })
    }
}

/// A fixed key set (identity verifying its own tokens; tests).
pub struct StaticJwks(pub JwkSet);

impl KeySource for StaticJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<JwkSet, JwksError>> {
        Box::pin(std::future::ready(Ok(self.0.clone())))
    }
}

/// The verifying keys by `kid`.
pub struct KeyCache {
    source: Box<dyn KeySource>,
    /// The keys and when they were last fetched (or a fetch attempted). A std lock: never held across an await.
    state: std::sync::RwLock<Snapshot>,
    /// Serialises fetches, so a burst of tokens with an unknown `kid` causes one fetch, not one per request.
    fetching: Mutex<()>,
    /// At most one fetch per this interval for unknown `kid`s (a forged `kid` must not make us hammer identity).
    min_refresh: Duration,
    /// Known keys are re-fetched after this age, so removed (retired) keys stop verifying.
    max_age: Duration,
}

#[derive(Clone, Default)]
struct Snapshot {
    keys: Arc<HashMap<String, DecodingKey>>,
    fetched_at: Option<Instant>,
}

impl KeyCache {
    pub fn new(source: Box<dyn KeySource>, min_refresh: Duration, max_age: Duration) -> Self {
        Self {
            source,
            state: std::sync::RwLock::new(Snapshot::default()),
            fetching: Mutex::new(()),
            min_refresh,
            max_age,
        }
    }

    fn snapshot(&self) -> Snapshot {
        self.state.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Whether `kid` is in the current (possibly stale) set, without fetching.
    pub fn knows(&self, kid: &str) -> bool {
        let snap = self.state.read();
        snap.is_ok_and(|s| {
            s.keys.contains_key(kid) && s.fetched_at.is_some_and(|at| at.elapsed() < self.max_age)
        })
    }

    /// The key for `kid`, fetching the set if the `kid` is unknown (rate limited) or the set is old.
    pub async fn get(&self, kid: &str) -> Option<DecodingKey> {
        let snap = self.snapshot();
        let stale = snap
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        if !stale && let Some(key) = snap.keys.get(kid) {
            return Some(key.clone());
        }
        self.refresh(if stale {
            Duration::ZERO
        } else {
            self.min_refresh
        })
        .await;
        self.snapshot().keys.get(kid).cloned()
    }

    /// Fetches the set unless it was fetched less than `min_interval` ago. A failure keeps the old keys.
    pub async fn refresh(&self, min_interval: Duration) {
        let _one_at_a_time = self.fetching.lock().await;
        if self
            .snapshot()
            .fetched_at
            .is_some_and(|at| at.elapsed() < min_interval)
        {
            return;
        }
        let fetched = self.source.fetch().await;
        let now = Some(Instant::now());
        let keys = match fetched {
            Ok(set) => {
                let mut map = HashMap::new();
                for jwk in set.keys {
                    if jwk.kty != "OKP" || jwk.crv != "Ed25519" {
                        tracing::warn!(kid = %jwk.kid, kty = %jwk.kty, "ignoring a non-Ed25519 key in the JWKS");
                        continue;
                    }
                    match DecodingKey::from_ed_components(&jwk.x) {
                        Ok(key) => {
                            map.insert(jwk.kid, key);
                        }
                        Err(error) => {
                            tracing::warn!(kid = %jwk.kid, %error, "ignoring an unreadable key in the JWKS")
                        }
                    }
                }
                tracing::debug!(keys = map.len(), "JWKS refreshed");
                Arc::new(map)
            }
            Err(error) => {
                tracing::warn!(%error, "JWKS refresh failed; keeping the keys we have");
                self.snapshot().keys
            }
        };
        if let Ok(mut state) = self.state.write() {
            *state = Snapshot {
                keys,
                fetched_at: now,
            };
        }
    }
}
