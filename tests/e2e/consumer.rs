//! The consumer runtime in process: duplicates, SNS envelopes, poison messages and the DLQ.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::PgPool;
use switchyard_consumer::{
    Consumer, ConsumerConfig, Inbox, Incoming, MessageHandler, Outcome, RunSummary,
};
use switchyard_tests::{
    World, eventually,
    probe::{self, Probe},
    send_events,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

fn start(world: &World, queue: &str, pool: &PgPool) -> (CancellationToken, JoinHandle<RunSummary>) {
    start_with(world, queue, Inbox::new(pool.clone(), Probe::default()))
}

fn start_with<H: MessageHandler>(
    world: &World,
    queue: &str,
    handler: H,
) -> (CancellationToken, JoinHandle<RunSummary>) {
    let mut config =
        ConsumerConfig::new(world.queue(queue)).with_visibility(Duration::from_secs(10));
    config.wait_time = Duration::from_secs(1);
    let consumer = Consumer::new(world.queues.clone(), config, handler);
    let token = CancellationToken::new();
    let handle = tokio::spawn(consumer.run(token.clone()));
    (token, handle)
}

async fn probe_db(world: &World) -> PgPool {
    world
        .database("probe", &[&switchyard_consumer::MIGRATOR, &probe::MIGRATOR])
        .await
}

#[tokio::test]
async fn the_same_event_delivered_many_times_takes_effect_once() {
    let world = World::new().await;
    let pool = probe_db(&world).await;
    let event = probe::event(1, false);
    let other = probe::event(2, false);
    let queue = world.queue("event-archive").to_owned();

    // Three raw copies (an SQS redelivery looks like this), and one inside an SNS envelope (a relay retry
    // through a subscription without raw delivery): four messages, one event.
    send_events(
        &world,
        &queue,
        &[event.clone(), event.clone(), event.clone(), other.clone()],
    )
    .await;
    let envelope = serde_json::json!({
        "Type": "Notification", "MessageId": "retry-1",
        "TopicArn": world.topic("task-events"), "Message": event.to_json(),
        "MessageAttributes": {"type": {"Type": "String", "Value": probe::TEST_EVENT_TYPE}}
    });
    world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body(envelope.to_string())
        .send()
        .await
        .unwrap();

    let (stop, run) = start(&world, "event-archive", &pool);
    eventually(
        "all five messages handled and deleted",
        Duration::from_secs(30),
        || async { (world.depth(&queue).await == 0).then_some(()) },
    )
    .await;
    stop.cancel();
    let summary = run.await.unwrap();
    assert_eq!(summary.done, 5, "{summary:?}");

    let counts = probe::effect_counts(&pool).await;
    assert_eq!(counts.get(&event.id), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&other.id), Some(&1), "{counts:?}");
    assert_eq!(counts.len(), 2);
    let inbox: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inbox, 2);
    world.finish().await;
}

#[tokio::test]
async fn a_poison_message_ends_in_the_dlq_while_others_flow_and_redrive_brings_it_back() {
    let world = World::new().await;
    let pool = probe_db(&world).await;
    let queue = world.queue("event-archive").to_owned();
    let dlq = world.dlq("event-archive").to_owned();
    let poison = probe::event(0, true);
    let good: Vec<_> = (1..=5).map(|n| probe::event(n, false)).collect();
    let mut all = vec![poison.clone()];
    all.extend(good.iter().cloned());
    send_events(&world, &queue, &all).await;
    // Not even JSON: rejected the same way, never a crash.
    world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body("{{{ not json")
        .send()
        .await
        .unwrap();

    let (stop, run) = start(&world, "event-archive", &pool);
    eventually(
        "poison and garbage in the DLQ",
        Duration::from_secs(60),
        || async { (world.depth(&dlq).await == 2).then_some(()) },
    )
    .await;
    eventually(
        "the good events processed",
        Duration::from_secs(30),
        || async { (probe::effect_counts(&pool).await.len() == 5).then_some(()) },
    )
    .await;
    assert!(!run.is_finished(), "the worker keeps running");
    stop.cancel();
    let summary = run.await.unwrap();
    assert_eq!(summary.done, 5);
    let max_receive = world.topology.queues["event-archive"].max_receive_count as usize;
    assert!(summary.rejected >= 2 * max_receive, "{summary:?}");
    assert_eq!(world.depth(&queue).await, 0);

    let letters = yard::dlq::peek(&world.sqs, &dlq, 10).await.unwrap();
    assert!(
        letters
            .iter()
            .any(|l| l.body.contains(&poison.id.to_string())),
        "{letters:?}"
    );
    let moved = yard::dlq::redrive(&world.sqs, &dlq, &queue, 100, |_| {})
        .await
        .unwrap();
    assert_eq!(moved, 2);
    assert_eq!(world.depth(&dlq).await, 0);
    let back = world.drain(&queue, 2, Duration::from_secs(10)).await;
    assert!(back.iter().any(|m| {
        m.body()
            .unwrap_or_default()
            .contains(&poison.id.to_string())
    }));
    assert_eq!(back.len(), 2);
    world.finish().await;
}

/// Passes everything to the inbox and notes the CloudEvent ids of each batch the runtime hands over.
struct Recording<H> {
    inner: H,
    batches: Arc<Mutex<Vec<Vec<Option<String>>>>>,
}

impl<H: MessageHandler> MessageHandler for Recording<H> {
    async fn handle(&self, message: &Incoming) -> Outcome {
        self.inner.handle(message).await
    }

    fn batches(&self) -> bool {
        self.inner.batches()
    }

    async fn handle_batch(&self, messages: &[Incoming]) -> Vec<Outcome> {
        if let Ok(mut batches) = self.batches.lock() {
            batches.push(messages.iter().map(|m| m.event_id.clone()).collect());
        }
        self.inner.handle_batch(messages).await
    }
}

#[tokio::test]
async fn a_batch_with_a_duplicate_and_a_poison_message_applies_the_event_once_and_dead_letters_the_poison()
 {
    duplicate_and_poison_in_one_batch(Probe::default()).await;
}

/// The same with the batch's effect in the inbox's own statement (`EventHandler::BATCH_STATEMENT`, as event-archive
/// does): the statement fails on the poison, the batch falls back to one transaction per message.
#[tokio::test]
async fn a_batch_in_one_statement_with_a_duplicate_and_a_poison_message_applies_the_event_once_and_dead_letters_the_poison()
 {
    duplicate_and_poison_in_one_batch(probe::ProbeStatement).await;
}

async fn duplicate_and_poison_in_one_batch<H: switchyard_consumer::EventHandler>(probe_handler: H) {
    let world = World::new().await;
    let pool = probe_db(&world).await;
    let queue = world.queue("event-archive").to_owned();
    let dlq = world.dlq("event-archive").to_owned();
    let twice = probe::event(1, false);
    let poison = probe::event(2, true);
    let others = [probe::event(3, false), probe::event(4, false)];
    // One SendMessageBatch before the consumer starts: its first receive gets all five messages.
    send_events(
        &world,
        &queue,
        &[
            twice.clone(),
            others[0].clone(),
            poison.clone(),
            twice.clone(),
            others[1].clone(),
        ],
    )
    .await;

    let batches = Arc::new(Mutex::new(Vec::new()));
    let handler = Recording {
        inner: Inbox::new(pool.clone(), probe_handler),
        batches: batches.clone(),
    };
    let (stop, run) = start_with(&world, "event-archive", handler);
    eventually("the poison in the DLQ", Duration::from_secs(60), || async {
        (world.depth(&dlq).await == 1).then_some(())
    })
    .await;
    eventually(
        "the rest handled and deleted",
        Duration::from_secs(30),
        || async { (world.depth(&queue).await == 0).then_some(()) },
    )
    .await;
    stop.cancel();
    let summary = run.await.unwrap();

    let first = batches.lock().unwrap().first().cloned().unwrap_or_default();
    let id = |e: &switchyard_events::CloudEvent| Some(e.id.to_string());
    assert_eq!(
        first.len(),
        5,
        "one received batch held all five: {first:?}"
    );
    assert_eq!(
        first.iter().filter(|m| **m == id(&twice)).count(),
        2,
        "{first:?}"
    );
    assert!(first.contains(&id(&poison)), "{first:?}");

    let counts = probe::effect_counts(&pool).await;
    assert_eq!(counts.get(&twice.id), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&others[0].id), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&others[1].id), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&poison.id), None, "{counts:?}");
    let inbox: Vec<String> = sqlx::query_scalar("SELECT message_key FROM inbox")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert!(!inbox.contains(&poison.id.to_string()), "{inbox:?}");
    assert_eq!(
        summary.done, 4,
        "both copies and the two others: {summary:?}"
    );
    let max_receive = world.topology.queues["event-archive"].max_receive_count as usize;
    assert!(summary.rejected >= max_receive, "{summary:?}");
    let letters = yard::dlq::peek(&world.sqs, &dlq, 10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].body.contains(&poison.id.to_string()));
    world.finish().await;
}

/// The runtime's own SQS client against the emulator: what the SDK sent comes back with its attributes and receive
/// count, visibility changes and batched deletes take effect, and SQS's errors come back named.
#[tokio::test]
async fn the_runtime_sqs_client_receives_releases_deletes_and_names_sqs_errors() {
    use switchyard_consumer::{
        SqsError,
        sqs::{Receive, Sqs},
    };
    let world = World::new().await;
    let queue = world.queue("event-archive").to_owned();
    let sqs: &Sqs = &world.queues;
    world
        .sqs
        .send_message()
        .queue_url(&queue)
        .message_body("héllo {\"json\": true}")
        .message_attributes(
            "type",
            aws_sdk_sqs::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value("t.v1")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("send");
    let ask = Receive {
        max_messages: 10,
        wait: Duration::from_secs(1),
        visibility: Duration::from_secs(30),
    };
    let receive = || async {
        let got = sqs.receive(&queue, &ask).await.expect("receive");
        (!got.is_empty()).then_some(got)
    };
    let first = eventually("the message received", Duration::from_secs(15), receive).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].body, "héllo {\"json\": true}");
    assert_eq!(first[0].receive_count(), Some(1));
    assert_eq!(
        first[0].string_attributes().collect::<Vec<_>>(),
        vec![("type", "t.v1")]
    );

    // Released at once: received again, now the second time.
    let failed = sqs
        .change_visibility_batch(&queue, [first[0].receipt_handle.as_str()], Duration::ZERO)
        .await
        .expect("visibility batch");
    assert!(failed.is_empty(), "{failed:?}");
    let second = eventually(
        "the released message again",
        Duration::from_secs(15),
        receive,
    )
    .await;
    assert_eq!(second[0].message_id, first[0].message_id);
    assert_eq!(second[0].receive_count(), Some(2));
    sqs.change_visibility(&queue, &second[0].receipt_handle, Duration::from_secs(60))
        .await
        .expect("visibility");

    let failed = sqs
        .delete_batch(&queue, &[second[0].receipt_handle.clone()])
        .await
        .expect("delete batch");
    assert!(failed.is_empty(), "{failed:?}");
    eventually("the queue empty", Duration::from_secs(15), || async {
        (world.depth(&queue).await == 0).then_some(())
    })
    .await;

    let missing = format!("{}-missing", queue);
    match sqs.receive(&missing, &ask).await {
        Err(SqsError::Service { status, code, .. }) => {
            assert_eq!(status, 400);
            assert!(
                code == "QueueDoesNotExist" || code == "NonExistentQueue",
                "{code}"
            );
        }
        other => panic!("expected QueueDoesNotExist, got {other:?}"),
    }
}

/// The probe's batch statement, with a per-message path that always fails: a batch that comes back `Done` took the
/// one-statement path.
struct StatementOnly;

impl switchyard_consumer::EventHandler for StatementOnly {
    const TRANSACTIONAL: bool = true;
    const BATCH_STATEMENT: Option<&'static str> =
        <probe::ProbeStatement as switchyard_consumer::EventHandler>::BATCH_STATEMENT;

    fn bind_batch(
        &self,
        events: &[(&switchyard_events::CloudEvent, &Incoming)],
        args: &mut sqlx::postgres::PgArguments,
    ) -> Result<(), sqlx::error::BoxDynError> {
        probe::ProbeStatement.bind_batch(events, args)
    }

    async fn handle(
        &self,
        _: &switchyard_events::CloudEvent,
        _: &Incoming,
        _: &mut sqlx::PgConnection,
    ) -> Result<(), switchyard_consumer::HandlerError> {
        Err(switchyard_consumer::HandlerError::retry(
            "the per-message fallback ran",
        ))
    }
}

#[tokio::test]
async fn a_batch_statement_claims_and_applies_a_batch_in_one_statement_skipping_copies_and_known_events()
 {
    use switchyard_consumer::sqs::Message;
    let world = World::new().await;
    let pool = probe_db(&world).await;
    let inbox = Inbox::new(pool.clone(), StatementOnly);
    let incoming = |event: &switchyard_events::CloudEvent| {
        Incoming::from_sqs(Message {
            message_id: switchyard_tests::unique(),
            receipt_handle: "r".into(),
            body: event.to_json(),
            ..Message::default()
        })
    };
    let (a, b, c) = (
        probe::event(1, false),
        probe::event(2, false),
        probe::event(3, false),
    );
    let first = inbox
        .handle_batch(&[incoming(&a), incoming(&b), incoming(&a)])
        .await;
    assert_eq!(first, vec![Outcome::Done; 3]);
    // b again (already in the inbox) with a new one.
    let second = inbox.handle_batch(&[incoming(&b), incoming(&c)]).await;
    assert_eq!(second, vec![Outcome::Done; 2]);

    let counts = probe::effect_counts(&pool).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let inbox_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM inbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(inbox_rows, 3);
}
