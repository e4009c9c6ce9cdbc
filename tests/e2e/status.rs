//! `yard status` against moto and Postgres: the real binary, its JSON for scripts and its table.

use serde_json::Value;
use switchyard_events::CloudEvent;
use switchyard_tests::{World, database_url, endpoint, send_events, workspace_bin};

fn event(i: usize) -> CloudEvent {
    CloudEvent::untyped(
        "switchyard.tasks.task.created.v1",
        "/tasks",
        Some(format!("task-{i}")),
        serde_json::json!({ "i": i }),
    )
}

async fn yard(world: &World, args: &[&str]) -> (String, String) {
    let out = tokio::process::Command::new(workspace_bin("yard"))
        .args(["--env", world.env.as_str(), "status"])
        .args(args)
        .env_clear()
        .envs([
            ("AWS_ENDPOINT_URL", endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
            ("DATABASE_URL", database_url()),
        ])
        .output()
        .await
        .expect("run yard");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "yard status failed: {stderr}");
    (stdout, stderr)
}

#[tokio::test]
async fn yard_status_shows_queue_depths_in_flight_dlq_and_outbox_lag() {
    let world = World::new().await;
    // mailer: 3 waiting, then one of them received (in flight for a minute); event-archive: 2 in its DLQ.
    let mailer = world.queue("mailer").to_owned();
    send_events(&world, &mailer, &[event(1), event(2), event(3)]).await;
    let received = world
        .sqs
        .receive_message()
        .queue_url(&mailer)
        .max_number_of_messages(1)
        .visibility_timeout(60)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 1);
    let archive_dlq = world.dlq("event-archive").to_owned();
    send_events(&world, &archive_dlq, &[event(4), event(5)]).await;

    // tasks' outbox: two unpublished rows, the oldest 90 s old (no relay runs here).
    let tasks = world
        .database("tasks", &[&switchyard_outbox::MIGRATOR])
        .await;
    let mut tx = tasks.begin().await.unwrap();
    for i in 6..8 {
        switchyard_outbox::enqueue(&mut tx, &event(i), None)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    sqlx::query("UPDATE outbox SET created_at = now() - interval '90 seconds' WHERE id = (SELECT min(id) FROM outbox)")
        .execute(&tasks)
        .await
        .unwrap();

    let tasks_outbox = format!("tasks={}", world.schema_name("tasks"));
    let missing_outbox = format!("identity={}", world.schema_name("nowhere"));
    let (json, _) = yard(
        &world,
        &[
            "--json",
            "--outbox",
            &tasks_outbox,
            "--outbox",
            &missing_outbox,
        ],
    )
    .await;
    let status: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(status["environment"], world.env.as_str());
    let queue = |key: &str| {
        status["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["queue"] == key)
            .unwrap_or_else(|| panic!("no {key} in {status}"))
            .clone()
    };
    let m = queue("mailer");
    assert_eq!(m["name"], world.env.queue_name("mailer"));
    assert_eq!(
        (
            m["visible"].as_u64(),
            m["in_flight"].as_u64(),
            m["dlq_depth"].as_u64()
        ),
        (Some(2), Some(1), Some(0)),
        "{m}"
    );
    let a = queue("event-archive");
    assert_eq!(
        (a["visible"].as_u64(), a["dlq_depth"].as_u64()),
        (Some(0), Some(2)),
        "{a}"
    );
    assert_eq!(
        status["queues"].as_array().unwrap().len(),
        world.topology.queues.len()
    );

    let outboxes = status["outboxes"].as_array().unwrap();
    assert_eq!(outboxes[0]["service"], "tasks");
    assert_eq!(outboxes[0]["depth"], 2);
    let lag = outboxes[0]["lag_seconds"].as_f64().unwrap();
    assert!((90.0..120.0).contains(&lag), "lag {lag}");
    // An outbox that cannot be read says why; the others are still shown.
    assert_eq!(outboxes[1]["depth"], Value::Null);
    assert!(
        outboxes[1]["error"]
            .as_str()
            .is_some_and(|e| e.contains("outbox")),
        "{}",
        outboxes[1]
    );

    // The table: no colour codes when stdout is not a terminal.
    let (table, _) = yard(&world, &["--outbox", &tasks_outbox]).await;
    assert!(!table.contains('\x1b'), "{table}");
    let mailer_row = table
        .lines()
        .find(|l| l.starts_with("mailer"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = mailer_row.split_whitespace().collect();
    assert_eq!(cells, ["mailer", "2", "1", "0", "0"], "{table}");
    // The outbox row (the `tasks` queue has a row of its own above): the one naming the schema.
    let outbox_row = table
        .lines()
        .find(|l| l.starts_with("tasks") && l.contains(&world.schema_name("tasks")))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(outbox_row.split_whitespace().nth(2) == Some("2"), "{table}");
    world.finish().await;
}
