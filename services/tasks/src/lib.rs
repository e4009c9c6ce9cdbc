//! The tasks service: each user's tasks, the business domain that shows the platform's whole shape: an HTTP call
//! commits state and its events together (outbox), the relay publishes them to `task-events`, independent
//! consumers (mailer, event-archive) act on them, and the service itself consumes identity's `user.registered` into
//! a local projection instead of calling identity per request.
//!
//! - [`config`]: settings from the environment.
//! - [`domain`]: the task name, parsed at the edge.
//! - [`store`]: SQL, one function per statement; every change writes its events in the same transaction.
//! - [`projection`]: the users this service knows (email of a task's owner), fed through the consumer runtime.
//! - [`service`]: the domain operations (create with idempotency, list, change, delete) the handlers call.
//! - [`http`]: the routes (`/v1/tasks...`), permissions `tasks:read` / `tasks:write`, ETags and `If-Match`;
//!   [`http::AppState`].
//! - [`app`]: [`app::build`]: bind first (tests use port 0), then serve, relay and project until shutdown.
//! - [`cli`]: `tasks [serve] | healthcheck | openapi`.

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod http;
pub mod projection;
pub mod service;
pub mod store;

pub use config::Settings;

/// What `tasks` reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "tasks",
    read: config::read_env,
};

/// The tasks schema's own tables (after the outbox's and the inbox's: see [`app::migrations`]).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
