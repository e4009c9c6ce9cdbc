//! The worker runtime's metrics (CloudWatch EMF), by queue: what became of each message and how long it took.

use switchyard_core::metric::{Metric, Unit};

const BY_QUEUE: &[&[&str]] = &[&["Queue"]];

pub const MESSAGES_HANDLED: Metric = Metric::counter(
    "MessagesHandled",
    "messages done and deleted (duplicates the inbox skipped included)",
)
.dimensions(BY_QUEUE);
pub const MESSAGES_RETRIED: Metric = Metric::counter(
    "MessagesRetried",
    "messages the handler asked to retry (a temporary failure): visible again after a backoff",
)
.dimensions(BY_QUEUE);
pub const MESSAGES_REJECTED: Metric = Metric::counter(
    "MessagesRejected",
    "messages that can never succeed: handed back at once, the redrive policy moves them to the DLQ",
)
.dimensions(BY_QUEUE);
pub const MESSAGES_RELEASED: Metric = Metric::counter(
    "MessagesReleased",
    "messages still in flight when the shutdown deadline passed, made visible again for another worker",
)
.dimensions(BY_QUEUE);
pub const DUPLICATES_SKIPPED: Metric = Metric::counter(
    "DuplicatesSkipped",
    "deliveries of an event the inbox had already processed (at-least-once delivery, relay retries)",
)
.dimensions(BY_QUEUE);
pub const HANDLER_LATENCY: Metric = Metric::histogram(
    "HandlerLatency",
    Unit::Milliseconds,
    "one handler call: a message, or a whole received batch for handlers that take batches",
)
.dimensions(BY_QUEUE);
pub const RECEIVE_TO_DONE_LATENCY: Metric = Metric::histogram(
    "ReceiveToDoneLatency",
    Unit::Milliseconds,
    "from a message's receipt to its outcome being acted on (deleted, retried or rejected)",
)
.dimensions(BY_QUEUE);

/// Every metric of this crate.
pub const ALL: &[Metric] = &[
    MESSAGES_HANDLED,
    MESSAGES_RETRIED,
    MESSAGES_REJECTED,
    MESSAGES_RELEASED,
    DUPLICATES_SKIPPED,
    HANDLER_LATENCY,
    RECEIVE_TO_DONE_LATENCY,
];
