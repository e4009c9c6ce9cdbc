//! The identity service: users, sessions and permissions for every Switchyard service.
//!
//! - [`domain`]: parsed input (email — the shared `switchyard_email::EmailAddress` —, password, display name,
//!   permission names).
//! - [`service`]: the domain operations the handlers and the CLI share (create a user, change permissions).
//! - [`clients`]: service accounts (OAuth clients) and their argon2id-hashed secrets (`SERVICE_CLIENTS`).
//! - [`password`]: argon2id (OWASP parameters) in `spawn_blocking`, bounded, equal cost for unknown users.
//! - [`keys`]: Ed25519 signing keys from `JWT_SIGNING_KEYS`, the JWKS, `gen-key`/`rotate-key`.
//! - [`tokens`]: user access tokens (EdDSA JWT, `switchyard_auth::AccessClaims`), service tokens
//!   (`switchyard_auth::ServiceClaims`, `typ` = `service`) and opaque refresh tokens.
//! - [`profiles`]: in-process cache of the immutable user fields for `/v1/users/me`.
//! - [`store`]: the SQL (users, refresh-token families).
//! - [`throttle`]: failed-login counters per account and per client address in Redis.
//! - [`http`]: the API (`/v1/users`, `/v1/sessions`, `/v1/oauth/token`, `/.well-known/jwks.json`, `/internal/...`),
//!   its OpenAPI and [`http::AppState`].
//! - [`app`]: identity's own permission source (Postgres + Redis refill) and [`app::build`] (binds first, so tests
//!   use port 0; runs the outbox relay beside the server).
//! - [`cli`]: `identity [serve] | healthcheck | openapi | gen-key | rotate-key | create-admin | create-client`.
//! - [`config`]: the environment contract.

pub mod app;
pub mod cli;
pub mod clients;
pub mod config;
pub mod domain;
pub mod http;
pub mod keys;
pub mod password;
pub mod profiles;
pub mod service;
pub mod store;
pub mod throttle;
pub mod tokens;

pub use config::Settings;

/// What `identity serve` reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "identity",
    read: config::read_env,
};

/// The identity schema's tables (run after the outbox's: `db::migrate(.., &[&switchyard_outbox::MIGRATOR, &MIGRATOR])`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
