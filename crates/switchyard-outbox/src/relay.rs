//! The outbox relay: committed rows -> SNS `PublishBatch`.

use std::time::Duration;

use aws_sdk_sns::{
    Client,
    error::DisplayErrorContext,
    types::{MessageAttributeValue, PublishBatchRequestEntry},
};
use chrono::{DateTime, Utc};
use futures::future::join_all;
use rand::Rng;
use sqlx::{PgPool, postgres::PgListener};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use switchyard_core::{
    metric, otel,
    trace::{TRACEPARENT, TraceContext},
};

use crate::{MAX_MESSAGE_BYTES, metrics};

/// SNS `PublishBatch` takes at most ten entries.
const SNS_BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Rows claimed per round (published as up to `claim_size / 10` concurrent `PublishBatch` calls). 100 rather
    /// than 50 halves the database's share per event (BEGIN, the claim, COMMIT per round): `make bench`'s relay row
    /// went from 0.90-0.93x (once 0.81x) of the plain `PublishBatch` loop on LocalStack to 1.00-1.23x, and from
    /// 0.99-1.02x to 1.06-1.13x on moto (README, 2026-12-04).
    pub claim_size: i64,
    /// Rounds in flight at once while draining, each its own transaction over rows the others skip: one round's
    /// claim and commit overlap the next one's `PublishBatch` calls instead of adding to them.
    pub rounds_in_flight: usize,
    /// How often to look for rows without a notification (retries after backoff, missed NOTIFYs).
    pub sweep_interval: Duration,
    /// First retry delay after a failed publish; doubles per attempt, with jitter.
    pub base_backoff: Duration,
    /// Ceiling of the retry delay.
    pub max_backoff: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            claim_size: 100,
            rounds_in_flight: 2,
            sweep_interval: Duration::from_secs(1),
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("outbox relay database error: {0}")]
    Sql(#[from] sqlx::Error),
}

/// Publishes one schema's outbox to one SNS topic.
#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    sns: Client,
    topic_arn: String,
    schema: String,
    config: RelayConfig,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    id: i64,
    event_id: Uuid,
    event_type: String,
    payload: String,
    traceparent: Option<String>,
    attempts: i32,
    created_at: DateTime<Utc>,
}

/// Claims a round's rows: deletes them in the round's transaction, so the claim is one statement and a published
/// row needs no second one. Until the commit the rows stay locked (`FOR UPDATE SKIP LOCKED`: concurrent relays take
/// other rows) and visible to everyone else; a crash or a database error before the commit puts all of them back.
const CLAIM: &str = "DELETE FROM outbox WHERE id IN (\
                       SELECT id FROM outbox WHERE available_at <= now() ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, event_id, event_type, payload, traceparent, attempts, created_at";

/// Puts a row whose publish failed back as it was (same id, so the same place in the order; same `created_at`, so
/// the lag stays honest), with one more attempt, the error and its backoff.
const RESCHEDULE: &str = "INSERT INTO outbox \
                          (id, event_id, event_type, payload, traceparent, created_at, attempts, last_error, available_at) \
                          OVERRIDING SYSTEM VALUE \
                          VALUES ($1, $2, $3, $4, $5, $6, $7 + 1, $8, now() + make_interval(secs => $9))";

/// What happened to one claimed row.
enum Fate {
    Published,
    Failed(String),
}

impl Relay {
    pub fn new(
        pool: PgPool,
        sns: Client,
        topic_arn: impl Into<String>,
        schema: impl Into<String>,
        config: RelayConfig,
    ) -> Self {
        metric::declare(metrics::ALL);
        Self {
            pool,
            sns,
            topic_arn: topic_arn.into(),
            schema: schema.into(),
            config,
        }
    }

    /// Runs until `shutdown` is cancelled: publish everything available, then wait for a NOTIFY or the sweep timer.
    /// Database errors are logged and retried; they never end the loop.
    pub async fn run(self, shutdown: CancellationToken) {
        let channel = format!("outbox_{}", self.schema);
        let mut listener: Option<PgListener> = None;
        // Its own task, so the lag keeps being reported while a publish round is stuck.
        let sampler =
            metric::enabled().then(|| tokio::spawn(sample(self.pool.clone(), shutdown.clone())));
        while !shutdown.is_cancelled() {
            if listener.is_none() {
                listener = self.listen(&channel).await;
            }
            if let Err(error) = self.drain().await {
                tracing::error!(%error, "outbox relay round failed; retrying after the sweep interval");
            }
            let sweep = tokio::time::sleep(self.config.sweep_interval);
            match listener.as_mut() {
                Some(l) => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = sweep => {}
                    notified = l.recv() => if let Err(error) = notified {
                        tracing::warn!(%error, "outbox LISTEN connection lost; reconnecting");
                        listener = None;
                    },
                },
                None => tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = sweep => {}
                },
            }
        }
        if let Some(sampler) = sampler {
            sampler.abort();
        }
        tracing::info!(topic = %self.topic_arn, "outbox relay stopped");
        switchyard_core::telemetry::flush();
    }

    async fn listen(&self, channel: &str) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(l) => l,
            Err(error) => {
                tracing::warn!(%error, "cannot open the outbox LISTEN connection; sweeping only");
                return None;
            }
        };
        match listener.listen(channel).await {
            Ok(()) => Some(listener),
            Err(error) => {
                tracing::warn!(%error, "LISTEN failed; sweeping only");
                None
            }
        }
    }

    /// Publishes until no round claims anything: `rounds_in_flight` rounds at a time, each starting the next as soon
    /// as it commits. Returns how many rows were claimed; on a database error the other rounds finish theirs first.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let lane = || async {
            let mut claimed = 0;
            loop {
                match self.publish_available().await? {
                    0 => return Ok::<_, RelayError>(claimed),
                    n => claimed += n,
                }
            }
        };
        let lanes = join_all((0..self.config.rounds_in_flight.max(1)).map(|_| lane())).await;
        lanes.into_iter().sum()
    }

    /// One round: claims available rows, publishes them and puts the failed ones back with their backoff, all in one
    /// transaction (see [`CLAIM`]). Returns how many rows were claimed (0 = nothing to do right now).
    pub async fn publish_available(&self) -> Result<usize, RelayError> {
        let mut tx = self.pool.begin().await?;
        let mut rows: Vec<Row> = sqlx::query_as(CLAIM)
            .bind(self.config.claim_size)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(0);
        }
        // RETURNING does not promise the subquery's order.
        rows.sort_unstable_by_key(|r| r.id);

        let fates = join_all(
            batches(&rows)
                .into_iter()
                .map(|batch| self.publish_batch(batch)),
        )
        .await;
        let mut published = 0;
        let mut failed = 0;
        for (row, fate) in fates.into_iter().flatten() {
            match fate {
                Fate::Published => published += 1,
                Fate::Failed(reason) => {
                    failed += 1;
                    let delay = self.backoff(row.attempts);
                    tracing::warn!(
                        event_id = %row.event_id, event_type = %row.event_type, attempts = row.attempts + 1,
                        retry_in_ms = delay.as_millis() as u64, %reason, "publish failed; will retry"
                    );
                    sqlx::query(RESCHEDULE)
                        .bind(row.id)
                        .bind(row.event_id)
                        .bind(&row.event_type)
                        .bind(&row.payload)
                        .bind(&row.traceparent)
                        .bind(row.created_at)
                        .bind(row.attempts)
                        .bind(reason)
                        .bind(delay.as_secs_f64())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        metrics::OUTBOX_PUBLISHED.add(published, &[]);
        metrics::OUTBOX_PUBLISH_FAILED.add(failed, &[]);
        tracing::debug!(claimed = rows.len(), published, "outbox round");
        Ok(rows.len())
    }

    async fn publish_batch<'r>(&self, batch: Vec<&'r Row>) -> Vec<(&'r Row, Fate)> {
        // Exported traces: a producer span per row, child of the row's context; the message carries the span's.
        let spans: Vec<(tracing::Span, String)> = if otel::enabled() {
            batch.iter().map(|row| self.publish_span(row)).collect()
        } else {
            Vec::new()
        };
        let entries: Result<Vec<_>, _> = batch
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let traceparent = spans
                    .get(i)
                    .map(|(_, tp)| tp.as_str())
                    .or(row.traceparent.as_deref());
                entry(i, row, traceparent)
            })
            .collect();
        let fates = self.send_batch(batch, entries).await;
        for ((_, fate), (span, _)) in fates.iter().zip(&spans) {
            if matches!(fate, Fate::Failed(_)) {
                span.record("otel.status_code", "error");
            }
        }
        fates
    }

    /// The `publish <topic>` span of one row and the `traceparent` its message carries.
    fn publish_span(&self, row: &Row) -> (tracing::Span, String) {
        let topic = self.topic_arn.rsplit(':').next().unwrap_or(&self.topic_arn);
        let span = tracing::info_span!(
            "outbox_publish",
            otel.name = %format!("publish {topic}"),
            otel.kind = "producer",
            otel.status_code = tracing::field::Empty,
            messaging.system = "aws_sns",
            messaging.destination.name = topic,
            event_id = %row.event_id,
            event_type = %row.event_type,
        );
        let parent = row.traceparent.as_deref().and_then(TraceContext::parse);
        let ctx = otel::continue_trace(&span, parent.as_ref());
        (span, ctx.to_string())
    }

    async fn send_batch<'r>(
        &self,
        batch: Vec<&'r Row>,
        entries: Result<Vec<PublishBatchRequestEntry>, aws_sdk_sns::error::BuildError>,
    ) -> Vec<(&'r Row, Fate)> {
        let entries = match entries {
            Ok(e) => e,
            Err(error) => {
                let reason = format!("cannot build the request: {error}");
                return batch
                    .into_iter()
                    .map(|row| (row, Fate::Failed(reason.clone())))
                    .collect();
            }
        };
        let result = self
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        match result {
            Err(error) => {
                let reason = DisplayErrorContext(&error).to_string();
                batch
                    .into_iter()
                    .map(|row| (row, Fate::Failed(reason.clone())))
                    .collect()
            }
            Ok(output) => {
                let failed: Vec<(usize, String)> = output
                    .failed()
                    .iter()
                    .filter_map(|f| {
                        let reason = format!("{}: {}", f.code(), f.message().unwrap_or_default());
                        f.id().parse().ok().map(|i| (i, reason))
                    })
                    .collect();
                batch
                    .into_iter()
                    .enumerate()
                    .map(|(i, row)| match failed.iter().find(|(f, _)| *f == i) {
                        Some((_, reason)) => (row, Fate::Failed(reason.clone())),
                        // Neither listed as failed nor (for a malformed answer) as successful: SNS returned 200
                        // for the call, so an entry it does not report failed was accepted.
                        None => (row, Fate::Published),
                    })
                    .collect()
            }
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let exp = self
            .config
            .base_backoff
            .saturating_mul(2u32.saturating_pow(attempts.clamp(0, 20) as u32));
        let capped = exp.min(self.config.max_backoff);
        // Full jitter on the upper half, so many failed rows don't retry in lock step.
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// Samples the outbox's depth and lag every [`metrics::SAMPLE_INTERVAL`] until `shutdown`.
async fn sample(pool: PgPool, shutdown: CancellationToken) {
    let mut every = tokio::time::interval(metrics::SAMPLE_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let sampled = match pool.acquire().await {
            Ok(mut conn) => crate::backlog(&mut conn).await,
            Err(error) => Err(error),
        };
        match sampled {
            Ok((depth, lag)) => {
                metrics::OUTBOX_DEPTH.set(depth as f64, &[]);
                metrics::OUTBOX_LAG.set(lag, &[]);
            }
            // No value this round: the gauge shows missing data rather than a stale lag.
            Err(error) => tracing::warn!(%error, "cannot sample the outbox backlog"),
        }
    }
}

/// Splits claimed rows into `PublishBatch` calls: at most ten entries and 256 KiB per call.
fn batches(rows: &[Row]) -> Vec<Vec<&Row>> {
    let mut out: Vec<Vec<&Row>> = Vec::new();
    let mut size = 0;
    for row in rows {
        let row_size = row.payload.len() + row.event_type.len() + 128;
        match out.last_mut() {
            Some(batch) if batch.len() < SNS_BATCH && size + row_size <= MAX_MESSAGE_BYTES => {
                batch.push(row);
                size += row_size;
            }
            _ => {
                out.push(vec![row]);
                size = row_size;
            }
        }
    }
    out
}

fn entry(
    index: usize,
    row: &Row,
    traceparent: Option<&str>,
) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
    let string_attr = |value: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
    };
    let mut builder = PublishBatchRequestEntry::builder()
        .id(index.to_string())
        .message(&row.payload)
        .message_attributes("type", string_attr(&row.event_type)?);
    if let Some(tp) = traceparent {
        builder = builder.message_attributes(TRACEPARENT, string_attr(tp)?);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, size: usize) -> Row {
        Row {
            id,
            event_id: Uuid::now_v7(),
            event_type: "t".into(),
            payload: "x".repeat(size),
            traceparent: None,
            attempts: 0,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn batches_respect_count_and_size_limits() {
        let rows: Vec<Row> = (0..25).map(|i| row(i, 100)).collect();
        let sizes: Vec<usize> = batches(&rows).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![10, 10, 5]);

        let big: Vec<Row> = (0..4).map(|i| row(i, 100 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![2, 2]);
    }
}
