//! Settings from the environment. Every missing or invalid variable is named in the error.
//!
//! | variable | default | |
//! |---|---|---|
//! | `HTTP_ADDR` | `127.0.0.1:8081` | `0.0.0.0:8080` in ECS |
//! | `DATABASE_URL`, `DATABASE_SCHEMA` | –, `identity` | |
//! | `REDIS_URL`, `REDIS_KEY_PREFIX` | –, empty | |
//! | `TOPIC_ARN` | – | the identity-events topic |
//! | `JWT_SIGNING_KEYS` | – | secret; `identity gen-key` prints one |
//! | `JWT_ISSUER`, `JWT_AUDIENCE` | – | |
//! | `ACCESS_TOKEN_TTL_SECONDS`, `REFRESH_TOKEN_TTL_SECONDS` | 900, 2592000 | |
//! | `LOGIN_MAX_FAILURES_PER_ACCOUNT`, `LOGIN_MAX_FAILURES_PER_ADDRESS`, `LOGIN_THROTTLE_WINDOW_SECONDS` | 5, 50, 900 | |
//! | `TRUST_X_FORWARDED_FOR` | false | true behind the ALB (client address = last X-Forwarded-For entry) |
//! | `PASSWORD_HASH_CONCURRENCY` | number of CPUs | |
//! | `CORS_ALLOWED_ORIGINS`, `HTTP_BODY_LIMIT_BYTES` | | see switchyard-http |
//! | `PERMISSIONS_TTL_SECONDS`, `REDIS_TIMEOUT_MS`, `JWT_LEEWAY_SECONDS` | 900, 250, 5 | see switchyard-auth |

use std::{net::SocketAddr, time::Duration};

use secrecy::SecretString;
use switchyard_auth::AuthConfig;
use switchyard_core::{
    config::{self, ConfigError},
    db::DbSettings,
};
use switchyard_http::HttpSettings;

use crate::{throttle::ThrottleSettings, tokens::TokenSettings};

pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub db: DbSettings,
    pub auth: AuthConfig,
    pub topic_arn: String,
    pub signing_keys: SecretString,
    pub tokens: TokenSettings,
    pub throttle: ThrottleSettings,
    pub trust_forwarded_for: bool,
    pub hash_concurrency: usize,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let auth = AuthConfig::from_env_for_identity()?;
        Ok(Self {
            http: HttpSettings::from_env(DEFAULT_HTTP_ADDR)?,
            db: DbSettings::from_env("identity")?,
            topic_arn: config::required("TOPIC_ARN", "the ARN of the identity-events SNS topic")?,
            signing_keys: SecretString::from(config::required(
                "JWT_SIGNING_KEYS",
                "the signing keys as JSON (secret); `identity gen-key` prints a new one",
            )?),
            tokens: TokenSettings {
                issuer: auth.issuer.clone(),
                audience: auth.audience.clone(),
                access_ttl: config::seconds("ACCESS_TOKEN_TTL_SECONDS", Duration::from_secs(900))?,
                refresh_ttl: config::seconds(
                    "REFRESH_TOKEN_TTL_SECONDS",
                    Duration::from_secs(30 * 24 * 3600),
                )?,
            },
            throttle: ThrottleSettings {
                max_per_account: config::parsed("LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)?,
                max_per_address: config::parsed("LOGIN_MAX_FAILURES_PER_ADDRESS", 50)?,
                window: config::seconds("LOGIN_THROTTLE_WINDOW_SECONDS", Duration::from_secs(900))?,
            },
            trust_forwarded_for: config::flag("TRUST_X_FORWARDED_FOR", false)?,
            hash_concurrency: config::parsed(
                "PASSWORD_HASH_CONCURRENCY",
                default_hash_concurrency(),
            )?,
            auth,
        })
    }
}

pub fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}
