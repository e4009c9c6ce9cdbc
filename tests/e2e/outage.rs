//! SNS unreachable while the service commits: the relay keeps every event and publishes all of them when SNS
//! comes back.

use std::{collections::BTreeSet, time::Duration};

use switchyard_events::CloudEvent;
use switchyard_outbox::{Relay, RelayConfig, enqueue};
use switchyard_tests::{World, aws_config_for, endpoint, eventually, probe, proxy::FaultProxy};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn events_committed_while_sns_is_down_are_all_published_when_it_returns() {
    let world = World::new().await;
    let pool = world
        .database("tasks", &[&switchyard_outbox::MIGRATOR])
        .await;
    let upstream = endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let proxy = FaultProxy::start(upstream).await;
    proxy.down();

    let sns = aws_sdk_sns::Client::new(&aws_config_for(&proxy.url()).await);
    let relay = Relay::new(
        pool.clone(),
        sns,
        world.topic("task-events"),
        world.schema_name("tasks"),
        RelayConfig {
            sweep_interval: Duration::from_millis(200),
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(800),
            ..RelayConfig::default()
        },
    );
    let stop = CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));

    const N: usize = 25;
    let events: Vec<CloudEvent> = (0..N).map(|n| probe::event(n, false)).collect();
    for e in &events {
        let mut tx = pool.begin().await.unwrap();
        enqueue(&mut tx, e, None).await.unwrap();
        tx.commit().await.unwrap();
    }
    let rows = |pool: sqlx::PgPool| async move {
        sqlx::query_as::<_, (i64, chrono::DateTime<chrono::Utc>)>(
            "SELECT id, created_at FROM outbox ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap()
    };
    let committed = rows(pool.clone()).await;
    assert_eq!(committed.len(), N);
    eventually(
        "the relay to fail on every row",
        Duration::from_secs(30),
        || async {
            let failed: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM outbox WHERE attempts > 0 AND last_error IS NOT NULL",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            (failed == N as i64).then_some(())
        },
    )
    .await;
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(pending, N as i64, "nothing dropped while SNS is down");
    assert_eq!(
        rows(pool.clone()).await,
        committed,
        "a failed row keeps its id (its place in the order) and created_at (the lag)"
    );

    proxy.up();
    eventually(
        "the outbox to empty once SNS is back",
        Duration::from_secs(30),
        || async {
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
                .fetch_one(&pool)
                .await
                .unwrap();
            (left == 0).then_some(())
        },
    )
    .await;
    let got = world
        .drain(world.queue("event-archive"), N, Duration::from_secs(30))
        .await;
    let ids: BTreeSet<_> = got
        .iter()
        .map(|m| CloudEvent::from_json(m.body().unwrap()).unwrap().id)
        .collect();
    assert_eq!(ids, events.iter().map(|e| e.id).collect::<BTreeSet<_>>());
    stop.cancel();
    running.await.unwrap();
    world.finish().await;
}
