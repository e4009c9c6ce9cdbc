//! Exactly-once effects: the inbox row and the handler's writes commit together or not at all.
//!
//! SQS delivers at least once, and a relay retry re-publishes the same CloudEvent as a new SNS message, so the
//! dedupe key is the CloudEvent `id`, never the SQS message id. Two concurrent deliveries of one event race on the
//! inbox primary key: the second `INSERT` waits for the first transaction and then finds the row (skip) or, if the
//! first rolled back, takes over.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, migrate::Migrator};
use switchyard_events::CloudEvent;

use crate::{Incoming, MessageHandler, Outcome};

/// The `inbox` table; workers run it before their own migrations.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A handler's failure.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Temporary (a dependency is down, throttling): retry after `after` or the runtime's backoff.
    #[error("retry: {reason}")]
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Permanent (the event can never be handled): dead-letter it.
    #[error("reject: {0}")]
    Reject(String),
}

impl HandlerError {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            after: None,
            reason: reason.into(),
        }
    }
}

impl From<sqlx::Error> for HandlerError {
    /// A database error is assumed temporary: the transaction rolls back and the message comes back later.
    fn from(error: sqlx::Error) -> Self {
        Self::retry(format!("database: {error}"))
    }
}

/// Handles one CloudEvent; every database effect goes through `tx`, the transaction the inbox row is in.
pub trait EventHandler: Send + Sync + 'static {
    fn handle(
        &self,
        event: &CloudEvent,
        message: &Incoming,
        tx: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// Wraps an [`EventHandler`] with CloudEvent parsing and the inbox.
#[derive(Debug, Clone)]
pub struct Inbox<H> {
    pool: PgPool,
    handler: H,
}

impl<H> Inbox<H> {
    pub fn new(pool: PgPool, handler: H) -> Self {
        Self { pool, handler }
    }
}

impl<H: EventHandler> MessageHandler for Inbox<H> {
    async fn handle(&self, message: &Incoming) -> Outcome {
        let event = match CloudEvent::from_json(&message.body) {
            Ok(event) => event,
            Err(error) => return Outcome::reject(format!("unreadable event: {error}")),
        };
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(error) => return Outcome::retry(format!("database unavailable: {error}")),
        };
        let claimed = sqlx::query(
            "INSERT INTO inbox (message_key, event_type) VALUES ($1, $2) ON CONFLICT (message_key) DO NOTHING",
        )
        .bind(event.id.to_string())
        .bind(&event.event_type)
        .execute(&mut *tx)
        .await;
        match claimed {
            Err(error) => return Outcome::retry(format!("inbox insert failed: {error}")),
            Ok(done) if done.rows_affected() == 0 => {
                tracing::info!("event already processed; skipping duplicate delivery");
                return Outcome::Done;
            }
            Ok(_) => {}
        }
        match self.handler.handle(&event, message, &mut tx).await {
            Ok(()) => match tx.commit().await {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::retry(format!("commit failed: {error}")),
            },
            // Dropping `tx` rolls back: neither the inbox row nor any effect remains.
            Err(HandlerError::Retry { after, reason }) => Outcome::Retry { after, reason },
            Err(HandlerError::Reject(reason)) => Outcome::Reject { reason },
        }
    }
}
