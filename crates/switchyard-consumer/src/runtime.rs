//! The consumer loop.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rand::Rng;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument, field};

use switchyard_core::{
    health::HealthProbe,
    metric, otel,
    trace::{TRACEPARENT, TraceContext},
};

use crate::{
    Incoming, MessageHandler, Outcome, metrics,
    sqs::{Receive, Sqs},
};

/// SQS returns at most ten messages per receive and deletes at most ten per batch.
const SQS_BATCH: usize = 10;
/// How long the delete batcher waits for a batch to fill.
const DELETE_LINGER: Duration = Duration::from_millis(10);
/// SQS's ceiling for a visibility timeout.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub queue_url: String,
    /// Messages being handled at once (a semaphore): bounds memory, DB connections and downstream load. The
    /// default, two receive batches, lets the next batch arrive while the previous one is being handled.
    pub max_in_flight: usize,
    /// Long-poll wait (SQS maximum 20 s).
    pub wait_time: Duration,
    /// Visibility requested on receive; the heartbeat keeps extending it while the handler runs.
    pub visibility_timeout: Duration,
    /// How often a running handler's message gets its visibility extended (well under `visibility_timeout`).
    pub heartbeat_interval: Duration,
    /// After a shutdown signal: how long in-flight handlers may take before their messages are released.
    pub shutdown_deadline: Duration,
    /// Retry delay for the first receive (doubles per receive), capped at `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl ConsumerConfig {
    pub fn new(queue_url: impl Into<String>) -> Self {
        let visibility_timeout = Duration::from_secs(30);
        Self {
            queue_url: queue_url.into(),
            max_in_flight: 20,
            wait_time: Duration::from_secs(20),
            visibility_timeout,
            heartbeat_interval: visibility_timeout / 3,
            shutdown_deadline: Duration::from_secs(25),
            retry_base: Duration::from_secs(2),
            retry_max: Duration::from_secs(300),
        }
    }

    /// Sets the visibility timeout and a matching heartbeat (a third of it).
    pub fn with_visibility(mut self, visibility: Duration) -> Self {
        self.visibility_timeout = visibility;
        self.heartbeat_interval = (visibility / 3).max(Duration::from_millis(200));
        self
    }

    fn queue_name(&self) -> &str {
        self.queue_url.rsplit('/').next().unwrap_or(&self.queue_url)
    }

    /// Visibility for a retried message: exponential in its receive count, jittered, capped.
    fn retry_delay(&self, receive_count: u32) -> Duration {
        let exp = self
            .retry_base
            .saturating_mul(2u32.saturating_pow(receive_count.saturating_sub(1).min(20)));
        let capped = exp.min(self.retry_max);
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}

/// Liveness for ECS: healthy while receives succeed.
#[derive(Debug)]
pub struct ConsumerHealth {
    last_ok_poll: AtomicU64,
    stale_after: Duration,
}

impl ConsumerHealth {
    fn new(stale_after: Duration) -> Self {
        Self {
            last_ok_poll: AtomicU64::new(now_secs()),
            stale_after,
        }
    }

    fn mark_ok(&self) {
        self.last_ok_poll.store(now_secs(), Ordering::Relaxed);
    }
}

impl HealthProbe for ConsumerHealth {
    fn healthy(&self) -> bool {
        now_secs().saturating_sub(self.last_ok_poll.load(Ordering::Relaxed))
            <= self.stale_after.as_secs()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Counts of one `run`, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub done: usize,
    pub retried: usize,
    pub rejected: usize,
    /// In flight when the shutdown deadline passed: made visible again for another consumer.
    pub released: usize,
}

#[derive(Default)]
struct Counters {
    done: AtomicUsize,
    retried: AtomicUsize,
    rejected: AtomicUsize,
    released: AtomicUsize,
}

/// Consumes one queue with one handler.
pub struct Consumer<H> {
    sqs: Sqs,
    config: Arc<ConsumerConfig>,
    handler: Arc<H>,
    health: Arc<ConsumerHealth>,
}

impl<H: MessageHandler> Consumer<H> {
    pub fn new(sqs: Sqs, config: ConsumerConfig, handler: H) -> Self {
        let stale_after = config.wait_time * 3 + Duration::from_secs(30);
        metric::declare(metrics::ALL);
        Self {
            sqs,
            config: Arc::new(config),
            handler: Arc::new(handler),
            health: Arc::new(ConsumerHealth::new(stale_after)),
        }
    }

    pub fn health(&self) -> Arc<ConsumerHealth> {
        self.health.clone()
    }

    /// Runs until `shutdown` is cancelled, then drains: in-flight handlers get `shutdown_deadline` to finish; the
    /// messages of those that do not are made visible again. Successes are deleted before this returns.
    pub async fn run(self, shutdown: CancellationToken) -> RunSummary {
        let config = self.config.clone();
        let queue = config.queue_name().to_owned();
        let queue_label: Arc<str> = Arc::from(queue.as_str());
        let permits = Arc::new(Semaphore::new(config.max_in_flight.max(1)));
        let tracker = TaskTracker::new();
        let abort = CancellationToken::new();
        let counters = Arc::new(Counters::default());
        let (delete_tx, delete_rx) = mpsc::unbounded_channel::<String>();
        let ctx = Arc::new(Ctx {
            sqs: self.sqs.clone(),
            config: config.clone(),
            handler: self.handler.clone(),
            deletes: delete_tx,
            abort: abort.clone(),
            counters: counters.clone(),
        });
        let deleter = tokio::spawn(delete_loop(
            self.sqs.clone(),
            config.queue_url.clone(),
            delete_rx,
        ));
        let mut receive_failures: u32 = 0;

        tracing::info!(%queue, max_in_flight = config.max_in_flight, "consumer started");
        loop {
            // Wait for room for a whole batch before asking SQS for more: the semaphore is the in-flight bound, and
            // polling for fewer than a batch would turn slow handlers into one-message receives.
            let batch = config.max_in_flight.clamp(1, SQS_BATCH);
            let mut batch_permits = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = permits.clone().acquire_many_owned(batch as u32) => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let ask = Receive {
                max_messages: batch as u32,
                wait: config.wait_time,
                visibility: config.visibility_timeout,
            };
            let receive = self.sqs.receive(&config.queue_url, &ask);
            tokio::pin!(receive);
            let received = tokio::select! {
                _ = shutdown.cancelled() => {
                    // Dropping the poll would not stop SQS from handing it messages, which would then stay
                    // invisible for the whole visibility timeout. Let it finish and hand back what it got.
                    self.release_poll(receive, config.shutdown_deadline).await;
                    break;
                }
                r = &mut receive => r,
            };
            let messages = match received {
                Ok(messages) => {
                    receive_failures = 0;
                    self.health.mark_ok();
                    messages
                }
                Err(error) => {
                    receive_failures += 1;
                    let pause = Duration::from_millis(500)
                        .saturating_mul(2u32.saturating_pow(receive_failures.min(6)))
                        .min(Duration::from_secs(30));
                    tracing::error!(
                        %queue, error = %error, retry_in_ms = pause.as_millis() as u64,
                        "receive failed"
                    );
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            let mut received = Vec::with_capacity(messages.len());
            for message in messages {
                if received.len() == batch {
                    // SQS returned more than asked for; never exceed the bound.
                    tracing::warn!(%queue, "more messages than requested; releasing the extra one");
                    set_visibility(
                        &self.sqs,
                        &config.queue_url,
                        &message.receipt_handle,
                        Duration::ZERO,
                    )
                    .await;
                    continue;
                }
                let mut incoming = Incoming::from_sqs(message);
                incoming.queue = queue_label.clone();
                received.push(incoming);
            }
            if received.is_empty() {
                continue;
            }
            if self.handler.batches() {
                // One task for the batch; its permits are released together.
                let permit = batch_permits.split(received.len());
                let task = process_batch(ctx.clone(), received);
                tracker.spawn(Box::pin(async move {
                    task.await;
                    drop(permit);
                }));
            } else {
                for incoming in received {
                    let permit = batch_permits.split(1);
                    let task = process(ctx.clone(), incoming);
                    // Boxed: the handler's future can be large, and a spawned future is moved several times.
                    tracker.spawn(Box::pin(async move {
                        task.await;
                        drop(permit);
                    }));
                }
            }
        }

        tracker.close();
        let in_flight = tracker.len();
        tracing::info!(%queue, in_flight, deadline_ms = config.shutdown_deadline.as_millis() as u64, "draining");
        if tokio::time::timeout(config.shutdown_deadline, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(%queue, remaining = tracker.len(), "shutdown deadline passed; releasing unfinished messages");
            abort.cancel();
            tracker.wait().await;
        }
        // The last sender of the delete channel goes with the context (every task that held it has finished).
        drop(ctx);
        if let Err(error) = deleter.await {
            tracing::error!(%error, "delete task failed");
        }
        let summary = RunSummary {
            done: counters.done.load(Ordering::Relaxed),
            retried: counters.retried.load(Ordering::Relaxed),
            rejected: counters.rejected.load(Ordering::Relaxed),
            released: counters.released.load(Ordering::Relaxed),
        };
        tracing::info!(%queue, ?summary, "consumer stopped");
        switchyard_core::telemetry::flush();
        summary
    }
}

impl<H> Consumer<H> {
    /// Waits (at most `limit`) for a poll cut short by shutdown and makes whatever it received visible at once.
    async fn release_poll<F, E>(&self, poll: F, limit: Duration)
    where
        F: Future<Output = Result<Vec<crate::sqs::Message>, E>>,
    {
        let Ok(Ok(messages)) = tokio::time::timeout(limit, poll).await else {
            return;
        };
        for message in &messages {
            set_visibility(
                &self.sqs,
                &self.config.queue_url,
                &message.receipt_handle,
                Duration::ZERO,
            )
            .await;
        }
        if !messages.is_empty() {
            tracing::info!(
                released = messages.len(),
                "released messages received during shutdown"
            );
        }
    }
}

/// What every message task needs.
struct Ctx<H> {
    sqs: Sqs,
    config: Arc<ConsumerConfig>,
    handler: Arc<H>,
    deletes: mpsc::UnboundedSender<String>,
    abort: CancellationToken,
    counters: Arc<Counters>,
}

/// The span a message's log lines carry (queue, ids, the continued trace).
fn message_span(config: &ConsumerConfig, incoming: &Incoming) -> tracing::Span {
    let span = tracing::info_span!(
        "message",
        queue = config.queue_name(),
        message_id = %incoming.message_id,
        receive_count = incoming.receive_count,
        event_id = field::Empty,
        event_type = field::Empty,
        trace_id = %incoming.trace.trace_id_hex(),
        span_id = %incoming.trace.span_id_hex(),
        otel.kind = "consumer",
        otel.name = field::Empty,
        otel.status_code = field::Empty,
    );
    if let Some(id) = &incoming.event_id {
        span.record("event_id", id.as_str());
    }
    if let Some(t) = &incoming.event_type {
        span.record("event_type", t.as_str());
    }
    span
}

/// The message's span when traces are exported: `process <queue>`, the child of the producer's `traceparent`; the
/// message's context becomes the span's own (what a handler propagates). Without export, [`message_span`].
fn traced_span(config: &ConsumerConfig, incoming: &mut Incoming) -> tracing::Span {
    let span = message_span(config, incoming);
    if otel::enabled() {
        span.record("otel.name", format!("process {}", config.queue_name()));
        let parent = incoming
            .attributes
            .get(TRACEPARENT)
            .and_then(|tp| TraceContext::parse(tp));
        incoming.trace = otel::continue_trace(&span, parent.as_ref());
        span.record("trace_id", incoming.trace.trace_id_hex());
        span.record("span_id", incoming.trace.span_id_hex());
    }
    span
}

/// The handler's span under a message's (only when traces are exported).
fn handler_span(parent: &tracing::Span, incoming: &Incoming) -> tracing::Span {
    if !otel::enabled() {
        return tracing::Span::none();
    }
    tracing::info_span!(
        parent: parent,
        "handler",
        otel.name = %format!("handle {}", incoming.event_type.as_deref().unwrap_or("message")),
    )
}

/// Handles one message with a visibility heartbeat, then acts on the outcome.
fn process<H: MessageHandler>(
    ctx: Arc<Ctx<H>>,
    mut incoming: Incoming,
) -> impl Future<Output = ()> + Send {
    let span = traced_span(&ctx.config, &mut incoming);
    let handler = handler_span(&span, &incoming);
    async move {
        let config = &ctx.config;
        let started = tokio::time::Instant::now();
        let handling = ctx.handler.handle(&incoming).instrument(handler);
        tokio::pin!(handling);
        let start = tokio::time::Instant::now() + config.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(start, config.heartbeat_interval);
        let outcome = loop {
            tokio::select! {
                biased;
                outcome = &mut handling => break Some(outcome),
                _ = ctx.abort.cancelled() => break None,
                _ = heartbeat.tick() => {
                    set_visibility(&ctx.sqs, &config.queue_url, &incoming.receipt_handle, config.visibility_timeout).await;
                }
            }
        };
        if outcome.is_some() {
            metrics::HANDLER_LATENCY.record(millis(started.elapsed()), &[&*incoming.queue]);
        }
        match outcome {
            None => {
                // Shutdown deadline: the handler future is dropped (its transaction rolls back), and the
                // message is handed back to SQS at once.
                set_visibility(&ctx.sqs, &config.queue_url, &incoming.receipt_handle, Duration::ZERO).await;
                ctx.counters.released.fetch_add(1, Ordering::Relaxed);
                metrics::MESSAGES_RELEASED.add(1, &[&*incoming.queue]);
                tracing::warn!("released unfinished message at shutdown");
            }
            Some(outcome) => settle(&ctx, &incoming, outcome).await,
        }
    }
    .instrument(span)
}

/// Handles a received batch in one call ([`MessageHandler::handle_batch`]) with one heartbeat for all of it, then
/// acts on each message's outcome. Log lines of a message (retries, rejects) carry its span as in [`process`].
async fn process_batch<H: MessageHandler>(ctx: Arc<Ctx<H>>, mut batch: Vec<Incoming>) {
    let config = &ctx.config;
    // Exported traces: each message its own span (they belong to different traces) and handler span, open while the
    // batch is handled.
    let spans: Vec<tracing::Span> = if otel::enabled() {
        batch.iter_mut().map(|m| traced_span(config, m)).collect()
    } else {
        Vec::new()
    };
    let handler_spans: Vec<tracing::Span> = spans
        .iter()
        .zip(&batch)
        .map(|(span, m)| handler_span(span, m))
        .collect();
    let started = tokio::time::Instant::now();
    let handling = ctx.handler.handle_batch(&batch);
    tokio::pin!(handling);
    let start = tokio::time::Instant::now() + config.heartbeat_interval;
    let mut heartbeat = tokio::time::interval_at(start, config.heartbeat_interval);
    let outcomes = loop {
        tokio::select! {
            biased;
            outcomes = &mut handling => break Some(outcomes),
            _ = ctx.abort.cancelled() => break None,
            _ = heartbeat.tick() => {
                set_visibility_batch(&ctx.sqs, &config.queue_url, &batch, config.visibility_timeout).await;
            }
        }
    };
    drop(handler_spans);
    let queue = batch.first().map(|m| m.queue.clone());
    let Some(outcomes) = outcomes else {
        set_visibility_batch(&ctx.sqs, &config.queue_url, &batch, Duration::ZERO).await;
        ctx.counters
            .released
            .fetch_add(batch.len(), Ordering::Relaxed);
        if let Some(queue) = &queue {
            metrics::MESSAGES_RELEASED.add(batch.len() as u64, &[&**queue]);
        }
        tracing::warn!(
            queue = config.queue_name(),
            messages = batch.len(),
            "released an unfinished batch at shutdown"
        );
        return;
    };
    if let Some(queue) = &queue {
        metrics::HANDLER_LATENCY.record(millis(started.elapsed()), &[&**queue]);
    }
    let mut outcomes = outcomes.into_iter();
    // The common case, done without a span of its own: counted here and recorded once for the batch (its messages
    // were read from one response, so they share their receive-to-done time to within microseconds).
    let mut done: Option<(usize, Duration)> = None;
    for (i, incoming) in batch.iter().enumerate() {
        let outcome = outcomes
            .next()
            .unwrap_or_else(|| Outcome::retry("the handler returned no outcome for this message"));
        if let Some(span) = spans.get(i) {
            settle(&ctx, incoming, outcome)
                .instrument(span.clone())
                .await;
        } else if outcome == Outcome::Done {
            // Nothing is logged at the default level.
            mark_done(&ctx, incoming);
            let (n, _) = done.get_or_insert_with(|| (0, incoming.received_at.elapsed()));
            *n += 1;
        } else {
            settle(&ctx, incoming, outcome)
                .instrument(message_span(config, incoming))
                .await;
        }
    }
    if let (Some((n, elapsed)), Some(queue)) = (done, &queue) {
        metrics::MESSAGES_HANDLED.add(n as u64, &[&**queue]);
        metrics::RECEIVE_TO_DONE_LATENCY.record_many(millis(elapsed), n, &[&**queue]);
    }
}

/// A handled message: counted and queued for the batched delete (its metrics are the caller's).
fn mark_done<H>(ctx: &Ctx<H>, incoming: &Incoming) {
    ctx.counters.done.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(message_id = %incoming.message_id, "message processed");
    if ctx.deletes.send(incoming.receipt_handle.clone()).is_err() {
        tracing::error!("delete queue closed; the message will be redelivered and deduplicated");
    }
}

/// Acts on one message's outcome: delete (batched), retry later, or hand back for the redrive policy.
async fn settle<H>(ctx: &Ctx<H>, incoming: &Incoming, outcome: Outcome) {
    let config = &ctx.config;
    let receipt = &incoming.receipt_handle;
    let queue = [&*incoming.queue];
    if outcome != Outcome::Done {
        tracing::Span::current().record("otel.status_code", "error");
    }
    match outcome {
        Outcome::Done => {
            mark_done(ctx, incoming);
            metrics::MESSAGES_HANDLED.add(1, &queue);
        }
        Outcome::Retry { after, reason } => {
            let delay = after
                .unwrap_or_else(|| config.retry_delay(incoming.receive_count))
                .min(MAX_VISIBILITY);
            ctx.counters.retried.fetch_add(1, Ordering::Relaxed);
            metrics::MESSAGES_RETRIED.add(1, &queue);
            tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "handler asked to retry");
            set_visibility(&ctx.sqs, &config.queue_url, receipt, delay).await;
        }
        Outcome::Reject { reason } => {
            ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
            metrics::MESSAGES_REJECTED.add(1, &queue);
            tracing::error!(
                %reason, body = %truncate(&incoming.raw_body, 512),
                "message rejected; the redrive policy moves it to the DLQ after maxReceiveCount receives"
            );
            set_visibility(&ctx.sqs, &config.queue_url, receipt, Duration::ZERO).await;
        }
    }
    metrics::RECEIVE_TO_DONE_LATENCY.record(millis(incoming.received_at.elapsed()), &queue);
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

async fn set_visibility(sqs: &Sqs, queue_url: &str, receipt: &str, visibility: Duration) {
    if let Err(error) = sqs.change_visibility(queue_url, receipt, visibility).await {
        tracing::warn!(%error, "changing message visibility failed");
    }
}

/// The same visibility for every message of a batch, in one `ChangeMessageVisibilityBatch` call.
async fn set_visibility_batch(
    sqs: &Sqs,
    queue_url: &str,
    batch: &[Incoming],
    visibility: Duration,
) {
    let receipts = batch.iter().map(|m| m.receipt_handle.as_str());
    match sqs
        .change_visibility_batch(queue_url, receipts, visibility)
        .await
    {
        Ok(failed) => {
            for failure in failed {
                tracing::warn!(
                    code = failure.code,
                    message = failure.message.unwrap_or_default(),
                    "changing message visibility failed"
                );
            }
        }
        Err(error) => tracing::warn!(%error, "changing message visibility failed"),
    }
}

/// Deletes processed messages in batches of up to ten, as they come; ends when every sender is gone.
async fn delete_loop(sqs: Sqs, queue_url: String, mut receipts: mpsc::UnboundedReceiver<String>) {
    let mut batch = Vec::with_capacity(SQS_BATCH);
    while receipts.recv_many(&mut batch, SQS_BATCH).await > 0 {
        // A received batch finishes at about the same time: linger briefly so one call deletes all of it instead
        // of several calls deleting a few each (every call costs a round trip).
        let linger = tokio::time::Instant::now() + DELETE_LINGER;
        while batch.len() < SQS_BATCH {
            let room = SQS_BATCH - batch.len();
            match tokio::time::timeout_at(linger, receipts.recv_many(&mut batch, room)).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let count = batch.len();
        match sqs.delete_batch(&queue_url, &batch).await {
            Ok(failed) if failed.is_empty() => tracing::debug!(count, "deleted"),
            Ok(failed) => {
                for failure in failed {
                    tracing::warn!(
                        code = failure.code,
                        message = failure.message.unwrap_or_default(),
                        "delete failed; the message will be redelivered and deduplicated by the inbox"
                    );
                }
            }
            Err(error) => tracing::warn!(
                count, %error,
                "delete batch failed; the messages will be redelivered and deduplicated by the inbox"
            ),
        }
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        let c = ConsumerConfig::new("https://sqs/1/q");
        assert_eq!(c.queue_name(), "q");
        let first = c.retry_delay(1);
        assert!(
            first >= Duration::from_secs(1) && first <= Duration::from_secs(2),
            "{first:?}"
        );
        let late = c.retry_delay(40);
        assert!(
            late <= Duration::from_secs(300) && late >= Duration::from_secs(150),
            "{late:?}"
        );
    }

    #[test]
    fn truncates_on_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
