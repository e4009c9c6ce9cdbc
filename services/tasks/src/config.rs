//! Settings from the environment; every missing or invalid variable is named in the error.
//!
//! `HTTP_ADDR` (default 127.0.0.1:8082; 0.0.0.0:8080 in ECS), `DATABASE_URL`, `DATABASE_SCHEMA` (tasks),
//! `TOPIC_ARN` (the task-events topic); the users projection's queue, read by the consumer runtime: `QUEUE_URL`
//! (the `tasks` queue), `MAX_IN_FLIGHT`, `VISIBILITY_TIMEOUT_SECONDS`, `WAIT_TIME_SECONDS`,
//! `SHUTDOWN_DEADLINE_SECONDS`; switchyard-auth's `IDENTITY_URL`, `IDENTITY_CLIENT_ID`, `IDENTITY_CLIENT_SECRET`,
//! `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`, `REDIS_KEY_PREFIX`; switchyard-http's `CORS_ALLOWED_ORIGINS`,
//! `HTTP_BODY_LIMIT_BYTES`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use switchyard_auth::AuthConfig;
use switchyard_consumer::ConsumerConfig;
use switchyard_core::{
    config::{self, ConfigError, Var},
    db::DbSettings,
};
use switchyard_http::HttpSettings;

pub const DEFAULT_HTTP_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8082);

pub const TOPIC_ARN: Var = Var::new("TOPIC_ARN", "the ARN of the task-events SNS topic")
    .example("arn:aws:sns:eu-west-1:123456789012:prod-task-events");

#[derive(Debug, Clone)]
pub struct Settings {
    pub http: HttpSettings,
    pub db: DbSettings,
    pub auth: AuthConfig,
    pub topic_arn: String,
    /// The `tasks` queue (identity's `user.registered`), for the users projection.
    pub consumer: ConsumerConfig,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            http: HttpSettings::from_env(DEFAULT_HTTP_ADDR)?,
            db: DbSettings::from_env("tasks")?,
            auth: AuthConfig::from_env()?,
            topic_arn: config::required(&TOPIC_ARN)?,
            consumer: switchyard_consumer::worker::consumer_from_env()?,
        })
    }
}

/// What `tasks serve` reads at start (see [`switchyard_core::contract`]).
pub fn read_env() -> Result<(), ConfigError> {
    switchyard_core::telemetry::pretty_from_env()?;
    Settings::from_env()?;
    switchyard_core::aws::read_env()?;
    Ok(())
}
