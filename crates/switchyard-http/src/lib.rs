//! What every Switchyard HTTP service (identity, tasks, mail) shares, so they answer, log and shut down alike:
//!
//! - [`problem`]: [`ApiError`], the one error type handlers return; it renders RFC 9457 `application/problem+json`
//!   (401 with `WWW-Authenticate`, 422 naming the offending fields, 429/503 with `Retry-After`, opaque logged 500);
//!   `?` on a `sqlx::Error` gives a 503 when the database is unreachable, else an opaque 500.
//! - [`json`]: [`Json`], a body extractor whose rejections (bad JSON, wrong type, unknown or missing field) are
//!   problem+json naming the field instead of axum's plain-text messages.
//! - [`extract`]: [`Path`] (a segment that is not valid UTF-8 or not of the parameter's type -> 404 problem) and
//!   [`Query`] (422 naming the parameter). Services use these, never axum's own.
//! - [`trace`]: a span per request carrying the W3C trace context (an OpenTelemetry server span when traces are
//!   exported); handlers get it with the [`Trace`] extractor and pass it to `switchyard_outbox::enqueue`, so one
//!   trace follows a request into the events it causes.
//! - [`metrics`]: request count, latency, 4xx and 5xx by route template (CloudWatch EMF), recorded by that layer.
//! - [`server`]: [`HttpSettings`] from the environment (`HTTP_ADDR`, `CORS_ALLOWED_ORIGINS`, body limit), the
//!   common layers (problem+json 404 fallback, and problem+json for whatever error the framework answers itself,
//!   such as 405), `/healthz`, [`serve`] with graceful shutdown, and the `healthcheck` subcommand.
//! - [`precondition`]: [`IfMatch`] (`"3"`, `W/"3"`, `*`) and [`precondition::etag`], for every versioned resource.
//! - [`page`]: [`Page`], the one shape of a list (`items` + `next_cursor`), built from `limit + 1` rows.
//! - [`app`]: [`Application`]: bind first, serve with background work (relay, consumer) until shutdown.
//! - [`cli`]: the subcommands every service shares (`serve`, `healthcheck`, `openapi`).
//! - [`openapi`]: `/openapi.json` and Swagger UI (`/docs`, vendored: nothing is downloaded at build time) with a
//!   bearer-token security scheme.

pub mod app;
pub mod cli;
pub mod extract;
pub mod json;
pub mod metrics;
pub mod openapi;
pub mod page;
pub mod precondition;
pub mod problem;
pub mod server;
pub mod trace;

pub use app::Application;
pub use page::Page;
pub use precondition::IfMatch;

pub use extract::{Path, Query};
pub use json::Json;
pub use problem::{ApiError, FieldError};
pub use server::{HttpSettings, healthcheck, serve, with_common_layers};
pub use trace::Trace;
