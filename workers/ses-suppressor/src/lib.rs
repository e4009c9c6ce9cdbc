//! The ses-suppressor: turns SES bounce and complaint feedback into the suppression list the mailer obeys.
//!
//! - [`intake`]: SQS message -> SES notification: raw bodies and SNS envelopes (also moto's, whose `Message` is an
//!   object), notifications JSON-encoded once more as a string (decoded), SNS subscription confirmations and SES's
//!   documented plain-text messages (acknowledged and skipped), the TopicArn allowlist for envelopes. Anything else
//!   (malformed JSON, other text, unknown shapes) is rejected: the redrive policy moves it to the DLQ after
//!   `maxReceiveCount` receives while the worker goes on.
//! - [`feedback`]: the notification model: `notificationType` and `eventType` forms of Bounce, Complaint, Delivery,
//!   Send, Reject, DeliveryDelay, Rendering Failure, Open, Click, Subscription. Only `bouncedRecipients` and
//!   `complainedRecipients` are acted on, never `mail.destination`.
//! - [`policy`]: what a bounce or complaint does (configurable; see [`Policy`]).
//! - [`store`]: one `feedback_decisions` row per (feedback, recipient) with its decision, reason and the feedback
//!   JSON, and the `suppressions` row it may cause, in one transaction. The unique (feedback key, address) makes a
//!   redelivery a no-op: the feedback key is `mail.messageId` + `/` + `feedbackId`. Bounces and complaints that
//!   name no recipient, or a recipient that is not an address, are kept in `unattributed_feedback` (and logged as
//!   warnings) instead of vanishing.
//! - the optional mirror of each new suppression to the SES account-level suppression list is `switchyard-ses`
//!   (the client the mail service removes addresses with).
//!
//! Data lives in the shared `mail` schema (see `switchyard_mail` for why one schema, one migration set). The
//! runtime's `inbox` is not used: feedback is not a CloudEvent, and the decisions table is the idempotency record.
//!
//! Environment, besides the worker runtime's (`QUEUE_URL`, `DATABASE_URL`, `DATABASE_SCHEMA` = `mail`, ...):
//! `SUPPRESS_PERMANENT_BOUNCES` (true), `SUPPRESS_COMPLAINTS` (true), `SUPPRESS_UNDETERMINED_BOUNCES` (false),
//! `SOFT_BOUNCE_THRESHOLD` (3), `SOFT_BOUNCE_WINDOW_DAYS` (7), `SES_ACCOUNT_SUPPRESSION` (false: call SESv2
//! `PutSuppressedDestination` for each new suppression), `SNS_TOPIC_ALLOWLIST` (comma-separated TopicArns; empty
//! accepts any). SNS signature verification is not implemented (see [`intake`]).

pub mod feedback;
pub mod handler;
pub mod intake;
pub mod policy;
pub mod store;

use switchyard_consumer::worker::WorkerSpec;
use switchyard_core::config::{self, ConfigError, Var};

pub use handler::Suppressor;
pub use intake::TopicAllowlist;
pub use policy::Policy;
pub use switchyard_ses::{AccountSuppressionList, SesAccountSuppression, SyncError};

pub const SPEC: WorkerSpec = WorkerSpec {
    name: "ses-suppressor",
    schema: switchyard_mail::SCHEMA,
    migrations: &[&switchyard_mail::MIGRATOR],
};

pub const SNS_TOPIC_ALLOWLIST: Var = Var::new(
    "SNS_TOPIC_ALLOWLIST",
    "comma-separated TopicArns whose SNS envelopes are accepted; empty accepts any",
)
.example("arn:aws:sns:eu-west-1:123456789012:prod-ses-feedback");
pub const SES_ACCOUNT_SUPPRESSION: Var = Var::new(
    "SES_ACCOUNT_SUPPRESSION",
    "also put each new suppression on the SES account-level suppression list (SESv2 PutSuppressedDestination)",
)
.example("true");

/// The suppressor's own configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub policy: Policy,
    pub topic_allowlist: TopicAllowlist,
    /// Mirror new suppressions to the SES account-level list.
    pub account_suppression: bool,
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            policy: Policy::from_env()?,
            topic_allowlist: TopicAllowlist::parse(
                &config::optional(&SNS_TOPIC_ALLOWLIST)?.unwrap_or_default(),
            ),
            account_suppression: config::flag(&SES_ACCOUNT_SUPPRESSION, false)?,
        })
    }
}

/// What the ses-suppressor reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "ses-suppressor",
    read: || switchyard_consumer::worker::read_env(&SPEC, || Settings::from_env().map(drop)),
};

/// Builds the handler from the environment (the binary's `main`).
pub fn build(pool: &sqlx::PgPool, aws: &aws_config::SdkConfig) -> anyhow::Result<Suppressor> {
    let settings = Settings::from_env()?;
    let account = settings
        .account_suppression
        .then(|| SesAccountSuppression::from_sdk(aws));
    tracing::info!(
        policy = ?settings.policy, account_suppression = settings.account_suppression,
        topic_allowlist = ?settings.topic_allowlist, "suppressor configured"
    );
    Ok(Suppressor::new(pool.clone(), settings, account))
}
