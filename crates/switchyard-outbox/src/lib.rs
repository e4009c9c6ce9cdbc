//! The producer side of the event bus.
//!
//! A service calls [`enqueue`] inside the transaction that changes its state, so the event exists if and only if
//! the change committed. The [`Relay`] (one per service instance, any number of instances) publishes committed rows
//! to the service's SNS topic:
//!
//! - wakes on `LISTEN outbox_<schema>` (a trigger NOTIFYs on commit) and also sweeps every `sweep_interval`, so a
//!   missed notification or a failed attempt is picked up anyway;
//! - claims up to `claim_size` rows by deleting them (`DELETE ... RETURNING` over `FOR UPDATE SKIP LOCKED`) inside one
//!   transaction, so concurrent relays never publish the same row at the same time and a published row costs no
//!   second statement;
//! - publishes them with SNS `PublishBatch` (10 entries, 256 KiB per call, several calls concurrently), with
//!   `rounds_in_flight` rounds at once while draining, so one round's claim and commit overlap the next one's calls;
//! - commits once SNS answered: what it accepted stays deleted; the rest goes back in the same transaction with its
//!   id, the error and `available_at` pushed out with exponential backoff and jitter. Nothing is dropped: a row
//!   leaves the table only in a commit that follows SNS's acknowledgement (a crash before it rolls the claim back).
//!
//! Delivery is at least once (a crash between SNS's answer and the commit re-publishes); consumers deduplicate on
//! the CloudEvent id, which a re-publish keeps.
//!
//! Observability: [`metrics`] (published, failed, the outbox's depth and lag); when traces are exported, an
//! `outbox enqueue` span per event (its context is what the row stores) and a `publish <topic>` producer span per row
//! (its context is what the SNS message carries, so consumers continue from it).

pub mod metrics;
mod relay;

pub use relay::{Relay, RelayConfig, RelayError};

use sqlx::{PgConnection, PgPool, migrate::Migrator};
use switchyard_core::{otel, trace::TraceContext};
use switchyard_events::CloudEvent;
use tracing::Instrument;

/// The outbox table and its NOTIFY trigger; run with the service's own migrations (see `switchyard_core::db`).
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A service's relay with the default settings: its pool and schema, its topic, an SNS client from `aws`.
pub fn service_relay(
    pool: &PgPool,
    aws: &aws_config::SdkConfig,
    topic_arn: &str,
    schema: &str,
) -> Relay {
    Relay::new(
        pool.clone(),
        aws_sdk_sns::Client::new(aws),
        topic_arn,
        schema,
        RelayConfig::default(),
    )
}

/// SNS's limit for one message (and one `PublishBatch` call).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("event {event_type} is {size} bytes; SNS accepts at most {MAX_MESSAGE_BYTES}")]
    TooLarge { event_type: String, size: usize },
    #[error("writing the outbox failed: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Writes `event` to the outbox on `conn`, which must be the caller's open transaction.
pub async fn enqueue(
    conn: &mut PgConnection,
    event: &CloudEvent,
    trace: Option<&TraceContext>,
) -> Result<(), OutboxError> {
    let payload = event.to_json();
    if payload.len() > MAX_MESSAGE_BYTES - 1024 {
        // Leave room for message attributes; an event SNS can never take must fail the request, not the relay.
        return Err(OutboxError::TooLarge {
            event_type: event.event_type.clone(),
            size: payload.len(),
        });
    }
    // Exported traces: the row carries the enqueue span's context, a child of the request's.
    let (span, traceparent) = if otel::enabled() {
        let span = tracing::info_span!(
            "outbox_enqueue",
            otel.name = "outbox enqueue",
            event_id = %event.id,
            event_type = %event.event_type,
        );
        let ctx = otel::continue_trace(&span, trace);
        (span, Some(ctx.to_string()))
    } else {
        (tracing::Span::none(), trace.map(ToString::to_string))
    };
    sqlx::query(
        "INSERT INTO outbox (event_id, event_type, payload, traceparent) VALUES ($1, $2, $3, $4)",
    )
    .bind(event.id)
    .bind(&event.event_type)
    .bind(payload)
    .bind(traceparent)
    .execute(conn)
    .instrument(span)
    .await?;
    Ok(())
}

/// Rows not yet published and the age of the oldest, in seconds (0 when empty): the relay's lag gauges and
/// `yard status` read it.
pub async fn backlog(conn: &mut PgConnection) -> Result<(i64, f64), sqlx::Error> {
    sqlx::query_as(
        "SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 FROM outbox",
    )
    .fetch_one(conn)
    .await
}

/// Rows not yet published (for health, tests and `yard`).
pub async fn pending(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(conn)
        .await
}
