//! [`Auth`] (state shared by a service's handlers), the [`AuthUser`] extractor (a user's access token) and the
//! [`ServiceCaller`] extractor (another service's client-credentials token).

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use secrecy::SecretString;
use switchyard_core::config::{self, ConfigError, Var};
use switchyard_http::ApiError;
use tokio_util::sync::{CancellationToken, DropGuard};
use uuid::Uuid;

use crate::{
    claims::{AccessClaims, SCOPE_PERMISSIONS_READ, ServiceClaims},
    client::{ClientCredentials, ServiceTokens},
    jwks::{KeyCache, KeySource, RemoteJwks},
    local::{self, PERMISSIONS_LOCAL_CACHE},
    permissions::{PermissionCache, PermissionSource, Permissions, RemotePermissions},
    redis::RedisHandle,
    verify::{Rejection, Verifier},
};

pub const IDENTITY_URL: Var = Var::new(
    "IDENTITY_URL",
    "identity's internal base URL (JWKS, permission refills), e.g. http://127.0.0.1:8081",
)
.example("http://identity.internal:8080");
pub const IDENTITY_CLIENT_ID: Var = Var::new(
    "IDENTITY_CLIENT_ID",
    "this service's client id at identity (`identity create-client --name <it>`), for its permission look-ups",
)
.example("tasks");
pub const IDENTITY_CLIENT_SECRET: Var = Var::new(
    "IDENTITY_CLIENT_SECRET",
    "the client secret `identity create-client` printed for IDENTITY_CLIENT_ID",
)
.secret()
.example("example-client-secret");
pub const JWT_ISSUER: Var = Var::new(
    "JWT_ISSUER",
    "the iss of access tokens, e.g. https://api.example.com",
)
.example("https://api.example.com");
pub const JWT_AUDIENCE: Var =
    Var::new("JWT_AUDIENCE", "the aud of access tokens, e.g. switchyard").example("switchyard");
pub const REDIS_URL: Var = Var::new(
    "REDIS_URL",
    "Redis (permission cache, login throttle): redis://127.0.0.1:6379, or rediss://:AUTH@host:6379 for TLS",
)
.secret()
.example("rediss://:secret@redis.internal:6379");
pub const REDIS_KEY_PREFIX: Var = Var::new(
    "REDIS_KEY_PREFIX",
    "prefix of every Redis key, so environments or tests can share one Redis",
)
.example("env:");
pub const JWKS_MIN_REFRESH_SECONDS: Var = Var::new(
    "JWKS_MIN_REFRESH_SECONDS",
    "least time between JWKS fetches caused by unknown key ids",
)
.example("30");
pub const JWKS_MAX_AGE_SECONDS: Var = Var::new(
    "JWKS_MAX_AGE_SECONDS",
    "known keys are re-fetched after this age",
)
.example("300");
pub const JWT_LEEWAY_SECONDS: Var =
    Var::new("JWT_LEEWAY_SECONDS", "tolerated clock skew for exp/nbf").example("5");
pub const AUTH_FALLBACK_PER_SECOND: Var = Var::new(
    "AUTH_FALLBACK_PER_SECOND",
    "while Redis fails: permission look-ups per second sent to identity (the rest get 503)",
)
.example("50");
pub const REDIS_TIMEOUT_MS: Var =
    Var::new("REDIS_TIMEOUT_MS", "connect and command timeout for Redis").example("250");
pub const PERMISSIONS_TTL_SECONDS: Var =
    Var::new("PERMISSIONS_TTL_SECONDS", "TTL of permission cache entries").example("900");

/// Settings of the shared auth layer.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Identity's base URL (internal, e.g. `http://identity.switchyard.local:8080`): JWKS and permissions.
    pub identity_url: String,
    pub issuer: String,
    pub audience: String,
    pub redis_url: String,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`, default empty): lets tests and environments share a Redis.
    pub redis_key_prefix: String,
    /// Minimum time between JWKS fetches caused by unknown `kid`s.
    pub jwks_min_refresh: Duration,
    /// Known keys are re-fetched after this age.
    pub jwks_max_age: Duration,
    /// Tolerated clock skew for `exp`/`nbf`.
    pub leeway: Duration,
    /// When Redis fails: at most this many permission look-ups per second go to identity; the rest get 503.
    pub fallback_per_second: u32,
    /// Connect and command timeout for Redis.
    pub redis_timeout: Duration,
    /// TTL of permission cache entries.
    pub permissions_ttl: Duration,
    /// Keep permissions in process, invalidated by Redis client-side caching ([`crate::local`]).
    pub local_cache: bool,
    /// This service's client credentials for identity's internal endpoint (`None` inside identity itself).
    pub client: Option<ClientCredentials>,
}

impl AuthConfig {
    /// `IDENTITY_URL`, `IDENTITY_CLIENT_ID`, `IDENTITY_CLIENT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`
    /// (required); `REDIS_KEY_PREFIX`,
    /// `JWKS_MIN_REFRESH_SECONDS` (30), `JWKS_MAX_AGE_SECONDS` (300), `JWT_LEEWAY_SECONDS` (5),
    /// `AUTH_FALLBACK_PER_SECOND` (50), `REDIS_TIMEOUT_MS` (250), `PERMISSIONS_TTL_SECONDS` (900),
    /// `PERMISSIONS_LOCAL_CACHE` (true).
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            identity_url: config::required(&IDENTITY_URL)?,
            client: Some(ClientCredentials {
                id: config::required(&IDENTITY_CLIENT_ID)?,
                secret: SecretString::from(config::required(&IDENTITY_CLIENT_SECRET)?),
            }),
            ..Self::from_env_for_identity()?
        })
    }

    /// As [`from_env`](Self::from_env) without `IDENTITY_URL` and the client credentials (identity verifies with its
    /// own keys and reads permissions from its own database).
    pub fn from_env_for_identity() -> Result<Self, ConfigError> {
        Ok(Self {
            identity_url: String::new(),
            issuer: config::required(&JWT_ISSUER)?,
            audience: config::required(&JWT_AUDIENCE)?,
            redis_url: config::required(&REDIS_URL)?,
            redis_key_prefix: config::optional(&REDIS_KEY_PREFIX)?.unwrap_or_default(),
            jwks_min_refresh: config::seconds(&JWKS_MIN_REFRESH_SECONDS, Duration::from_secs(30))?,
            jwks_max_age: config::seconds(&JWKS_MAX_AGE_SECONDS, Duration::from_secs(300))?,
            leeway: config::seconds(&JWT_LEEWAY_SECONDS, Duration::from_secs(5))?,
            fallback_per_second: config::parsed(&AUTH_FALLBACK_PER_SECOND, 50)?,
            redis_timeout: Duration::from_millis(config::parsed(&REDIS_TIMEOUT_MS, 250)?),
            permissions_ttl: config::seconds(&PERMISSIONS_TTL_SECONDS, Duration::from_secs(900))?,
            local_cache: config::flag(&PERMISSIONS_LOCAL_CACHE, true)?,
            client: None,
        })
    }

    /// Defaults for everything but the essentials (tests, tools).
    pub fn new(
        identity_url: impl Into<String>,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        redis_url: impl Into<String>,
        redis_key_prefix: impl Into<String>,
    ) -> Self {
        Self {
            identity_url: identity_url.into(),
            issuer: issuer.into(),
            audience: audience.into(),
            redis_url: redis_url.into(),
            redis_key_prefix: redis_key_prefix.into(),
            jwks_min_refresh: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(300),
            leeway: Duration::from_secs(5),
            fallback_per_second: 50,
            redis_timeout: Duration::from_millis(250),
            permissions_ttl: Duration::from_secs(900),
            local_cache: true,
            client: None,
        }
    }

    pub fn redis(&self) -> Result<RedisHandle, redis::RedisError> {
        RedisHandle::new(
            &self.redis_url,
            self.redis_key_prefix.clone(),
            self.redis_timeout,
        )
    }
}

/// Handlers' view of the caller: verified token + current permissions.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    /// The session (refresh-token family) of the token.
    pub session_id: Uuid,
    pub token_id: Uuid,
    pub permissions: Arc<Permissions>,
    pub expires_at: i64,
}

impl AuthUser {
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }

    /// `Ok` if the user holds `permission`, else 403 problem.
    pub fn require(&self, permission: &str) -> Result<(), ApiError> {
        if self.has(permission) {
            Ok(())
        } else {
            tracing::debug!(user_id = %self.user_id, permission, "permission missing");
            Err(ApiError::Forbidden(format!(
                "requires the {permission} permission"
            )))
        }
    }
}

/// Token bucket for look-ups that bypass Redis.
#[derive(Debug)]
struct Bucket {
    per_second: f64,
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second.max(1));
        Self {
            per_second,
            state: Mutex::new((per_second, Instant::now())),
        }
    }

    fn try_take(&self) -> bool {
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let (tokens, at) = *state;
        let now = Instant::now();
        let tokens =
            (tokens + now.duration_since(at).as_secs_f64() * self.per_second).min(self.per_second);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

/// Everything the extractor needs; put it in the service's state and implement `FromRef`.
#[derive(Clone)]
pub struct Auth(Arc<Inner>);

struct Inner {
    verifier: Verifier,
    cache: PermissionCache,
    source: Arc<dyn PermissionSource>,
    fallback: Bucket,
    /// Stops the tracker of the local permission cache when the last clone of [`Auth`] goes.
    _tracking: Option<DropGuard>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(
        "no client credentials for identity's permission endpoint: set IDENTITY_CLIENT_ID and IDENTITY_CLIENT_SECRET"
    )]
    NoClient,
    #[error("REDIS_URL is invalid: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("building the HTTP client failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// Retry-After when permissions cannot be established safely.
const RETRY_AFTER: Duration = Duration::from_secs(2);

impl Auth {
    /// For services: JWKS and permissions from identity at `identity_url`.
    pub fn from_config(config: &AuthConfig) -> Result<Self, AuthSetupError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let base = config.identity_url.trim_end_matches('/').to_owned();
        let keys = RemoteJwks {
            url: format!("{base}/.well-known/jwks.json"),
            client: client.clone(),
        };
        let credentials = config.client.clone().ok_or(AuthSetupError::NoClient)?;
        let tokens = ServiceTokens::new(&base, credentials, SCOPE_PERMISSIONS_READ, client.clone());
        let source = RemotePermissions {
            base_url: base,
            client,
            tokens: Arc::new(tokens),
        };
        Self::with_sources(config, Box::new(keys), Arc::new(source))
    }

    /// With explicit key and permission sources (identity uses its own keys and database).
    pub fn with_sources(
        config: &AuthConfig,
        keys: Box<dyn KeySource>,
        source: Arc<dyn PermissionSource>,
    ) -> Result<Self, AuthSetupError> {
        let cache = PermissionCache::new(config.redis()?, config.permissions_ttl);
        Ok(Self::with_cache(config, keys, source, cache))
    }

    /// With the permission cache the caller also writes through (identity), so its own writes drop this process's
    /// copy at once. Starts the local cache's tracker when `local_cache` is on (needs a Tokio runtime).
    pub fn with_cache(
        config: &AuthConfig,
        keys: Box<dyn KeySource>,
        source: Arc<dyn PermissionSource>,
        cache: PermissionCache,
    ) -> Self {
        let keys = KeyCache::new(keys, config.jwks_min_refresh, config.jwks_max_age);
        let tracking =
            (config.local_cache && tokio::runtime::Handle::try_current().is_ok()).then(|| {
                let stop = CancellationToken::new();
                tokio::spawn(local::track(
                    cache.local().clone(),
                    cache.redis().clone(),
                    stop.clone(),
                ));
                stop.drop_guard()
            });
        Self(Arc::new(Inner {
            verifier: Verifier::new(keys, &config.issuer, &config.audience, config.leeway),
            cache,
            source,
            fallback: Bucket::new(config.fallback_per_second),
            _tracking: tracking,
        }))
    }

    pub fn verifier(&self) -> &Verifier {
        &self.0.verifier
    }

    pub fn cache(&self) -> &PermissionCache {
        &self.0.cache
    }

    /// Fetches the key set now (a service calls this at start, so it verifies tokens from the first request on,
    /// even while identity is unreachable later). A failure is logged; keys are fetched on demand then.
    pub async fn warm(&self) {
        self.0.verifier.keys().refresh(Duration::ZERO).await;
    }

    /// Verifies the request's bearer token as another service's (client credentials). A user's token, like any
    /// other refused credentials, is a 401 with `error="invalid_token"`; no credentials, a bare challenge.
    pub async fn authenticate_service(&self, parts: &Parts) -> Result<ServiceCaller, ApiError> {
        let claims = match bearer_token(parts) {
            Ok(token) => self.0.verifier.verify_service(token).await,
            Err(rejection) => Err(rejection),
        };
        match claims {
            Ok(claims) => Ok(ServiceCaller::from(claims)),
            Err(Rejection::Missing) => Err(ApiError::MissingCredentials),
            Err(reason) => {
                tracing::debug!(%reason, "service token rejected");
                Err(ApiError::Unauthorized)
            }
        }
    }

    /// Verifies the request's bearer token and loads current permissions. No credentials at all is a 401 with a
    /// bare challenge ([`ApiError::MissingCredentials`]); any refused credentials the same 401 with
    /// `error="invalid_token"` ([`ApiError::Unauthorized`]).
    pub async fn authenticate(&self, parts: &Parts) -> Result<AuthUser, ApiError> {
        let claims = match self.claims(parts).await {
            Ok(c) => c,
            Err(Rejection::Missing) => {
                tracing::debug!("no bearer credentials");
                return Err(ApiError::MissingCredentials);
            }
            Err(reason) => {
                tracing::debug!(%reason, "bearer token rejected");
                return Err(ApiError::Unauthorized);
            }
        };
        let permissions = self.permissions(&claims).await?;
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
            token_id: claims.jti,
            permissions,
            expires_at: claims.exp,
        })
    }

    async fn claims(&self, parts: &Parts) -> Result<AccessClaims, Rejection> {
        let token = bearer_token(parts)?;
        self.0.verifier.verify(token).await
    }

    /// This process's copy while Redis tracks it ([`crate::local`]), else Redis, or the source of truth on a miss
    /// / stale entry; never a stale value when Redis fails.
    async fn permissions(&self, claims: &AccessClaims) -> Result<Arc<Permissions>, ApiError> {
        let local = self.0.cache.local();
        if let Some(p) = local.get(claims.sub)
            && p.version >= claims.pv
        {
            return Ok(p);
        }
        let ticket = local.ticket();
        let found = match self.0.cache.get(claims.sub).await {
            Ok(Some(p)) if p.version >= claims.pv => p,
            Ok(_) => self.ask_source(claims.sub).await?,
            Err(error) => {
                tracing::warn!(%error, "Redis unavailable for permissions; asking the source (rate limited)");
                if !self.0.fallback.try_take() {
                    return Err(ApiError::unavailable(
                        "Redis down and the fallback rate limit is exhausted",
                        RETRY_AFTER,
                    ));
                }
                self.ask_source(claims.sub).await?
            }
        };
        let found = Arc::new(found);
        local.keep(ticket, claims.sub, found.clone());
        Ok(found)
    }

    async fn ask_source(&self, user: Uuid) -> Result<Permissions, ApiError> {
        match self.0.source.permissions(user).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => {
                tracing::debug!(%user, "token subject no longer exists");
                Err(ApiError::Unauthorized)
            }
            Err(error) => Err(ApiError::unavailable(error.to_string(), RETRY_AFTER)),
        }
    }
}

/// The token from `Authorization: Bearer <token>`; tokens in the query string are refused (RFC 6750 §5.3: URLs
/// end up in logs and Referer headers), and so are two `Authorization` headers (RFC 9110 §11.6.2 allows one: which
/// one a proxy or another framework would pick is anybody's guess). No header, or another scheme, is
/// [`Rejection::Missing`]: the client sent no bearer credentials at all.
fn bearer_token(parts: &Parts) -> Result<&str, Rejection> {
    if let Some(query) = parts.uri.query()
        && query.split('&').any(|kv| {
            kv.split('=')
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case("access_token"))
        })
    {
        return Err(Rejection::InQuery);
    }
    let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Rejection::Missing);
    };
    if values.next().is_some() {
        return Err(Rejection::Repeated);
    }
    let value = value.to_str().map_err(|_| Rejection::Malformed)?.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Rejection::Missing);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Rejection::Malformed);
    }
    Ok(token)
}

/// Another service calling with its own token (client credentials): who it is and the scopes it was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCaller {
    pub client_id: String,
    pub scopes: Vec<String>,
}

impl From<ServiceClaims> for ServiceCaller {
    fn from(claims: ServiceClaims) -> Self {
        Self {
            scopes: claims.scopes().map(str::to_owned).collect(),
            client_id: claims.sub,
        }
    }
}

impl ServiceCaller {
    /// `Ok` if the token carries `scope`, else 403 (RFC 6750 §3.1 `insufficient_scope`).
    pub fn require_scope(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.iter().any(|s| s == scope) {
            Ok(())
        } else {
            tracing::debug!(client_id = %self.client_id, scope, "scope missing");
            Err(ApiError::Forbidden(format!("requires the {scope} scope")))
        }
    }
}

impl<S> FromRequestParts<S> for ServiceCaller
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Auth::from_ref(state).authenticate_service(parts).await
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Auth::from_ref(state).authenticate(parts).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, auth: Option<&str>) -> Parts {
        let mut b = axum::http::Request::get(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn takes_the_token_from_the_header_only() {
        assert_eq!(bearer_token(&parts("/x", Some("Bearer abc"))), Ok("abc"));
        assert_eq!(bearer_token(&parts("/x", Some("bearer abc"))), Ok("abc"));
        assert_eq!(
            bearer_token(&parts("/x", Some("Basic abc"))),
            Err(Rejection::Missing)
        );
        assert_eq!(bearer_token(&parts("/x", None)), Err(Rejection::Missing));
        assert_eq!(
            bearer_token(&parts("/x", Some("Bearer "))),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            bearer_token(&parts("/x", Some("Bearer"))),
            Err(Rejection::Malformed)
        );
        assert_eq!(
            bearer_token(&parts("/x?access_token=abc", Some("Bearer abc"))),
            Err(Rejection::InQuery)
        );
    }

    #[test]
    fn two_authorization_headers_are_refused_even_when_one_is_good() {
        let req = axum::http::Request::get("/x")
            .header(header::AUTHORIZATION, "Bearer abc")
            .header(header::AUTHORIZATION, "Bearer abc")
            .body(())
            .unwrap();
        assert_eq!(bearer_token(&req.into_parts().0), Err(Rejection::Repeated));
    }

    #[test]
    fn the_fallback_bucket_limits_bursts() {
        let b = Bucket::new(3);
        assert_eq!((0..10).filter(|_| b.try_take()).count(), 3);
    }
}
