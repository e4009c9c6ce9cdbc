//! Issue #2's benchmarks: consumer runtime vs a plain receive+delete loop, CPU per message with the inbox
//! transaction, and outbox relay vs a plain `PublishBatch` loop.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, SendMessageBatchRequestEntry};
use sqlx::{PgConnection, PgPool};
use switchyard_consumer::{
    Consumer, ConsumerConfig, EventHandler, HandlerError, Inbox, Incoming, MessageHandler, Outcome,
};
use switchyard_core::db::{self, DbSettings};
use switchyard_events::CloudEvent;
use switchyard_outbox::{Relay, RelayConfig, enqueue};
use switchyard_tests::{aws_config_for, database_url, endpoint, probe, unique};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::stats::{Extra, Report, Row, cpu_time, median};

struct Env {
    sqs: aws_sdk_sqs::Client,
    /// The runtime's own client (the consumer rows); the plain loop is the SDK's.
    queues: switchyard_consumer::Sqs,
    sns: aws_sdk_sns::Client,
    queue_url: String,
    topic_arn: String,
    pool: PgPool,
    schema: String,
}

/// Counts handled messages and wakes the bench when the round's target is reached.
#[derive(Clone)]
struct Counter {
    seen: Arc<AtomicUsize>,
    target: usize,
    done: Arc<Notify>,
}

impl Counter {
    fn new(target: usize) -> Self {
        Self {
            seen: Arc::new(AtomicUsize::new(0)),
            target,
            done: Arc::new(Notify::new()),
        }
    }

    fn hit(&self) {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.target {
            self.done.notify_one();
        }
    }
}

impl MessageHandler for Counter {
    async fn handle(&self, _: &Incoming) -> Outcome {
        self.hit();
        Outcome::Done
    }
}

impl EventHandler for Counter {
    async fn handle(
        &self,
        _: &CloudEvent,
        _: &Incoming,
        _: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        self.hit();
        Ok(())
    }
}

/// Events per round of the relay rows (at least).
const RELAY_EVENTS: usize = 1500;

pub async fn run(n: usize, rounds: usize) -> anyhow::Result<Report> {
    let env = setup()
        .await
        .context("bench setup (is `make deps` running moto and Postgres?)")?;
    let (mut plain, mut runtime, mut inbox, mut relay, mut publish) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut relay_one_round = vec![];
    let default_rounds = RelayConfig::default().rounds_in_flight;
    // Publishing is not slowed by a queue's depth (the topic has no subscriber), and at ~1,000-2,000 msg/s a round
    // of `n` would last a fraction of a second, within the machine's noise: the relay rows time more events.
    let relay_n = n.max(RELAY_EVENTS);
    let (mut cpu_plain, mut cpu_runtime, mut cpu_inbox) = (vec![], vec![], vec![]);
    let (mut lean, mut cpu_lean) = (vec![], vec![]);
    for round in 1..=rounds {
        eprintln!("round {round}/{rounds}");
        preload(&env, n).await?;
        let ((rate, cpu), ()) = measure(n, plain_loop(&env, n)).await?;
        plain.push(rate);
        cpu_plain.push(cpu);

        preload(&env, n).await?;
        let ((rate, cpu), ()) = measure(n, lean_loop(&env, n)).await?;
        lean.push(rate);
        cpu_lean.push(cpu);

        preload(&env, n).await?;
        let counter = Counter::new(n);
        let (rate, cpu) = consume(&env, counter.clone(), counter, n).await?;
        runtime.push(rate);
        cpu_runtime.push(cpu);

        preload(&env, n).await?;
        let counter = Counter::new(n);
        let (rate, cpu) = consume(
            &env,
            Inbox::new(env.pool.clone(), counter.clone()),
            counter,
            n,
        )
        .await?;
        inbox.push(rate);
        cpu_inbox.push(cpu);

        // The order alternates between rounds (relay first, then the plain loop first) so that neither always runs
        // right after the outbox was filled (autovacuum, a busier emulator).
        let events = fill_outbox(&env, relay_n).await?;
        if round % 2 == 1 {
            let ((rate, _), ()) = measure(relay_n, relay_drain(&env, default_rounds)).await?;
            relay.push(rate);
            let ((rate, _), ()) = measure(relay_n, publish_loop(&env, &events)).await?;
            publish.push(rate);
        } else {
            let ((rate, _), ()) = measure(relay_n, publish_loop(&env, &events)).await?;
            publish.push(rate);
            let ((rate, _), ()) = measure(relay_n, relay_drain(&env, default_rounds)).await?;
            relay.push(rate);
        }
        // The relay as it was before `rounds_in_flight` (one round at a time), on an outbox of its own.
        fill_outbox(&env, relay_n).await?;
        let ((rate, _), ()) = measure(relay_n, relay_drain(&env, 1)).await?;
        relay_one_round.push(rate);
    }
    teardown(&env).await;

    let row =
        |name: &str, baseline: &str, unit: &str, a: Vec<f64>, b: Vec<f64>, bar: Option<f64>| {
            let (value, baseline_value) = (median(a.clone()), median(b.clone()));
            Row {
                name: name.into(),
                baseline: baseline.into(),
                unit: unit.into(),
                value,
                baseline_value,
                ratio: if baseline_value > 0.0 {
                    value / baseline_value
                } else {
                    0.0
                },
                bar,
                rounds: a,
                baseline_rounds: b,
            }
        };
    let extra = |name: &str, v: Vec<f64>| Extra {
        name: name.into(),
        unit: "µs CPU/msg".into(),
        value: median(v),
    };
    Ok(Report {
        generated_at: chrono::Utc::now().to_rfc3339(),
        messages_per_round: n,
        relay_events_per_round: relay_n,
        rounds,
        endpoint: endpoint(),
        comparisons: vec![
            row(
                "consumer runtime (no-op handler)",
                "plain receive+delete loop",
                "msg/s",
                runtime,
                plain.clone(),
                Some(0.95),
            ),
            row(
                "plain receive+delete loop, the runtime's SQS client",
                "plain receive+delete loop",
                "msg/s",
                lean,
                plain.clone(),
                None,
            ),
            row(
                "consumer runtime + inbox transaction",
                "plain receive+delete loop",
                "msg/s",
                inbox,
                plain,
                None,
            ),
            row(
                "outbox relay (claim, publish, delete)",
                "plain PublishBatch loop",
                "msg/s",
                relay,
                publish.clone(),
                Some(0.9),
            ),
            row(
                "outbox relay, one round at a time",
                "plain PublishBatch loop",
                "msg/s",
                relay_one_round,
                publish,
                None,
            ),
        ],
        measurements: vec![
            extra("cpu: plain receive+delete loop", cpu_plain),
            extra(
                "cpu: plain receive+delete loop, the runtime's SQS client",
                cpu_lean,
            ),
            extra("cpu: consumer runtime (no-op handler)", cpu_runtime),
            extra("cpu: consumer runtime + inbox transaction", cpu_inbox),
        ],
    })
}

/// Runs `work`, returning (messages per second, CPU microseconds per message) of this process, and its output.
async fn measure<T>(
    n: usize,
    work: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<((f64, f64), T)> {
    let (cpu0, t0) = (cpu_time(), Instant::now());
    let out = work.await?;
    let (cpu, wall) = (cpu_time() - cpu0, t0.elapsed());
    Ok((
        (
            n as f64 / wall.as_secs_f64(),
            cpu.as_micros() as f64 / n as f64,
        ),
        out,
    ))
}

async fn setup() -> anyhow::Result<Env> {
    let aws = aws_config_for(&endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let queues = switchyard_consumer::Sqs::new(&aws).await?;
    let sns = aws_sdk_sns::Client::new(&aws);
    let id = unique();
    let queue_url = sqs
        .create_queue()
        .queue_name(format!("bench-{id}"))
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let topic_arn = sns
        .create_topic()
        .name(format!("bench-{id}"))
        .send()
        .await?
        .topic_arn()
        .unwrap_or_default()
        .to_owned();
    let schema = format!("bench_{id}");
    let settings = DbSettings {
        url: database_url().into(),
        schema: schema.clone(),
        max_connections: 12,
    };
    let pool = db::connect(&settings).await?;
    db::migrate(
        &pool,
        &schema,
        &[&switchyard_consumer::MIGRATOR, &switchyard_outbox::MIGRATOR],
    )
    .await?;
    Ok(Env {
        sqs,
        queues,
        sns,
        queue_url,
        topic_arn,
        pool,
        schema,
    })
}

async fn teardown(env: &Env) {
    let _ = env
        .sqs
        .delete_queue()
        .queue_url(&env.queue_url)
        .send()
        .await;
    let _ = env
        .sns
        .delete_topic()
        .topic_arn(&env.topic_arn)
        .send()
        .await;
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", env.schema))
        .execute(&env.pool)
        .await;
}

/// Puts `n` fresh CloudEvents in the queue (not timed).
async fn preload(env: &Env, n: usize) -> anyhow::Result<()> {
    let events: Vec<String> = (0..n).map(|i| probe::event(i, false).to_json()).collect();
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        env.sqs
            .send_message_batch()
            .queue_url(&env.queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}

/// The baseline: receive ten, delete ten, repeat.
async fn plain_loop(env: &Env, n: usize) -> anyhow::Result<()> {
    let mut seen = 0;
    while seen < n {
        let out = env
            .sqs
            .receive_message()
            .queue_url(&env.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        let entries = out
            .messages()
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            continue;
        }
        seen += entries.len();
        env.sqs
            .delete_message_batch()
            .queue_url(&env.queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}

/// The same loop on the runtime's own client (`switchyard_consumer::sqs`): what the client costs without the runtime.
async fn lean_loop(env: &Env, n: usize) -> anyhow::Result<()> {
    let ask = switchyard_consumer::sqs::Receive {
        max_messages: 10,
        wait: Duration::from_secs(1),
        visibility: Duration::from_secs(30),
    };
    let mut seen = 0;
    while seen < n {
        let receipts: Vec<String> = env
            .queues
            .receive(&env.queue_url, &ask)
            .await?
            .into_iter()
            .map(|m| m.receipt_handle)
            .collect();
        if receipts.is_empty() {
            continue;
        }
        seen += receipts.len();
        let failed = env.queues.delete_batch(&env.queue_url, &receipts).await?;
        anyhow::ensure!(failed.is_empty(), "delete failures: {failed:?}");
    }
    Ok(())
}

/// The runtime until `counter` reached its target: (messages/s, CPU µs/message). Start-up and shutdown are outside
/// the timed section (the plain loop has neither).
async fn consume<H: MessageHandler>(
    env: &Env,
    handler: H,
    counter: Counter,
    n: usize,
) -> anyhow::Result<(f64, f64)> {
    let mut config = ConsumerConfig::new(&env.queue_url);
    config.wait_time = Duration::from_secs(1);
    let consumer = Consumer::new(env.queues.clone(), config, handler);
    let stop = CancellationToken::new();
    let done = counter.done.notified();
    let measured = measure(n, async {
        let running = tokio::spawn(consumer.run(stop.clone()));
        tokio::time::timeout(Duration::from_secs(300), done)
            .await
            .context("consumer did not reach the target")?;
        Ok(running)
    });
    let (result, running) = measured.await?;
    stop.cancel();
    running.await?;
    Ok(result)
}

/// Commits `n` events to the outbox (not timed) and returns them for the plain loop.
async fn fill_outbox(env: &Env, n: usize) -> anyhow::Result<Vec<CloudEvent>> {
    let events: Vec<CloudEvent> = (0..n).map(|i| probe::event(i, false)).collect();
    for chunk in events.chunks(100) {
        let mut tx = env.pool.begin().await?;
        for e in chunk {
            enqueue(&mut tx, e, None).await?;
        }
        tx.commit().await?;
    }
    Ok(events)
}

async fn relay_drain(env: &Env, rounds_in_flight: usize) -> anyhow::Result<()> {
    let relay = Relay::new(
        env.pool.clone(),
        env.sns.clone(),
        &env.topic_arn,
        &env.schema,
        RelayConfig {
            rounds_in_flight,
            ..RelayConfig::default()
        },
    );
    relay.drain().await?;
    Ok(())
}

/// The baseline: the same events, `PublishBatch` ten at a time, one call after another.
async fn publish_loop(env: &Env, events: &[CloudEvent]) -> anyhow::Result<()> {
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message(e.to_json())
                    .message_attributes(
                        "type",
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(&e.event_type)
                            .build()?,
                    )
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        env.sns
            .publish_batch()
            .topic_arn(&env.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}
