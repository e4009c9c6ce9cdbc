//! Real worker processes: kill -9 in the middle of a batch, SIGTERM with a graceful drain, SIGTERM past the
//! deadline. Effects are counted in a table without a unique constraint, so a double effect would show.

use std::time::Duration;

use nix::{sys::signal::Signal, unistd::Pid};
use sqlx::PgPool;
use switchyard_tests::{World, eventually, in_flight, probe, send_events, spawn, worker_env};

const PROBE: &str = env!("CARGO_BIN_EXE_probe-worker");

async fn setup(n: usize) -> (World, PgPool, Vec<uuid::Uuid>) {
    let world = World::new().await;
    let pool = world
        .database("probe", &[&switchyard_consumer::MIGRATOR, &probe::MIGRATOR])
        .await;
    let events: Vec<_> = (0..n).map(|i| probe::event(i, false)).collect();
    send_events(&world, world.queue("event-archive"), &events).await;
    (world, pool, events.iter().map(|e| e.id).collect())
}

async fn processed(pool: &PgPool) -> usize {
    probe::effect_counts(pool).await.len()
}

async fn assert_each_exactly_once(pool: &PgPool, ids: &[uuid::Uuid]) {
    let counts = probe::effect_counts(pool).await;
    for id in ids {
        assert_eq!(counts.get(id), Some(&1), "event {id}: {counts:?}");
    }
    assert_eq!(counts.len(), ids.len());
}

fn signal(child: &tokio::process::Child, sig: Signal) {
    let pid = child.id().expect("child is running") as i32;
    nix::sys::signal::kill(Pid::from_raw(pid), sig).expect("signal");
}

#[tokio::test]
async fn kill_9_mid_batch_loses_nothing_and_duplicates_nothing() {
    let (world, pool, ids) = setup(20).await;
    let env = worker_env(&world, "event-archive", "probe");
    let opts = [
        ("PROBE_DELAY_MS", "300"),
        ("VISIBILITY_TIMEOUT_SECONDS", "3"),
        ("MAX_IN_FLIGHT", "5"),
    ];

    let mut first = spawn(PROBE, &env, &opts);
    eventually(
        "the first worker to commit some effects",
        Duration::from_secs(30),
        || async { (processed(&pool).await >= 3).then_some(()) },
    )
    .await;
    assert!(
        in_flight(&world, world.queue("event-archive")).await > 0,
        "kill must land mid-batch"
    );
    first.start_kill().unwrap(); // SIGKILL
    first.wait().await.unwrap();
    let at_kill = processed(&pool).await;
    assert!(
        at_kill < ids.len(),
        "the kill came too late to test anything"
    );

    let mut second = spawn(PROBE, &env, &opts);
    eventually(
        "every event processed after the visibility timeout",
        Duration::from_secs(60),
        || async { (processed(&pool).await == ids.len()).then_some(()) },
    )
    .await;
    eventually("the queue to drain", Duration::from_secs(20), || async {
        (world.depth(world.queue("event-archive")).await == 0).then_some(())
    })
    .await;
    assert_each_exactly_once(&pool, &ids).await;
    second.start_kill().unwrap();
    world.finish().await;
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_exits_zero() {
    let (world, pool, ids) = setup(10).await;
    let env = worker_env(&world, "event-archive", "probe");
    let opts = [
        ("PROBE_DELAY_MS", "1000"),
        ("VISIBILITY_TIMEOUT_SECONDS", "60"),
        ("MAX_IN_FLIGHT", "4"),
        ("SHUTDOWN_DEADLINE_SECONDS", "10"),
    ];
    let mut worker = spawn(PROBE, &env, &opts);
    eventually("messages in flight", Duration::from_secs(30), || async {
        (in_flight(&world, world.queue("event-archive")).await > 0).then_some(())
    })
    .await;
    signal(&worker, Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(13), worker.wait())
        .await
        .expect("exit within the 10 s deadline")
        .unwrap();
    assert!(status.success(), "{status:?}");
    // Everything it took in was finished (not abandoned): nothing is left invisible for the 60 s timeout.
    assert_eq!(in_flight(&world, world.queue("event-archive")).await, 0);
    let done = processed(&pool).await;
    assert!(done >= 1);

    let mut next = spawn(PROBE, &env, &[("VISIBILITY_TIMEOUT_SECONDS", "60")]);
    eventually(
        "the rest processed by the next worker",
        Duration::from_secs(30),
        || async { (processed(&pool).await == ids.len()).then_some(()) },
    )
    .await;
    assert_each_exactly_once(&pool, &ids).await;
    next.start_kill().unwrap();
    world.finish().await;
}

#[tokio::test]
async fn sigterm_past_the_deadline_releases_unfinished_messages_at_once() {
    let (world, pool, ids) = setup(3).await;
    let env = worker_env(&world, "event-archive", "probe");
    let slow = [
        ("PROBE_DELAY_MS", "30000"),
        ("VISIBILITY_TIMEOUT_SECONDS", "120"),
        ("SHUTDOWN_DEADLINE_SECONDS", "2"),
    ];
    let mut worker = spawn(PROBE, &env, &slow);
    eventually("all three in flight", Duration::from_secs(30), || async {
        (in_flight(&world, world.queue("event-archive")).await == 3).then_some(())
    })
    .await;
    signal(&worker, Signal::SIGTERM);
    let status = tokio::time::timeout(Duration::from_secs(6), worker.wait())
        .await
        .expect("exit within the 2 s deadline plus release time")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(processed(&pool).await, 0, "unfinished handlers rolled back");

    // Released, not left invisible for 120 s: a new worker gets them right away.
    let mut next = spawn(PROBE, &env, &[]);
    eventually(
        "released messages processed promptly",
        Duration::from_secs(30),
        || async { (processed(&pool).await == ids.len()).then_some(()) },
    )
    .await;
    assert_each_exactly_once(&pool, &ids).await;
    next.start_kill().unwrap();
    world.finish().await;
}
