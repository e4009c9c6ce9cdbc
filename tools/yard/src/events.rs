//! The event archive from the operator's side: list archived events, replay them into ONE consumer's queue.
//!
//! Replay sends to the queue, not the topic, so consumers that already have the events are not disturbed; the
//! target's inbox makes a replay (or a replay of a replay) safe. By default only the event types the queue's
//! subscriptions let through are replayed (when every subscription of the queue filters on `type`).

use std::collections::BTreeSet;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use sqlx::PgPool;
use switchyard_topology::Topology;
use uuid::Uuid;

/// Which archived events to look at.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub types: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Archived {
    pub event_id: Uuid,
    pub event_type: String,
    pub source: String,
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    pub body: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error("reading the archive failed: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("sending to the queue failed: {0}")]
    Send(String),
    #[error(
        "--since {0:?}: expected an RFC 3339 time (2026-11-23T10:00:00Z) or an age like 30m, 6h, 7d"
    )]
    BadSince(String),
}

/// Parses `--since`: an RFC 3339 time, or an age (`90s`, `30m`, `6h`, `7d`) before now.
pub fn parse_since(text: &str) -> Result<DateTime<Utc>, EventsError> {
    let bad = || EventsError::BadSince(text.to_owned());
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let (num, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => Duration::seconds(n),
        "m" => Duration::minutes(n),
        "h" => Duration::hours(n),
        "d" => Duration::days(n),
        _ => return Err(bad()),
    };
    Ok(Utc::now() - age)
}

/// One page of archived events in (time, id) order, after the cursor `after`.
async fn page(
    pool: &PgPool,
    filter: &Filter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<Archived>, EventsError> {
    let (after_time, after_id) = after.map_or((None, None), |(t, id)| (Some(t), Some(id)));
    Ok(sqlx::query_as(
        "SELECT event_id, event_type, source, subject, time, body FROM archived_events \
         WHERE ($1::timestamptz IS NULL OR time >= $1) \
           AND (cardinality($2::text[]) = 0 OR event_type = ANY($2)) \
           AND ($3::text IS NULL OR subject = $3) \
           AND ($4::timestamptz IS NULL OR (time, event_id) > ($4, $5)) \
         ORDER BY time, event_id LIMIT $6",
    )
    .bind(filter.since)
    .bind(&filter.types)
    .bind(&filter.subject)
    .bind(after_time)
    .bind(after_id)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn list(
    pool: &PgPool,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<Archived>, EventsError> {
    page(pool, filter, None, limit).await
}

pub async fn count(pool: &PgPool, filter: &Filter) -> Result<i64, EventsError> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM archived_events WHERE ($1::timestamptz IS NULL OR time >= $1) \
         AND (cardinality($2::text[]) = 0 OR event_type = ANY($2)) AND ($3::text IS NULL OR subject = $3)",
    )
    .bind(filter.since)
    .bind(&filter.types)
    .bind(&filter.subject)
    .fetch_one(pool)
    .await?)
}

/// The event types a queue receives, if every one of its subscriptions filters on `type`; `None` means all.
pub fn types_of_queue(topology: &Topology, queue: &str) -> Option<Vec<String>> {
    let mut types = BTreeSet::new();
    for (_, sub) in topology.subscriptions_of_queue(queue) {
        let listed = sub.filter_policy.as_ref()?.get("type")?.as_array()?;
        types.extend(listed.iter().filter_map(|v| v.as_str().map(str::to_owned)));
    }
    Some(types.into_iter().collect())
}

/// Sends every matching archived event to `queue_url` (raw CloudEvent body and `type` attribute, as SNS raw
/// delivery would). Returns how many were sent.
pub async fn replay(
    pool: &PgPool,
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    filter: &Filter,
    mut progress: impl FnMut(usize),
) -> Result<usize, EventsError> {
    let mut sent = 0;
    let mut cursor = None;
    loop {
        let events = page(pool, filter, cursor, 100).await?;
        let Some(last) = events.last() else { break };
        cursor = Some((last.time, last.event_id));
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    let attr = MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(&e.event_type)
                        .build()
                        .map_err(|err| EventsError::Send(err.to_string()))?;
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(e.body.to_string())
                        .message_attributes("type", attr)
                        .build()
                        .map_err(|err| EventsError::Send(err.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = sqs
                .send_message_batch()
                .queue_url(queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| {
                    EventsError::Send(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
                })?;
            if let Some(failed) = out.failed().first() {
                // Stop rather than skip: a replay with a hole in it would be worse than one that says it stopped.
                return Err(EventsError::Send(format!(
                    "{} of a batch failed ({}); {sent} sent before it — rerun with --since to resume",
                    out.failed().len(),
                    failed.code()
                )));
            }
            sent += chunk.len();
            progress(sent);
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_times_and_ages() {
        let t = parse_since("2026-11-23T10:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T10:00:00+00:00");
        let age = Utc::now() - parse_since("2h").unwrap();
        assert!((age - Duration::hours(2)).num_seconds().abs() < 5);
        for bad in ["", "yesterday", "5w", "h"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn queue_types_come_from_filter_policies() {
        let t = Topology::embedded().unwrap();
        let mailer = types_of_queue(&t, "mailer").unwrap();
        assert!(mailer.contains(&"switchyard.tasks.task.completed.v1".to_owned()));
        assert!(!mailer.contains(&"switchyard.tasks.task.created.v1".to_owned()));
        assert_eq!(types_of_queue(&t, "event-archive"), None);
    }
}
