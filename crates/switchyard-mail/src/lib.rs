//! The `mail` schema and the vocabulary shared by the mailer, the ses-suppressor and the mail HTTP service.
//!
//! - [`EmailAddress`] (re-exported from `switchyard-email`, which identity uses too): the one normalised form of
//!   an address (case, surrounding whitespace and display names removed). The suppression list, the feedback
//!   decisions and the outbound log all key on it.
//! - [`suppression`]: the suppression list: look an address up, suppress it.
//! - [`MIGRATOR`]: every table of the schema.
//!
//! # One schema, one migration set
//!
//! The suppression list is written by the ses-suppressor and read by the mailer (before every send) and by the mail
//! service (list, unsuppress), so all three share the Postgres schema `mail` (`DATABASE_SCHEMA=mail`, the default
//! of both workers). sqlx records applied migrations per schema and refuses to start when the schema holds a
//! migration the binary does not know, so three binaries with three migration sets in one schema would lock each
//! other out. Instead this crate owns every table of the schema and each binary runs the same list:
//! `switchyard_consumer::MIGRATOR` (the `inbox` table, which `worker::main` always adds) plus [`MIGRATOR`]. The
//! mail service runs the same two sets. A new table for any of the three goes here, with a date version.
//!
//! Idempotency: neither worker uses the consumer runtime's `inbox`. The suppressor's feedback is not a CloudEvent;
//! its idempotency key is (feedback, recipient), the unique key of `feedback_decisions`. The mailer's send is an
//! external side effect that one inbox transaction cannot cover; its `outbound_messages` row, claimed and committed
//! before the send, is its idempotency record. The `inbox` table stays (empty) because the runtime creates it.
//!
//! Deploy the three binaries from one commit: an older binary refuses to start on a schema a newer one migrated.

pub mod suppression;

use sqlx::migrate::Migrator;

pub use suppression::{Suppression, SuppressionReason};
pub use switchyard_email::{AddressError, EmailAddress};

/// Every table of the `mail` schema (run after `switchyard_consumer::MIGRATOR`, as `worker::main` does).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The default Postgres schema of the mail binaries.
pub const SCHEMA: &str = "mail";
