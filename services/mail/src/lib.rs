//! The mail service: the admin API over the shared `mail` schema (see `switchyard_mail`). Every route needs the
//! `mail:admin` permission.
//!
//! - [`query`]: query-string parsing (unknown parameters, bad addresses, dates, limits and cursors are 422s naming
//!   the parameter) and the opaque keyset cursors.
//! - [`store`]: the SQL: suppressions with their history, unsuppression (audited in `suppression_removals`), the
//!   outbound log, daily bounce/complaint counts.
//! - [`service`]: unsuppressing an address (ours and, with `SES_ACCOUNT_SUPPRESSION_SYNC`, the SES account-level
//!   list through `switchyard-ses`, the client the ses-suppressor uses too).
//! - [`http`]: `/v1/suppressions`, `/v1/suppressions/{email}`, `/v1/messages`, `/v1/mail-stats`, OpenAPI,
//!   [`http::AppState`].
//! - [`app`]: [`app::build`] (binds first, so tests use port 0).
//! - [`cli`]: `mail [serve] | healthcheck | openapi`.
//! - [`config`]: the environment contract.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod query;
pub mod service;
pub mod store;

pub use config::Settings;

/// What `mail` reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "mail",
    read: config::read_env,
};

/// The permission every route requires.
pub const MAIL_ADMIN: &str = "mail:admin";
