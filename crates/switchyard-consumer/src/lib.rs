//! The worker side of the event bus: one runtime every Switchyard worker shares.
//!
//! - [`message`]: turns an SQS message into an [`Incoming`]: raw bodies and SNS envelopes (raw delivery off)
//!   alike, with message attributes, receive count and the continued W3C trace context.
//! - [`sqs`]: the runtime's own SQS client ([`Sqs`]): receive, batched delete and visibility changes over the JSON
//!   protocol, SigV4-signed, configured from the same `SdkConfig` as the SDK's clients (the SDK's client was the
//!   largest cost per message).
//! - [`runtime`]: the [`Consumer`]: long polling (20 s), batches of up to 10, at most `max_in_flight` messages in
//!   flight (a semaphore), a visibility heartbeat while a handler runs, batched deletes of successes, and graceful
//!   shutdown (stop receiving, finish in-flight work within a deadline, make the rest visible again).
//! - [`inbox`]: exactly-once effects on top of at-least-once delivery: [`Inbox`] wraps an [`EventHandler`] and
//!   records the CloudEvent id in the same Postgres transaction as the handler's writes. A handler whose effects are
//!   all in the database ([`EventHandler::TRANSACTIONAL`]) gets a whole received batch in one transaction, or
//!   with [`EventHandler::BATCH_STATEMENT`] in one statement together with the inbox claim (one round trip).
//! - [`worker`]: the thin `main` of a worker binary: configuration from the environment, migrations, health
//!   endpoint, the `healthcheck` subcommand.
//! - [`metrics`]: handled / retried / rejected / released messages, duplicates skipped, handler and receive-to-done
//!   latency, by queue (CloudWatch EMF). When traces are exported, each message gets a `process <queue>` consumer
//!   span continuing the producer's `traceparent`, with a `handle <type>` span for the handler.
//!
//! A handler answers each message with an [`Outcome`]: `Done` (deleted), `Retry` (made visible again after a
//! backoff; never deleted) or `Reject` (made visible at once, so SQS's redrive policy moves it to the DLQ after
//! `maxReceiveCount` receives while the worker keeps going).

pub mod inbox;
pub mod message;
pub mod metrics;
pub mod runtime;
mod sigv4;
pub mod sqs;
pub mod worker;

use std::time::Duration;

pub use inbox::{EventHandler, HandlerError, Inbox, MIGRATOR};
pub use message::{Incoming, SnsKind};
pub use runtime::{Consumer, ConsumerConfig, ConsumerHealth, RunSummary};
pub use sqs::{Sqs, SqsError};

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Processed (or a known duplicate): delete it.
    Done,
    /// A temporary failure: leave it in the queue, visible again after `after` (or the runtime's backoff).
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// It can never succeed: let the redrive policy move it to the DLQ.
    Reject { reason: String },
}

impl Outcome {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            after: None,
            reason: reason.into(),
        }
    }

    pub fn reject(reason: impl Into<String>) -> Self {
        Self::Reject {
            reason: reason.into(),
        }
    }
}

/// Handles one message. Implementations are shared across concurrent tasks.
pub trait MessageHandler: Send + Sync + 'static {
    fn handle(&self, message: &Incoming) -> impl Future<Output = Outcome> + Send;

    /// Whether the runtime hands each received batch to [`MessageHandler::handle_batch`] as a whole (one task for
    /// the batch) instead of calling [`MessageHandler::handle`] per message (one task each, every message's outcome
    /// acted on as soon as it is known). The [`Inbox`] batches when its handler's effects are all in the database.
    fn batches(&self) -> bool {
        false
    }

    /// One outcome per message of a received batch, in order; only called when [`MessageHandler::batches`] says so.
    /// The default handles the messages one after another.
    fn handle_batch(&self, messages: &[Incoming]) -> impl Future<Output = Vec<Outcome>> + Send {
        async move {
            let mut outcomes = Vec::with_capacity(messages.len());
            for message in messages {
                outcomes.push(self.handle(message).await);
            }
            outcomes
        }
    }
}
