//! Settings from the environment. Every missing or invalid variable is named in the error.
//!
//! | variable | default | |
//! |---|---|---|
//! | `HTTP_ADDR` | `127.0.0.1:8083` | `0.0.0.0:8080` in ECS |
//! | `DATABASE_URL`, `DATABASE_SCHEMA` | –, `mail` | the schema the mailer and the ses-suppressor use |
//! | `IDENTITY_URL`, `JWT_ISSUER`, `JWT_AUDIENCE` | – | see switchyard-auth |
//! | `REDIS_URL`, `REDIS_KEY_PREFIX` | –, empty | permissions cache (see switchyard-auth) |
//! | `SES_ACCOUNT_SUPPRESSION_SYNC` | false | unsuppressing also calls SESv2 `DeleteSuppressedDestination` |
//! | `AWS_REGION`, `AWS_ENDPOINT_URL`, credentials | | standard AWS chain; only loaded when the sync is on |
//! | `CORS_ALLOWED_ORIGINS`, `HTTP_BODY_LIMIT_BYTES` | | see switchyard-http |

use std::net::SocketAddr;

use switchyard_auth::AuthConfig;
use switchyard_core::{
    config::{self, ConfigError, Var},
    db::DbSettings,
};
use switchyard_http::HttpSettings;

pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8083);

pub const SES_ACCOUNT_SUPPRESSION_SYNC: Var = Var::new(
    "SES_ACCOUNT_SUPPRESSION_SYNC",
    "unsuppressing also removes the address from the SES account-level suppression list (on in AWS, where the \
     configuration set uses that list)",
)
.example("true");

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub db: DbSettings,
    pub auth: AuthConfig,
    /// Mirror unsuppressions to the SES account-level suppression list (`SES_ACCOUNT_SUPPRESSION_SYNC`).
    pub ses_account_sync: bool,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpSettings::from_env(DEFAULT_HTTP_ADDR)?,
            db: DbSettings::from_env(switchyard_mail::SCHEMA)?,
            auth: AuthConfig::from_env()?,
            ses_account_sync: config::flag(&SES_ACCOUNT_SUPPRESSION_SYNC, false)?,
        })
    }
}

/// What `mail serve` reads at start (see [`switchyard_core::contract`]); the AWS variables are read when the sync
/// is on.
pub fn read_env() -> Result<(), ConfigError> {
    switchyard_core::telemetry::pretty_from_env()?;
    if Settings::from_env()?.ses_account_sync {
        switchyard_core::aws::read_env()?;
    }
    Ok(())
}
