//! The real event-archive binary: outbox -> SNS -> its queue -> archived exactly once; health check answers.

use std::time::Duration;

use switchyard_events::{CloudEvent, tasks::TaskCompleted};
use switchyard_outbox::{Relay, RelayConfig, enqueue};
use switchyard_tests::{World, eventually, spawn, worker_env, workspace_bin};
use uuid::Uuid;

#[tokio::test]
async fn the_archive_worker_stores_published_events_once_and_reports_healthy() {
    let archive_bin = workspace_bin("event-archive");
    let world = World::new().await;
    let tasks = world
        .database("tasks", &[&switchyard_outbox::MIGRATOR])
        .await;
    let archive = world
        .database(
            "event-archive",
            &[&switchyard_consumer::MIGRATOR, &event_archive::MIGRATOR],
        )
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let health = format!("127.0.0.1:{port}");
    let env = worker_env(&world, "event-archive", "event-archive");
    let mut worker = spawn(&archive_bin, &env, &[("HEALTH_ADDR", &health)]);

    let mut event = CloudEvent::new(&TaskCompleted {
        task_id: Uuid::now_v7(),
        owner_id: Uuid::now_v7(),
        owner_email: "a@example.com".into(),
        title: "archive me".into(),
    })
    .unwrap();
    // An attribute this version does not know: archived (and so replayed) as the producer wrote it.
    event
        .extensions
        .insert("addedlater".into(), serde_json::json!({"n": 1}));
    let mut tx = tasks.begin().await.unwrap();
    enqueue(&mut tx, &event, None).await.unwrap();
    tx.commit().await.unwrap();
    let relay = Relay::new(
        tasks.clone(),
        world.sns.clone(),
        world.topic("task-events"),
        world.schema_name("tasks"),
        RelayConfig::default(),
    );
    relay.publish_available().await.unwrap();

    let (event_type, subject, body): (String, Option<String>, serde_json::Value) =
        eventually("the event archived", Duration::from_secs(30), || async {
            sqlx::query_as(
                "SELECT event_type, subject, body FROM archived_events WHERE event_id = $1",
            )
            .bind(event.id)
            .fetch_optional(&archive)
            .await
            .unwrap()
        })
        .await;
    assert_eq!(event_type, "switchyard.tasks.task.completed.v1");
    assert_eq!(subject, event.subject);
    assert_eq!(body["id"], event.id.to_string());
    assert_eq!(body["data"], event.data);
    assert_eq!(body["addedlater"], serde_json::json!({"n": 1}), "{body}");
    assert_eq!(
        CloudEvent::from_json(&body.to_string()).unwrap().id,
        event.id
    );

    let probe = tokio::process::Command::new(&archive_bin)
        .arg("healthcheck")
        .env("HEALTH_ADDR", &health)
        .status()
        .await
        .unwrap();
    assert!(probe.success(), "healthcheck: {probe:?}");
    worker.start_kill().unwrap();
    worker.wait().await.unwrap();
    let down = tokio::process::Command::new(&archive_bin)
        .arg("healthcheck")
        .env("HEALTH_ADDR", &health)
        .status()
        .await
        .unwrap();
    assert!(
        !down.success(),
        "healthcheck must fail when the worker is gone"
    );
    world.finish().await;
}
