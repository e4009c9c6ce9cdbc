//! The relay's metrics (CloudWatch EMF), per service: what it published, what failed, and how far the outbox lags
//! behind (sampled every [`SAMPLE_INTERVAL`] while the relay runs).

use std::time::Duration;

use switchyard_core::metric::{Metric, Unit};

/// How often the relay samples the outbox's depth and lag.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(10);

pub const OUTBOX_PUBLISHED: Metric = Metric::counter(
    "OutboxPublished",
    "outbox rows SNS accepted (published events)",
);
pub const OUTBOX_PUBLISH_FAILED: Metric = Metric::counter(
    "OutboxPublishFailed",
    "outbox rows whose publish failed; each stays in the outbox and is retried after a backoff",
);
pub const OUTBOX_LAG: Metric = Metric::gauge(
    "OutboxLag",
    Unit::Seconds,
    "age of the oldest unpublished outbox row (0 when empty): how far SNS lags behind the committed state",
);
pub const OUTBOX_DEPTH: Metric =
    Metric::gauge("OutboxDepth", Unit::Count, "outbox rows not yet published");

/// Every metric of this crate.
pub const ALL: &[Metric] = &[
    OUTBOX_PUBLISHED,
    OUTBOX_PUBLISH_FAILED,
    OUTBOX_LAG,
    OUTBOX_DEPTH,
];
