//! `yard status`: the backlog of one environment at a glance. Per queue (SQS): messages waiting, in flight (received,
//! not yet deleted), delayed, and in its DLQ; per publishing service (Postgres): the outbox rows not yet published and
//! the age of the oldest, the lag the relay's `OutboxLag` metric reports.
//!
//! The age of a queue's oldest message is not here: SQS tells it only through CloudWatch
//! (`ApproximateAgeOfOldestMessage`, on the dashboard and its alarm), and reading messages to find out would count
//! as receives and push them towards the DLQ.

use std::fmt::Write as _;

use aws_sdk_sqs::{Client, error::DisplayErrorContext, types::QueueAttributeName};
use serde::Serialize;
use switchyard_topology::{Environment, Topology};

/// The topology's publisher that is SES itself (its feedback topic), not a service with an outbox.
const SES_PUBLISHER: &str = "ses";
/// Outbox lag shown as a warning from this age on (the relay publishes within a second when healthy).
const LAG_WARNING_SECONDS: f64 = 60.0;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueStatus {
    /// Logical name (topology key).
    pub queue: String,
    /// Physical name (`<environment>-<key>`).
    pub name: String,
    /// Waiting to be received (`ApproximateNumberOfMessages`).
    pub visible: u64,
    /// Received and neither deleted nor released yet (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
    /// Sent with a delay not yet over (`ApproximateNumberOfMessagesDelayed`).
    pub delayed: u64,
    /// Visible plus in flight in the DLQ.
    pub dlq_depth: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutboxStatus {
    pub service: String,
    pub schema: String,
    /// Rows not yet published (`None` with `error`).
    pub depth: Option<i64>,
    /// Age of the oldest unpublished row, seconds (0 when empty).
    pub lag_seconds: Option<f64>,
    /// Why this outbox could not be read (the others still are).
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub environment: String,
    pub queues: Vec<QueueStatus>,
    /// `None`: no database given (`--database-url` / `DATABASE_URL`).
    pub outboxes: Option<Vec<OutboxStatus>>,
}

#[derive(Debug, thiserror::Error)]
#[error("{action} on {queue} failed: {message}")]
pub struct StatusError {
    action: &'static str,
    queue: String,
    message: String,
}

/// The services whose outbox `yard status` reads by default, with their schema (the code's default schema, the
/// service's name): every publisher of a topic but SES.
pub fn default_outboxes(topology: &Topology) -> Vec<(String, String)> {
    let mut services: Vec<String> = topology
        .topics
        .values()
        .flat_map(|t| t.publishers.iter().cloned())
        .filter(|p| p != SES_PUBLISHER)
        .collect();
    services.sort();
    services.dedup();
    services
        .into_iter()
        .map(|s| {
            let schema = s.replace('-', "_");
            (s, schema)
        })
        .collect()
}

/// Every queue of the topology in `env`, in topology order.
pub async fn queues(
    sqs: &Client,
    topology: &Topology,
    env: &Environment,
) -> Result<Vec<QueueStatus>, StatusError> {
    let mut out = Vec::with_capacity(topology.queues.len());
    for key in topology.queues.keys() {
        let name = env.queue_name(key);
        let queue = attributes(sqs, &name).await?;
        let dlq = attributes(sqs, &env.dlq_name(key)).await?;
        out.push(QueueStatus {
            queue: key.clone(),
            name,
            visible: queue[0],
            in_flight: queue[1],
            delayed: queue[2],
            dlq_depth: dlq[0] + dlq[1],
        });
    }
    Ok(out)
}

/// [visible, not visible, delayed] of the queue named `name`.
async fn attributes(sqs: &Client, name: &str) -> Result<[u64; 3], StatusError> {
    let fail = |action: &'static str, message: String| StatusError {
        action,
        queue: name.to_owned(),
        message,
    };
    let url = sqs
        .get_queue_url()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| {
            fail(
                "sqs:GetQueueUrl",
                format!("{} (run yard provision)", DisplayErrorContext(&e)),
            )
        })?;
    let kinds = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ];
    let out = sqs
        .get_queue_attributes()
        .queue_url(url.queue_url().unwrap_or_default())
        .set_attribute_names(Some(kinds.to_vec()))
        .send()
        .await
        .map_err(|e| {
            fail(
                "sqs:GetQueueAttributes",
                DisplayErrorContext(&e).to_string(),
            )
        })?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    Ok(kinds.map(|k| attrs.get(&k).and_then(|v| v.parse().ok()).unwrap_or(0)))
}

/// The outbox of each (service, schema) on `database_url`; one that cannot be read reports its error.
pub async fn outboxes(database_url: &str, services: &[(String, String)]) -> Vec<OutboxStatus> {
    let mut out = Vec::with_capacity(services.len());
    for (service, schema) in services {
        let read = async {
            let settings = switchyard_core::db::DbSettings {
                url: database_url.to_owned().into(),
                schema: schema.clone(),
                max_connections: 1,
            };
            let pool = switchyard_core::db::connect(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let mut conn = pool.acquire().await.map_err(|e| e.to_string())?;
            let backlog = switchyard_outbox::backlog(&mut conn).await.map_err(|e| {
                format!("{e} (is {schema} the schema of {service}? --outbox {service}=<schema>)")
            });
            drop(conn);
            pool.close().await;
            backlog
        };
        out.push(match read.await {
            Ok((depth, lag)) => OutboxStatus {
                service: service.clone(),
                schema: schema.clone(),
                depth: Some(depth),
                lag_seconds: Some(lag),
                error: None,
            },
            Err(error) => OutboxStatus {
                service: service.clone(),
                schema: schema.clone(),
                depth: None,
                lag_seconds: None,
                error: Some(error),
            },
        });
    }
    out
}

/// Parses `--outbox SERVICE=SCHEMA`.
pub fn parse_outbox(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((service, schema)) if !service.trim().is_empty() && !schema.trim().is_empty() => {
            Ok((service.trim().to_owned(), schema.trim().to_owned()))
        }
        _ => Err(format!(
            "--outbox {arg:?}: expected SERVICE=SCHEMA, e.g. tasks=tasks"
        )),
    }
}

/// How a cell is shown.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Plain,
    Warn,
    Bad,
}

fn paint(text: &str, tone: Tone, color: bool) -> String {
    match (color, tone) {
        (true, Tone::Warn) => format!("\x1b[33m{text}\x1b[0m"),
        (true, Tone::Bad) => format!("\x1b[31m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// `cells` padded to `widths` (numbers right-aligned), colours added after padding so they do not count.
fn row(cells: &[(String, Tone)], widths: &[usize], color: bool) -> String {
    let mut line = String::new();
    for (i, ((text, tone), width)) in cells.iter().zip(widths).enumerate() {
        let padded = if i == 0 {
            format!("{text:<width$}")
        } else {
            format!("{text:>width$}")
        };
        line.push_str(&paint(&padded, *tone, color));
        line.push_str("  ");
    }
    line.trim_end().to_owned() + "\n"
}

fn table(header: &[&str], rows: Vec<Vec<(String, Tone)>>, color: bool) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, (text, _)) in widths.iter_mut().zip(r) {
            *w = (*w).max(text.chars().count());
        }
    }
    let head: Vec<(String, Tone)> = header
        .iter()
        .map(|h| ((*h).to_owned(), Tone::Plain))
        .collect();
    let mut out = row(&head, &widths, false);
    for r in rows {
        out.push_str(&row(&r, &widths, color));
    }
    out
}

/// The status as tables; `color` adds ANSI colours (callers pass it only for a terminal): DLQ messages and
/// unreadable outboxes red, an outbox lag of a minute or more yellow.
pub fn render(status: &Status, color: bool) -> String {
    let plain = |v: String| (v, Tone::Plain);
    let mut out = String::new();
    let _ = writeln!(out, "environment {}", status.environment);
    out.push('\n');
    let queues = status
        .queues
        .iter()
        .map(|q| {
            vec![
                plain(q.queue.clone()),
                plain(q.visible.to_string()),
                plain(q.in_flight.to_string()),
                plain(q.delayed.to_string()),
                (
                    q.dlq_depth.to_string(),
                    if q.dlq_depth > 0 {
                        Tone::Bad
                    } else {
                        Tone::Plain
                    },
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        &["queue", "waiting", "in flight", "delayed", "dlq"],
        queues,
        color,
    ));
    out.push('\n');
    match &status.outboxes {
        None => out.push_str("outboxes: not read (give --database-url or DATABASE_URL)\n"),
        Some(outboxes) => {
            let rows = outboxes
                .iter()
                .map(|o| match (&o.error, o.depth, o.lag_seconds) {
                    (None, Some(depth), Some(lag)) => vec![
                        plain(o.service.clone()),
                        plain(o.schema.clone()),
                        plain(depth.to_string()),
                        (
                            format!("{lag:.1}"),
                            if lag >= LAG_WARNING_SECONDS {
                                Tone::Warn
                            } else {
                                Tone::Plain
                            },
                        ),
                    ],
                    (error, _, _) => vec![
                        plain(o.service.clone()),
                        plain(o.schema.clone()),
                        ("-".to_owned(), Tone::Bad),
                        (
                            error.clone().unwrap_or_else(|| "unreadable".into()),
                            Tone::Bad,
                        ),
                    ],
                })
                .collect();
            out.push_str(&table(
                &["outbox", "schema", "unpublished", "lag (s)"],
                rows,
                color,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        Status {
            environment: "prod".into(),
            queues: vec![QueueStatus {
                queue: "mailer".into(),
                name: "prod-mailer".into(),
                visible: 12,
                in_flight: 3,
                delayed: 0,
                dlq_depth: 1,
            }],
            outboxes: Some(vec![
                OutboxStatus {
                    service: "tasks".into(),
                    schema: "tasks".into(),
                    depth: Some(2),
                    lag_seconds: Some(75.3),
                    error: None,
                },
                OutboxStatus {
                    service: "identity".into(),
                    schema: "identity".into(),
                    depth: None,
                    lag_seconds: None,
                    error: Some("relation outbox does not exist".into()),
                },
            ]),
        }
    }

    #[test]
    fn tables_align_and_colour_only_when_asked() {
        let plain = render(&status(), false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(
            plain.contains("\nmailer       12          3        0    1\n"),
            "{plain}"
        );
        assert!(plain.contains("75.3"), "{plain}");
        let coloured = render(&status(), true);
        assert!(
            coloured.contains("\x1b[31m"),
            "the DLQ count is red: {coloured}"
        );
        assert!(
            coloured.contains("\x1b[33m"),
            "the lag is yellow: {coloured}"
        );
    }

    #[test]
    fn outbox_arguments_are_service_equals_schema() {
        assert_eq!(
            parse_outbox("tasks=t_1_tasks"),
            Ok(("tasks".into(), "t_1_tasks".into()))
        );
        assert!(parse_outbox("tasks").is_err());
        assert!(parse_outbox("=x").is_err());
    }

    #[test]
    fn default_outboxes_are_the_publishing_services() {
        let topology = Topology::embedded().unwrap();
        let names: Vec<String> = default_outboxes(&topology)
            .into_iter()
            .map(|(s, _)| s)
            .collect();
        assert_eq!(names, ["identity", "tasks"]);
    }
}
