//! The mailer: sends the welcome email (`user.registered`) and the task-completed notification (`task.completed`)
//! through SES, never to a suppressed address, never twice for one event and recipient.
//!
//! - [`compose`]: event -> [`compose::Email`] from the templates in `templates/` (text + HTML + subject).
//! - [`outbound`]: the `outbound_messages` rows and the state machine below.
//! - [`ses`]: SESv2 `SendEmail` (or SES v1 `SendEmail`, `SES_API=v1`) with the configuration set and an `event_id`
//!   message tag, and the classification of every failure.
//! - [`handler`]: [`Mailer`], the message handler tying them together.
//!
//! # The send state machine
//!
//! One `outbound_messages` row per (event id, recipient), unique. An SES send is an external side effect: no
//! database transaction can contain it, so the consumer runtime's `inbox` (one transaction around the handler's
//! writes) cannot make it exactly-once. Instead the row is claimed and committed *before* the send:
//!
//! ```text
//!            claim tx (row locked)                 SES SendEmail            record
//! (none) -> pending --suppressed--> skipped
//!           pending --claim-------> sending ---accepted---------------> sent
//!                                   sending ---throttled/quota/no conn--> pending (retry the message with backoff)
//!                                   sending ---rejected-----------------> failed
//!                                   sending ---timeout/5xx/lost reply---> unknown
//!                                   sending ---lease expired, seen by a redelivery--> unknown
//! ```
//!
//! Crash windows (the worker dies, or its database or SQS calls fail, at each point):
//! 1. Before the claim commits: nothing is recorded and nothing was sent; the redelivery starts over.
//! 2. After the claim commits (`sending`), before SES is called: nothing was sent, but the row says `sending`.
//! 3. After SES accepted, before `sent` is recorded: the mail went out; the row still says `sending`.
//! 4. After `sent` is recorded, before SQS deletes the message: the redelivery finds `sent` and stops.
//!
//! Windows 2 and 3 look the same from the database, and SendEmail has no idempotency token to ask SES with, so a
//! redelivery that finds a `sending` row older than the lease (`SEND_LEASE_SECONDS`, longer than any send can take:
//! the SDK's retries are off and a send times out after 20 s) marks it `unknown` and does NOT resend. The rule
//! chooses "at most once" over "at least once": a duplicate email cannot be recalled, a missing one can be sent
//! again by an operator, and `unknown` rows are logged at error level and listed by the mail service. A younger
//! `sending` row means another delivery of the same event is mid-send: the message is retried after the lease.
//! If a slow send does finish after its claim was declared abandoned, its `sent` overwrites `unknown`. (SES event
//! publishing `Send` events carry the `event_id` tag and could resolve `unknown` rows; not done yet.)
//!
//! The suppression list is read in the claim transaction, so a recipient suppressed before the claim is never sent
//! to; a retry after `pending` claims afresh and reads the list again.
//!
//! # Data
//!
//! The shared `mail` schema (see `switchyard_mail`): the suppressor writes `suppressions`, the mailer reads it.
//!
//! Environment, besides the worker runtime's (`QUEUE_URL`, `DATABASE_URL`, `DATABASE_SCHEMA` = `mail`, ...):
//! `SES_FROM_ADDRESS` (required: a verified identity), `SES_CONFIGURATION_SET` (optional, recommended: it routes
//! feedback and event publishing), `SES_API` (`v2`, or `v1` for emulators without SESv2), `SEND_LEASE_SECONDS` (60).

pub mod compose;
pub mod handler;
pub mod outbound;
pub mod ses;

use std::time::Duration;

use anyhow::Context;
use switchyard_consumer::worker::WorkerSpec;
use switchyard_core::config::{self, ConfigError, Var};
use switchyard_mail::EmailAddress;

pub use handler::Mailer;
pub use ses::{SesApi, SesSender};

pub const SPEC: WorkerSpec = WorkerSpec {
    name: "mailer",
    schema: switchyard_mail::SCHEMA,
    migrations: &[&switchyard_mail::MIGRATOR],
};

pub const SES_FROM_ADDRESS: Var = Var::new(
    "SES_FROM_ADDRESS",
    "the sender address, a verified SES identity, e.g. Switchyard <noreply@example.com>",
)
.example("Switchyard <no-reply@example.com>");
pub const SES_CONFIGURATION_SET: Var = Var::new(
    "SES_CONFIGURATION_SET",
    "SES configuration set of every send (feedback routing, TLS policy, account suppression); unset = none",
)
.example("prod-mail");
pub const SES_API: Var = Var::new(
    "SES_API",
    "v2 (SESv2 SendEmail) or v1 (SES SendEmail, for emulators without SESv2)",
)
.example("v2");
pub const SEND_LEASE_SECONDS: Var = Var::new(
    "SEND_LEASE_SECONDS",
    "a send claimed longer ago than this is presumed abandoned (marked unknown, never resent)",
)
.example("60");

/// The mailer's own configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `From`, as given (`Switchyard <noreply@example.com>` is fine); its address must be a verified SES identity.
    pub from: String,
    pub configuration_set: Option<String>,
    pub api: SesApi,
    pub send_lease: Duration,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let from = config::required(&SES_FROM_ADDRESS)?;
        if let Err(error) = EmailAddress::parse(&from) {
            return Err(ConfigError::Invalid {
                name: SES_FROM_ADDRESS.name.into(),
                value: from,
                reason: error.to_string(),
            });
        }
        let send_lease = config::seconds(&SEND_LEASE_SECONDS, Duration::from_secs(60))?;
        let min = ses::SEND_TIMEOUT + Duration::from_secs(10);
        if send_lease < min {
            return Err(ConfigError::Invalid {
                name: SEND_LEASE_SECONDS.name.into(),
                value: send_lease.as_secs().to_string(),
                reason: format!(
                    "must be at least {} s (the send timeout plus a margin)",
                    min.as_secs()
                ),
            });
        }
        Ok(Self {
            from,
            configuration_set: config::optional(&SES_CONFIGURATION_SET)?,
            api: config::parsed(&SES_API, SesApi::V2)?,
            send_lease,
        })
    }
}

/// What the mailer reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "mailer",
    read: || switchyard_consumer::worker::read_env(&SPEC, || Settings::from_env().map(drop)),
};

/// Builds the handler from the environment (the binary's `main`).
pub fn build(pool: &sqlx::PgPool, aws: &aws_config::SdkConfig) -> anyhow::Result<Mailer> {
    let settings = Settings::from_env()?;
    let templates = compose::Templates::load().context("compiling the email templates")?;
    tracing::info!(
        from = %settings.from, configuration_set = ?settings.configuration_set, api = settings.api.as_str(),
        "mailer configured"
    );
    let sender = SesSender::new(aws, settings.api, settings.from, settings.configuration_set);
    Ok(Mailer::new(
        pool.clone(),
        sender,
        templates,
        settings.send_lease,
    ))
}
