//! Producer side: outbox -> relay -> SNS -> filtered fan-out to SQS.

use std::{collections::BTreeSet, time::Duration};

use switchyard_core::trace::TraceContext;
use switchyard_events::{
    CloudEvent, DomainEvent,
    identity::{UserPermissionsChanged, UserRegistered},
    tasks::{TaskCompleted, TaskCreated},
};
use switchyard_outbox::{Relay, RelayConfig, enqueue};
use switchyard_tests::World;
use uuid::Uuid;

fn ids(messages: &[aws_sdk_sqs::types::Message]) -> BTreeSet<Uuid> {
    messages
        .iter()
        .map(|m| {
            CloudEvent::from_json(m.body().unwrap())
                .expect("raw CloudEvent body")
                .id
        })
        .collect()
}

#[tokio::test]
async fn one_event_reaches_every_subscribed_queue_and_filters_keep_others_out() {
    let world = World::new().await;
    let tasks = world
        .database("tasks", &[&switchyard_outbox::MIGRATOR])
        .await;
    let identity = world
        .database("identity", &[&switchyard_outbox::MIGRATOR])
        .await;

    let owner = Uuid::now_v7();
    let task = Uuid::now_v7();
    let completed = CloudEvent::new(&TaskCompleted {
        task_id: task,
        owner_id: owner,
        owner_email: "owner@example.com".into(),
        title: "ship it".into(),
    })
    .unwrap();
    let created = CloudEvent::new(&TaskCreated {
        task_id: task,
        owner_id: owner,
        owner_email: "owner@example.com".into(),
        title: "ship it".into(),
    })
    .unwrap();
    let registered = CloudEvent::new(&UserRegistered {
        user_id: owner,
        email: "owner@example.com".into(),
        display_name: "Owner".into(),
    })
    .unwrap();
    let perms = CloudEvent::new(&UserPermissionsChanged {
        user_id: owner,
        permissions: vec!["tasks:read".into()],
        version: 2,
    })
    .unwrap();
    let trace = TraceContext::new_root();

    let mut tx = tasks.begin().await.unwrap();
    enqueue(&mut tx, &created, Some(&trace)).await.unwrap();
    enqueue(&mut tx, &completed, Some(&trace)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = identity.begin().await.unwrap();
    enqueue(&mut tx, &registered, None).await.unwrap();
    enqueue(&mut tx, &perms, None).await.unwrap();
    tx.commit().await.unwrap();

    for (pool, topic, component) in [
        (&tasks, "task-events", "tasks"),
        (&identity, "identity-events", "identity"),
    ] {
        let relay = Relay::new(
            pool.clone(),
            world.sns.clone(),
            world.topic(topic),
            world.schema_name(component),
            RelayConfig::default(),
        );
        assert_eq!(relay.publish_available().await.unwrap(), 2);
        assert_eq!(
            relay.publish_available().await.unwrap(),
            0,
            "published rows are removed"
        );
    }

    let archive = world
        .drain(world.queue("event-archive"), 4, Duration::from_secs(15))
        .await;
    assert_eq!(
        ids(&archive),
        BTreeSet::from([created.id, completed.id, registered.id, perms.id])
    );

    let mailer = world
        .drain(world.queue("mailer"), 2, Duration::from_secs(15))
        .await;
    assert_eq!(ids(&mailer), BTreeSet::from([completed.id, registered.id]));
    let late = world
        .drain(world.queue("mailer"), 1, Duration::from_secs(2))
        .await;
    assert!(late.is_empty(), "filter policy let through: {late:?}");

    // Raw delivery carries the SNS attributes: the type (for filters) and the producer's trace.
    let mail = mailer
        .iter()
        .find(|m| m.body().unwrap().contains(&completed.id.to_string()))
        .unwrap();
    let attrs = mail.message_attributes().unwrap();
    assert_eq!(attrs["type"].string_value(), Some(TaskCompleted::TYPE));
    assert_eq!(
        attrs["traceparent"].string_value(),
        Some(trace.to_string().as_str())
    );
    assert_eq!(
        CloudEvent::from_json(mail.body().unwrap()).unwrap(),
        completed
    );
    world.finish().await;
}

/// A tasks outbox holding `n` probe events, each committed on its own.
async fn outbox_with(world: &World, n: usize) -> (sqlx::PgPool, Vec<CloudEvent>) {
    let pool = world
        .database("tasks", &[&switchyard_outbox::MIGRATOR])
        .await;
    let events: Vec<CloudEvent> = (0..n)
        .map(|n| switchyard_tests::probe::event(n, false))
        .collect();
    for e in &events {
        let mut tx = pool.begin().await.unwrap();
        enqueue(&mut tx, e, None).await.unwrap();
        tx.commit().await.unwrap();
    }
    (pool, events)
}

fn tasks_relay(world: &World, pool: &sqlx::PgPool, config: RelayConfig) -> Relay {
    Relay::new(
        pool.clone(),
        world.sns.clone(),
        world.topic("task-events"),
        world.schema_name("tasks"),
        config,
    )
}

/// The archive's queue receives each of `events` exactly once.
async fn assert_each_archived_once(world: &World, events: &[CloudEvent]) {
    let archived = world
        .drain(
            world.queue("event-archive"),
            events.len(),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(archived.len(), events.len());
    assert_eq!(ids(&archived), events.iter().map(|e| e.id).collect());
}

#[tokio::test]
async fn concurrent_relays_never_publish_a_row_twice() {
    let world = World::new().await;
    let (pool, events) = outbox_with(&world, 60).await;
    let relay = |claim| {
        tasks_relay(
            &world,
            &pool,
            RelayConfig {
                claim_size: claim,
                ..RelayConfig::default()
            },
        )
    };
    let (a, b, c) = (relay(7), relay(11), relay(13));
    let (na, nb, nc) = tokio::join!(a.drain(), b.drain(), c.drain());
    let (na, nb, nc) = (na.unwrap(), nb.unwrap(), nc.unwrap());
    assert_eq!(
        na + nb + nc,
        60,
        "each row claimed by exactly one relay ({na}+{nb}+{nc})"
    );
    assert_each_archived_once(&world, &events).await;
    world.finish().await;
}

#[tokio::test]
async fn a_drain_with_rounds_in_flight_publishes_every_row_once_and_empties_the_outbox() {
    let world = World::new().await;
    let (pool, events) = outbox_with(&world, 45).await;
    let relay = tasks_relay(
        &world,
        &pool,
        RelayConfig {
            claim_size: 4,
            rounds_in_flight: 3,
            ..RelayConfig::default()
        },
    );
    // Rounds of 4 from three lanes: the lanes' transactions overlap, so each must skip the others' rows.
    assert_eq!(relay.drain().await.unwrap(), 45, "every row claimed once");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "published rows are deleted");
    assert_each_archived_once(&world, &events).await;
    world.finish().await;
}
