//! Issue #4's benchmark: commit -> consumer effect latency for `task.completed` reaching the event archive
//! (outbox commit, NOTIFY, relay, SNS, SQS, consumer, inbox transaction), next to the emulator's own round trip
//! for the same hop (SNS Publish -> SQS receive of that message, on a topic and queue of its own). Samples alternate, one event in flight at a time.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use aws_sdk_sns::types::MessageAttributeValue;
use switchyard_consumer::{Consumer, ConsumerConfig, Inbox, Incoming, MessageHandler, Outcome};
use switchyard_core::db::{self, DbSettings};
use switchyard_events::{CloudEvent, tasks::TaskCompleted};
use switchyard_outbox::{Relay, RelayConfig, enqueue};
use switchyard_tests::{World, database_url};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::stats::{Extra, percentile};

/// Wraps the archive's inbox handler and notes when each event's effect has committed.
struct Timed {
    inner: Inbox<event_archive::Archive>,
    committed: Arc<Mutex<HashMap<String, Instant>>>,
    wake: Arc<Notify>,
}

impl MessageHandler for Timed {
    async fn handle(&self, message: &Incoming) -> Outcome {
        let outcome = self.inner.handle(message).await;
        if outcome == Outcome::Done
            && let Some(id) = &message.event_id
            && let Ok(mut map) = self.committed.lock()
        {
            map.insert(id.clone(), Instant::now());
            self.wake.notify_waiters();
        }
        outcome
    }
}

fn event() -> CloudEvent {
    CloudEvent::new(&TaskCompleted {
        task_id: Uuid::now_v7(),
        owner_id: Uuid::now_v7(),
        owner_email: "bench@example.com".into(),
        title: "bench".into(),
    })
    .unwrap_or_else(|_| {
        CloudEvent::untyped(
            "switchyard.tasks.task.completed.v1",
            "/bench",
            None,
            serde_json::Value::Null,
        )
    })
}

pub async fn run(samples: usize) -> anyhow::Result<Vec<Extra>> {
    let world = World::new().await;
    let connect = |schema: String| async move {
        let settings = DbSettings {
            url: database_url().into(),
            schema: schema.clone(),
            max_connections: 10,
        };
        let pool = db::connect(&settings).await?;
        anyhow::Ok((pool, schema))
    };
    let (tasks, tasks_schema) = connect(world.schema_name("tasks")).await?;
    db::migrate(&tasks, &tasks_schema, &[&switchyard_outbox::MIGRATOR]).await?;
    let (archive, archive_schema) = connect(world.schema_name("event_archive")).await?;
    db::migrate(
        &archive,
        &archive_schema,
        &[&switchyard_consumer::MIGRATOR, &event_archive::MIGRATOR],
    )
    .await?;

    let stop = CancellationToken::new();
    let relay = Relay::new(
        tasks.clone(),
        world.sns.clone(),
        world.topic("task-events"),
        &tasks_schema,
        RelayConfig::default(),
    );
    let relaying = tokio::spawn(relay.run(stop.clone()));
    let committed = Arc::new(Mutex::new(HashMap::new()));
    let wake = Arc::new(Notify::new());
    let consumer = Consumer::new(
        world.queues.clone(),
        ConsumerConfig::new(world.queue("event-archive")),
        Timed {
            inner: Inbox::new(archive.clone(), event_archive::Archive),
            committed: committed.clone(),
            wake: wake.clone(),
        },
    );
    let consuming = tokio::spawn(consumer.run(stop.clone()));

    // The emulator baseline gets a topic and queue of its own (raw delivery, like the platform's), so it never
    // receives the platform's events.
    let baseline = format!("{}-lat", world.env.as_str());
    let base_topic = world
        .sns
        .create_topic()
        .name(&baseline)
        .send()
        .await?
        .topic_arn()
        .unwrap_or_default()
        .to_owned();
    let base_queue = world
        .sqs
        .create_queue()
        .queue_name(&baseline)
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned();
    let base_arn = world
        .sqs
        .get_queue_attributes()
        .queue_url(&base_queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap_or_default();
    world
        .sns
        .subscribe()
        .topic_arn(&base_topic)
        .protocol("sqs")
        .endpoint(&base_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await?;

    let (mut platform, mut emulator) = (Vec::new(), Vec::new());
    for i in 0..samples + 3 {
        // Platform: commit, then wait for the archive's commit of that event.
        let e = event();
        let id = e.id.to_string();
        let mut tx = tasks.begin().await?;
        enqueue(&mut tx, &e, None).await?;
        let t0 = Instant::now();
        tx.commit().await?;
        let deadline = t0 + Duration::from_secs(30);
        let done_at = loop {
            let waiting = wake.notified();
            if let Some(at) = committed.lock().ok().and_then(|m| m.get(&id).copied()) {
                break at;
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .context("platform sample timed out")?;
            let _ = tokio::time::timeout(left, waiting).await;
        };
        // Emulator: the same hop with the SDK alone (publish to the topic, long-poll the mailer queue for it).
        let e = event();
        let body = e.to_json();
        let t1 = Instant::now();
        world
            .sns
            .publish()
            .topic_arn(&base_topic)
            .message(&body)
            .message_attributes(
                "type",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(&e.event_type)
                    .build()?,
            )
            .send()
            .await?;
        let received_at = loop {
            let out = world
                .sqs
                .receive_message()
                .queue_url(&base_queue)
                .max_number_of_messages(10)
                .wait_time_seconds(20)
                .send()
                .await?;
            let mut hit = None;
            for m in out.messages() {
                if hit.is_none() && m.body() == Some(body.as_str()) {
                    hit = Some(Instant::now());
                }
                world
                    .sqs
                    .delete_message()
                    .queue_url(&base_queue)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await?;
            }
            if let Some(at) = hit {
                break at;
            }
            anyhow::ensure!(
                t1.elapsed() < Duration::from_secs(30),
                "emulator sample timed out"
            );
        };
        if i >= 3 {
            // The first samples warm connections and caches.
            platform.push((done_at - t0).as_secs_f64() * 1000.0);
            emulator.push((received_at - t1).as_secs_f64() * 1000.0);
        }
    }
    stop.cancel();
    let _ = tokio::join!(relaying, consuming);
    let _ = world.sqs.delete_queue().queue_url(&base_queue).send().await;
    let _ = world.sns.delete_topic().topic_arn(&base_topic).send().await;
    world.finish().await;

    platform.sort_by(f64::total_cmp);
    emulator.sort_by(f64::total_cmp);
    let ms = |name: &str, value: f64| Extra {
        name: name.into(),
        unit: "ms".into(),
        value,
    };
    let (p50, p99) = (percentile(&platform, 0.5), percentile(&platform, 0.99));
    let (e50, e99) = (percentile(&emulator, 0.5), percentile(&emulator, 0.99));
    Ok(vec![
        ms("latency: commit -> archived, p50", p50),
        ms("latency: commit -> archived, p99", p99),
        ms("latency: emulator publish -> receive, p50", e50),
        ms("latency: emulator publish -> receive, p99", e99),
        ms("latency: added by the platform, p50", p50 - e50),
        ms("latency: added by the platform, p99", p99 - e99),
    ])
}
