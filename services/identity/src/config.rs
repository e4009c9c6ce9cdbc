//! Settings from the environment. Every missing or invalid variable is named in the error.
//!
//! | variable | default | |
//! |---|---|---|
//! | `HTTP_ADDR` | `127.0.0.1:8081` | `0.0.0.0:8080` in ECS |
//! | `DATABASE_URL`, `DATABASE_SCHEMA` | –, `identity` | |
//! | `REDIS_URL`, `REDIS_KEY_PREFIX` | –, empty | |
//! | `TOPIC_ARN` | – | the identity-events topic |
//! | `JWT_SIGNING_KEYS` (or `JWT_SIGNING_KEYS_FILE`) | – | secret; `identity gen-key` prints one |
//! | `JWT_ISSUER`, `JWT_AUDIENCE` | – | |
//! | `SERVICE_CLIENTS` (or `SERVICE_CLIENTS_FILE`) | empty | secret; the service accounts (see [`crate::clients`]) |
//! | `SERVICE_TOKEN_TTL_SECONDS` | 300 | lifetime of a service token (client credentials; at most 3600) |
//! | `ACCESS_TOKEN_TTL_SECONDS`, `REFRESH_TOKEN_TTL_SECONDS` | 900, 2592000 | |
//! | `REFRESH_REUSE_GRACE_SECONDS` | 20 | a rotated refresh token presented again this soon gets the same pair (0: never; at most 120) |
//! | `LOGIN_MAX_FAILURES_PER_ACCOUNT`, `LOGIN_MAX_FAILURES_PER_ADDRESS`, `LOGIN_THROTTLE_WINDOW_SECONDS` | 5, 50, 900 | |
//! | `TRUSTED_PROXY_HOPS` | 0 | proxies in front that append to X-Forwarded-For: 1 behind the ALB (see [`crate::http::ClientAddr`]) |
//! | `PASSWORD_HASH_CONCURRENCY` | number of CPUs | |
//! | `CORS_ALLOWED_ORIGINS`, `HTTP_BODY_LIMIT_BYTES` | | see switchyard-http |
//! | `PERMISSIONS_TTL_SECONDS`, `REDIS_TIMEOUT_MS`, `JWT_LEEWAY_SECONDS`, `PERMISSIONS_LOCAL_CACHE` | 900, 250, 5, true | see switchyard-auth |

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use switchyard_auth::AuthConfig;
use switchyard_core::{
    config::{self, ConfigError, Var},
    db::DbSettings,
};
use switchyard_http::HttpSettings;

use crate::{clients::ClientRegistry, throttle::ThrottleSettings, tokens::TokenSettings};

pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);

pub const TOPIC_ARN: Var = Var::new("TOPIC_ARN", "the ARN of the identity-events SNS topic")
    .example("arn:aws:sns:eu-west-1:123456789012:prod-identity-events");
pub const JWT_SIGNING_KEYS: Var = Var::new(
    "JWT_SIGNING_KEYS",
    "the signing keys as JSON (secret); `identity gen-key` prints a new one",
)
.secret()
.example(r#"{"signing_kid":"k-example","keys":[]}"#);
pub const SERVICE_CLIENTS: Var = Var::new(
    "SERVICE_CLIENTS",
    "the service accounts that may get tokens from POST /v1/oauth/token: a JSON list of {client_id, secret_hash, \
     scopes}; `identity create-client` prints an entry (empty: no service can ask for permissions)",
)
.secret()
.example(r#"[{"client_id":"tasks","secret_hash":"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZmFrZWZha2VmYWtlZmFrZWZha2VmYWtlZmFrZWZha2U","scopes":["permissions:read"]}]"#);
pub const SERVICE_TOKEN_TTL_SECONDS: Var = Var::new(
    "SERVICE_TOKEN_TTL_SECONDS",
    "lifetime of a service token (client credentials); services replace theirs after 80 % of it; at most 3600",
)
.example("300");
/// The longest accepted `SERVICE_TOKEN_TTL_SECONDS`: a leaked service token reads every user's permissions.
pub const MAX_SERVICE_TOKEN_TTL: Duration = Duration::from_secs(3600);
pub const ACCESS_TOKEN_TTL_SECONDS: Var =
    Var::new("ACCESS_TOKEN_TTL_SECONDS", "lifetime of access tokens").example("900");
pub const REFRESH_TOKEN_TTL_SECONDS: Var =
    Var::new("REFRESH_TOKEN_TTL_SECONDS", "lifetime of refresh tokens").example("2592000");
pub const REFRESH_REUSE_GRACE_SECONDS: Var = Var::new(
    "REFRESH_REUSE_GRACE_SECONDS",
    "how long a rotated refresh token may be presented again and get the same new pair (concurrent refreshes, \
     retries) instead of revoking the session as reuse; 0 = never, at most 120",
)
.example("20");
/// The longest accepted `REFRESH_REUSE_GRACE_SECONDS`: longer windows let a stolen token go unnoticed longer.
pub const MAX_REFRESH_REUSE_GRACE: Duration = Duration::from_secs(120);
pub const LOGIN_MAX_FAILURES_PER_ACCOUNT: Var = Var::new(
    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
    "failed logins per account within the window before 429",
)
.example("5");
pub const LOGIN_MAX_FAILURES_PER_ADDRESS: Var = Var::new(
    "LOGIN_MAX_FAILURES_PER_ADDRESS",
    "failed logins per client address within the window before 429",
)
.example("50");
pub const LOGIN_THROTTLE_WINDOW_SECONDS: Var = Var::new(
    "LOGIN_THROTTLE_WINDOW_SECONDS",
    "the login throttle's window",
)
.example("900");
pub const TRUSTED_PROXY_HOPS: Var = Var::new(
    "TRUSTED_PROXY_HOPS",
    "proxies in front of identity that append the client address to X-Forwarded-For (1 behind the ALB, 2 with \
     CloudFront before the ALB); 0 = the TCP peer is the client",
)
.example("1");
pub const PASSWORD_HASH_CONCURRENCY: Var = Var::new(
    "PASSWORD_HASH_CONCURRENCY",
    "argon2id hashes computed at once (19 MiB each); default: the number of CPUs",
)
.example("2");

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub db: DbSettings,
    pub auth: AuthConfig,
    pub topic_arn: String,
    pub signing_keys: SecretString,
    /// The service accounts (`SERVICE_CLIENTS`).
    pub clients: ClientRegistry,
    pub tokens: TokenSettings,
    pub throttle: ThrottleSettings,
    /// Proxies in front that append to `X-Forwarded-For` (`TRUSTED_PROXY_HOPS`; 0: use the TCP peer).
    pub trusted_proxy_hops: usize,
    pub hash_concurrency: usize,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let auth = AuthConfig::from_env_for_identity()?;
        let refresh_reuse_grace =
            config::seconds(&REFRESH_REUSE_GRACE_SECONDS, Duration::from_secs(20))?;
        if refresh_reuse_grace > MAX_REFRESH_REUSE_GRACE {
            return Err(ConfigError::Invalid {
                name: REFRESH_REUSE_GRACE_SECONDS.name.into(),
                value: refresh_reuse_grace.as_secs().to_string(),
                reason: format!(
                    "at most {} seconds: a longer window lets a stolen refresh token be used without detection",
                    MAX_REFRESH_REUSE_GRACE.as_secs()
                ),
            });
        }
        let service_ttl = config::seconds(&SERVICE_TOKEN_TTL_SECONDS, Duration::from_secs(300))?;
        if service_ttl > MAX_SERVICE_TOKEN_TTL || service_ttl < Duration::from_secs(10) {
            return Err(ConfigError::Invalid {
                name: SERVICE_TOKEN_TTL_SECONDS.name.into(),
                value: service_ttl.as_secs().to_string(),
                reason: format!("must be 10-{} seconds", MAX_SERVICE_TOKEN_TTL.as_secs()),
            });
        }
        let clients = match config::optional(&SERVICE_CLIENTS)? {
            None => ClientRegistry::default(),
            Some(json) => ClientRegistry::parse(&json).map_err(|e| ConfigError::Invalid {
                name: SERVICE_CLIENTS.name.into(),
                value: "<secret>".into(),
                reason: e.to_string(),
            })?,
        };
        Ok(Self {
            http: HttpSettings::from_env(DEFAULT_HTTP_ADDR)?,
            db: DbSettings::from_env("identity")?,
            topic_arn: config::required(&TOPIC_ARN)?,
            signing_keys: SecretString::from(config::required(&JWT_SIGNING_KEYS)?),
            clients,
            tokens: TokenSettings {
                issuer: auth.issuer.clone(),
                audience: auth.audience.clone(),
                access_ttl: config::seconds(&ACCESS_TOKEN_TTL_SECONDS, Duration::from_secs(900))?,
                refresh_ttl: config::seconds(
                    &REFRESH_TOKEN_TTL_SECONDS,
                    Duration::from_secs(30 * 24 * 3600),
                )?,
                refresh_reuse_grace,
                service_ttl,
            },
            throttle: ThrottleSettings {
                max_per_account: config::parsed(&LOGIN_MAX_FAILURES_PER_ACCOUNT, 5)?,
                max_per_address: config::parsed(&LOGIN_MAX_FAILURES_PER_ADDRESS, 50)?,
                window: config::seconds(&LOGIN_THROTTLE_WINDOW_SECONDS, Duration::from_secs(900))?,
            },
            trusted_proxy_hops: config::parsed(&TRUSTED_PROXY_HOPS, 0)?,
            hash_concurrency: config::parsed_optional(&PASSWORD_HASH_CONCURRENCY)?
                .unwrap_or_else(default_hash_concurrency),
            auth,
        })
    }
}

pub fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// What `identity serve` reads at start (see [`switchyard_core::contract`]).
pub fn read_env() -> Result<(), ConfigError> {
    switchyard_core::telemetry::pretty_from_env()?;
    Settings::from_env()?;
    switchyard_core::aws::read_env()?;
    Ok(())
}
