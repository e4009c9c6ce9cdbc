//! The identity service: users, sessions and permissions for every Switchyard service.
//!
//! - [`domain`]: parsed input (email, password, display name, permission names).
//! - [`password`]: argon2id (OWASP parameters) in `spawn_blocking`, bounded, equal cost for unknown users.
//! - [`keys`]: Ed25519 signing keys from `JWT_SIGNING_KEYS`, the JWKS, `gen-key`/`rotate-key`.
//! - [`tokens`]: access tokens (EdDSA JWT, claims in `switchyard_auth::AccessClaims`) and opaque refresh tokens.
//! - [`profiles`]: in-process cache of the immutable user fields for `/v1/users/me`.
//! - [`store`]: the SQL (users, refresh-token families).
//! - [`throttle`]: failed-login counters per account and per client address in Redis.
//! - [`http`]: the API (`/v1/users`, `/v1/sessions`, `/.well-known/jwks.json`, `/internal/...`) and its OpenAPI.
//! - [`app`]: state, identity's own permission source (Postgres + Redis refill) and [`app::Application`]
//!   (binds first, so tests use port 0; runs the outbox relay beside the server).
//! - [`cli`]: `identity [serve] | healthcheck | gen-key | rotate-key | create-admin | openapi`.
//! - [`config`]: the environment contract.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod keys;
pub mod password;
pub mod profiles;
pub mod store;
pub mod throttle;
pub mod tokens;

pub use app::Application;
pub use config::Settings;

/// What `identity serve` reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "identity",
    read: config::read_env,
};

/// The identity schema's tables (run after the outbox's: `db::migrate(.., &[&switchyard_outbox::MIGRATOR, &MIGRATOR])`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
