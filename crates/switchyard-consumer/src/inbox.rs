//! Exactly-once effects: the inbox row and the handler's writes commit together or not at all.
//!
//! SQS delivers at least once, and a relay retry re-publishes the same CloudEvent as a new SNS message, so the
//! dedupe key is the CloudEvent `id`, never the SQS message id. Two concurrent deliveries of one event race on the
//! inbox primary key: the second `INSERT` waits for the first transaction and then finds the row (skip) or, if the
//! first rolled back, takes over.

use std::{sync::Arc, time::Duration};

use sqlx::{Arguments, PgConnection, PgPool, error::BoxDynError, postgres::PgArguments};
use switchyard_events::CloudEvent;

use crate::{Incoming, MessageHandler, Outcome, metrics};

/// The `inbox` table (defined in switchyard-core, see `db::INBOX_MIGRATOR`); workers run it before their own
/// migrations.
pub use switchyard_core::db::INBOX_MIGRATOR as MIGRATOR;

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
    /// True when every effect of this handler is a write through `tx`: nothing outside the database (no email, no
    /// API call). Then the inbox handles each received batch in one transaction ([`EventHandler::handle_batch`]
    /// with the batch's new events) and, when that fails, rolls the whole batch back and handles each message in a
    /// transaction of its own, so a poison message or a retry keeps its own outcome while the others still take
    /// effect. Handlers with effects outside the database keep `false`: one transaction per message, never run
    /// twice.
    const TRANSACTIONAL: bool = false;

    /// With [`EventHandler::TRANSACTIONAL`]: the handler's writes for a received batch as one data-modifying
    /// statement that runs inside the inbox's claim, so a batch costs the database one round trip (a statement is
    /// atomic on its own: no BEGIN, no COMMIT) instead of four. The inbox runs
    /// `WITH claimed AS (<the inbox claim>), effect AS (<this statement>) SELECT message_key FROM claimed`:
    /// `claimed(message_key text)` holds the ids (as text) of the batch's events that are new to the inbox, and
    /// only those may take effect (`JOIN claimed c ON c.message_key = e.id::text`). Its parameters start at `$3`
    /// and are bound by [`EventHandler::bind_batch`]. When the statement fails, nothing of it remains and the batch
    /// falls back to one transaction per message ([`EventHandler::handle`]), as when `handle_batch` fails. `None`
    /// (the default): [`EventHandler::handle_batch`] in a transaction.
    const BATCH_STATEMENT: Option<&'static str> = None;

    /// Binds `$3`, `$4`, ... of [`EventHandler::BATCH_STATEMENT`] for `events` (each event id once: copies within
    /// the batch are already removed; whether an event is new is for the statement's join on `claimed`).
    fn bind_batch(
        &self,
        events: &[(&CloudEvent, &Incoming)],
        args: &mut PgArguments,
    ) -> Result<(), BoxDynError> {
        let _ = (events, args);
        Ok(())
    }

    fn handle(
        &self,
        event: &CloudEvent,
        message: &Incoming,
        tx: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// The new events of one received batch (duplicates, within the batch or of earlier deliveries, already
    /// removed) in one transaction; only called when [`EventHandler::TRANSACTIONAL`]. An error rolls the batch back
    /// and sends each message through [`EventHandler::handle`] in a transaction of its own. The default calls
    /// `handle` for each event in turn; a set-based statement for the whole batch is cheaper.
    fn handle_batch(
        &self,
        events: &[(&CloudEvent, &Incoming)],
        tx: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        async move {
            for (event, message) in events {
                self.handle(event, message, &mut *tx).await?;
            }
            Ok(())
        }
    }
}

/// Wraps an [`EventHandler`] with CloudEvent parsing and the inbox.
#[derive(Debug, Clone)]
pub struct Inbox<H> {
    pool: PgPool,
    handler: H,
    /// The claim with the handler's [`EventHandler::BATCH_STATEMENT`], built once (one prepared statement).
    statement: Option<Arc<str>>,
}

/// Claims the ids of a batch: the ones already in the inbox, and the second of two copies, come back from neither.
const CLAIM: &str = "INSERT INTO inbox (message_key, event_type) SELECT * FROM UNNEST($1::text[], $2::text[]) \
                     ON CONFLICT (message_key) DO NOTHING RETURNING message_key";

impl<H: EventHandler> Inbox<H> {
    pub fn new(pool: PgPool, handler: H) -> Self {
        let statement = H::BATCH_STATEMENT
            .filter(|_| H::TRANSACTIONAL)
            .map(|effect| {
                Arc::from(format!(
                    "WITH claimed AS ({CLAIM}), effect AS ({effect}) SELECT message_key FROM claimed"
                ))
            });
        Self {
            pool,
            handler,
            statement,
        }
    }
}

/// Why a batch transaction did not commit.
enum BatchFailure {
    /// The database (begin, inbox insert, commit): every message is retried.
    Database(String),
    /// The handler refused the batch: each message goes through its own transaction.
    Handler,
}

impl<H: EventHandler> Inbox<H> {
    /// One message in a transaction of its own.
    async fn handle_one(&self, event: &CloudEvent, message: &Incoming) -> Outcome {
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
                metrics::DUPLICATES_SKIPPED.add(1, &[&*message.queue]);
                tracing::info!(event_id = %event.id, "event already processed; skipping duplicate delivery");
                return Outcome::Done;
            }
            Ok(_) => {}
        }
        match self.handler.handle(event, message, &mut tx).await {
            Ok(()) => match tx.commit().await {
                Ok(()) => Outcome::Done,
                Err(error) => Outcome::retry(format!("commit failed: {error}")),
            },
            // Dropping `tx` rolls back: neither the inbox row nor any effect remains.
            Err(HandlerError::Retry { after, reason }) => Outcome::Retry { after, reason },
            Err(HandlerError::Reject(reason)) => Outcome::Reject { reason },
        }
    }

    /// The readable messages of a batch in one transaction: claim every id at once, then the handler with the new
    /// events (or, with [`EventHandler::BATCH_STATEMENT`], both in one statement).
    async fn handle_readable(
        &self,
        events: &[(&CloudEvent, &Incoming)],
    ) -> Result<(), BatchFailure> {
        match &self.statement {
            Some(sql) => self.batch_statement(sql, events).await,
            None => self.batch_transaction(events).await,
        }
    }

    async fn batch_transaction(
        &self,
        events: &[(&CloudEvent, &Incoming)],
    ) -> Result<(), BatchFailure> {
        let db =
            |what: &str, error: sqlx::Error| BatchFailure::Database(format!("{what}: {error}"));
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| db("database unavailable", e))?;
        let (keys, types) = claim_columns(events);
        let claimed: Vec<String> = sqlx::query_scalar(CLAIM)
            .bind(&keys)
            .bind(&types)
            .fetch_all(&mut *tx)
            .await
            .map_err(|e| db("inbox insert failed", e))?;
        let new = new_events(events, &keys, claimed);
        if !new.is_empty() && self.handler.handle_batch(&new, &mut tx).await.is_err() {
            return Err(BatchFailure::Handler);
        }
        tx.commit().await.map_err(|e| db("commit failed", e))
    }

    /// The claim and the handler's statement as one statement: one round trip, atomic without a transaction.
    async fn batch_statement(
        &self,
        sql: &str,
        events: &[(&CloudEvent, &Incoming)],
    ) -> Result<(), BatchFailure> {
        // A received batch is at most ten messages: a scan is cheaper than hashing.
        let mut unique: Vec<(&CloudEvent, &Incoming)> = Vec::with_capacity(events.len());
        for &(event, message) in events {
            if !unique.iter().any(|(e, _)| e.id == event.id) {
                unique.push((event, message));
            }
        }
        let (keys, types) = claim_columns(events);
        let mut args = PgArguments::default();
        let bound = args
            .add(&keys)
            .and_then(|()| args.add(&types))
            .and_then(|()| self.handler.bind_batch(&unique, &mut args));
        if let Err(error) = bound {
            tracing::warn!(%error, "cannot bind the batch statement; handling each message in its own transaction");
            return Err(BatchFailure::Handler);
        }
        match sqlx::query_scalar_with::<_, String, _>(sql, args)
            .fetch_all(&self.pool)
            .await
        {
            Ok(claimed) => {
                new_events(events, &keys, claimed);
                Ok(())
            }
            // Nothing of the statement remains; one transaction per message tells a poison event from the rest (and
            // retries all of them when the database is down).
            Err(error) => {
                tracing::info!(%error, messages = events.len(), "batch statement failed");
                Err(BatchFailure::Handler)
            }
        }
    }
}

/// The inbox claim's columns: each event's id (as text) and type.
fn claim_columns<'e>(events: &[(&'e CloudEvent, &Incoming)]) -> (Vec<String>, Vec<&'e str>) {
    events
        .iter()
        .map(|(e, _)| (e.id.to_string(), e.event_type.as_str()))
        .unzip()
}

/// The events whose ids the claim returned, in order, the first copy of each; the others are counted and logged as
/// duplicates.
fn new_events<'e, 'm>(
    events: &[(&'e CloudEvent, &'m Incoming)],
    keys: &[String],
    mut claimed: Vec<String>,
) -> Vec<(&'e CloudEvent, &'m Incoming)> {
    let mut new = Vec::with_capacity(claimed.len());
    for ((event, message), key) in events.iter().zip(keys) {
        // Removed once found: the first copy of an id in the batch is the one handled (a batch is at most ten
        // messages, so a scan rather than a hash set).
        if let Some(at) = claimed.iter().position(|c| c == key) {
            claimed.swap_remove(at);
            new.push((*event, *message));
        } else {
            metrics::DUPLICATES_SKIPPED.add(1, &[&*message.queue]);
            tracing::info!(
                event_id = %event.id, message_id = %message.message_id,
                "event already processed; skipping duplicate delivery"
            );
        }
    }
    new
}

/// The reject reason for a message whose payload is not a CloudEvent (parsed again only here, for the error).
fn unreadable(message: &Incoming) -> Outcome {
    match CloudEvent::from_json(&message.body) {
        Err(error) => Outcome::reject(format!("unreadable event: {error}")),
        Ok(_) => Outcome::reject("unreadable event"),
    }
}

impl<H: EventHandler> MessageHandler for Inbox<H> {
    async fn handle(&self, message: &Incoming) -> Outcome {
        match &message.event {
            Some(event) => self.handle_one(event, message).await,
            None => unreadable(message),
        }
    }

    fn batches(&self) -> bool {
        H::TRANSACTIONAL
    }

    async fn handle_batch(&self, messages: &[Incoming]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = vec![None; messages.len()];
        let mut readable = Vec::with_capacity(messages.len());
        for (i, message) in messages.iter().enumerate() {
            match &message.event {
                Some(event) => readable.push((event, message)),
                None => outcomes[i] = Some(unreadable(message)),
            }
        }
        let fill = |outcomes: Vec<Option<Outcome>>, mut rest: Vec<Outcome>| {
            rest.reverse();
            outcomes
                .into_iter()
                .map(|o| {
                    o.or_else(|| rest.pop())
                        .unwrap_or_else(|| Outcome::retry("no outcome"))
                })
                .collect::<Vec<_>>()
        };
        if readable.is_empty() {
            return fill(outcomes, vec![]);
        }
        let rest = match self.handle_readable(&readable).await {
            Ok(()) => vec![Outcome::Done; readable.len()],
            Err(BatchFailure::Database(reason)) => vec![Outcome::retry(reason); readable.len()],
            Err(BatchFailure::Handler) => {
                tracing::info!(
                    messages = readable.len(),
                    "batch rolled back; handling its messages one transaction each"
                );
                let mut each = Vec::with_capacity(readable.len());
                for (event, message) in &readable {
                    each.push(self.handle_one(event, message).await);
                }
                each
            }
        };
        fill(outcomes, rest)
    }
}
