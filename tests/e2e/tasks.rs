//! The tasks service end to end: HTTP -> Postgres + outbox -> SNS -> filtered fan-out -> archive; HTTP semantics;
//! replay of archived events into a consumer that missed them.

use std::{collections::BTreeSet, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_consumer::{Consumer, ConsumerConfig, Inbox};
use switchyard_events::CloudEvent;
use switchyard_tests::{
    World, eventually,
    identity::{TestIdentity, Tokens},
    probe::{self, Probe},
    tasks::TestTasks,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const TASK_PERMS: &[&str] = &["tasks:read", "tasks:write"];

/// A user holding `tasks:read` + `tasks:write`, known to the tasks service (its `user.registered` projected).
async fn task_user(identity: &TestIdentity, tasks: &TestTasks, admin: &Tokens) -> (Uuid, Tokens) {
    let (id, tokens) = identity.user().await;
    assert!(
        identity
            .set_permissions(admin, id, TASK_PERMS)
            .await
            .status()
            .is_success()
    );
    tasks.wait_for_user(id).await;
    (id, tokens)
}

fn archive_consumer(
    world: &World,
    pool: &sqlx::PgPool,
) -> (
    CancellationToken,
    tokio::task::JoinHandle<switchyard_consumer::RunSummary>,
) {
    let mut config = ConsumerConfig::new(world.queue("event-archive"));
    config.wait_time = Duration::from_secs(1);
    let consumer = Consumer::new(
        world.queues.clone(),
        config,
        Inbox::new(pool.clone(), event_archive::Archive),
    );
    let stop = CancellationToken::new();
    (stop.clone(), tokio::spawn(consumer.run(stop)))
}

/// This world's event archive (its own schema).
async fn archive_database(world: &World) -> sqlx::PgPool {
    world
        .database(
            "event-archive",
            &[&switchyard_consumer::MIGRATOR, &event_archive::MIGRATOR],
        )
        .await
}

/// What `yard replay --queue <queue> --since <since>` sends: the types the queue subscribes to.
fn replay_filter(
    world: &World,
    queue: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> yard::events::Filter {
    yard::events::Filter {
        types: yard::events::types_of_queue(&world.topology, queue).unwrap(),
        since: Some(since),
        subject: None,
    }
}

/// Sends `events` to the archive's queue and runs the archive until all of them are stored.
async fn archive_all(world: &World, archive: &sqlx::PgPool, events: &[CloudEvent]) {
    switchyard_tests::send_events(world, world.queue("event-archive"), events).await;
    let (stop_archive, archiving) = archive_consumer(world, archive);
    eventually("the events archived", Duration::from_secs(30), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM archived_events")
            .fetch_one(archive)
            .await
            .unwrap();
        (n == events.len() as i64).then_some(())
    })
    .await;
    stop_archive.cancel();
    archiving.await.unwrap();
}

async fn archived_types(pool: &sqlx::PgPool, subject: &str) -> BTreeSet<String> {
    sqlx::query_scalar("SELECT event_type FROM archived_events WHERE subject = $1")
        .bind(subject)
        .fetch_all(pool)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

#[tokio::test]
async fn a_completed_task_reaches_the_mailer_and_the_archive_and_created_reaches_only_the_archive()
{
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let archive = archive_database(&world).await;
    let (stop_archive, archiving) = archive_consumer(&world, &archive);

    let (_, admin) = identity.admin().await;
    let (_, user) = task_user(&identity, &tasks, &admin).await;
    // Everything below works without identity: the owner's email comes from the projection.
    let mut identity = identity;
    identity.stop().await;
    let created = tasks
        .post("/v1/tasks", &user.access)
        .json(&json!({"name": "  write the report "}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["etag"], "\"1\"");
    let task: Value = created.json().await.unwrap();
    assert_eq!(task["name"], "write the report");
    let id = task["id"].as_str().unwrap().to_owned();

    let done = tasks
        .patch(&format!("/v1/tasks/{id}"), &user.access)
        .header("if-match", "\"1\"")
        .json(&json!({"done": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert_eq!(done.headers()["etag"], "\"2\"");

    // The mailer queue: task.completed for this task, and never task.created (filter policy).
    let mut mail_types = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while !mail_types
        .iter()
        .any(|t: &String| t.ends_with("task.completed.v1"))
        && tokio::time::Instant::now() < until
    {
        for m in world
            .drain(world.queue("mailer"), 1, Duration::from_secs(2))
            .await
        {
            let e = CloudEvent::from_json(m.body().unwrap()).unwrap();
            if e.subject.as_deref() == Some(id.as_str()) {
                assert_eq!(
                    e.data["owner_email"].as_str().map(|s| s.contains('@')),
                    Some(true),
                    "{e:?}"
                );
                mail_types.push(e.event_type);
            }
        }
    }
    assert_eq!(
        mail_types,
        vec!["switchyard.tasks.task.completed.v1".to_owned()]
    );
    let late = world
        .drain(world.queue("mailer"), 10, Duration::from_secs(2))
        .await;
    assert!(
        late.iter()
            .all(|m| !m.body().unwrap().contains("task.created")),
        "task.created reached the mailer"
    );

    // The archive: created, updated and completed, each once.
    let types = eventually(
        "the archive to hold the task's events",
        Duration::from_secs(30),
        || async {
            let t = archived_types(&archive, &id).await;
            (t.len() == 3).then_some(t)
        },
    )
    .await;
    assert!(
        types.contains("switchyard.tasks.task.created.v1")
            && types.contains("switchyard.tasks.task.completed.v1")
    );
    stop_archive.cancel();
    archiving.await.unwrap();
    world.finish().await;
}

#[tokio::test]
async fn http_semantics_etags_ownership_validation_idempotency_and_paging() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (_, admin) = identity.admin().await;
    let (_, alice) = task_user(&identity, &tasks, &admin).await;
    let (_, bob) = task_user(&identity, &tasks, &admin).await;
    let (_, nobody) = identity.user().await;
    // Identity is not needed once the users are registered: it is stopped for the rest of the test.
    let mut identity = identity;
    identity.stop().await;

    let t: Value = tasks
        .post("/v1/tasks", &alice.access)
        .json(&json!({"name": "a"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/tasks/{}", t["id"].as_str().unwrap());

    // Stale If-Match -> 412, and nothing changed.
    let ok = tasks
        .patch(&path, &alice.access)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let stale = tasks
        .patch(&path, &alice.access)
        .header("if-match", "\"1\"")
        .json(&json!({"name": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.headers()["content-type"], "application/problem+json");
    let stale_delete = tasks
        .delete(&path, &alice.access)
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale_delete.status(), StatusCode::PRECONDITION_FAILED);
    let now: Value = tasks
        .get(&path, &alice.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["name"], "b");

    // Another user's task is not found, whatever the verb.
    assert_eq!(
        tasks.get(&path, &bob.access).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tasks
            .patch(&path, &bob.access)
            .json(&json!({"done": true}))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tasks
            .delete(&path, &bob.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        tasks
            .get("/v1/tasks/not-a-uuid", &alice.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );

    // Invalid input -> 422 naming the field.
    for (body, field) in [
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "ok", "owner": "me"}), "owner"),
        (json!({"name": 7}), "name"),
    ] {
        let r = tasks
            .post("/v1/tasks", &alice.access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let problem: Value = r.json().await.unwrap();
        assert!(problem.to_string().contains(field), "{problem}");
    }
    let r = tasks
        .get("/v1/tasks?limit=1000", &alice.access)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.unwrap().contains("limit"));

    // No token -> 401; no permission -> 403.
    let anon = tasks
        .http
        .get(format!("{}/v1/tasks", tasks.url))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        tasks
            .get("/v1/tasks", &nobody.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );

    // Idempotency-Key: the same answer for a repeated key.
    let key = format!("k-{}", Uuid::now_v7());
    let first = tasks
        .post("/v1/tasks", &bob.access)
        .header("idempotency-key", &key)
        .json(&json!({"name": "once"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let again = tasks
        .post("/v1/tasks", &bob.access)
        .header("idempotency-key", &key)
        .json(&json!({"name": "once"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (a, b): (Value, Value) = (first.json().await.unwrap(), again.json().await.unwrap());
    assert_eq!(a, b);

    // Cursor pagination and the done filter over bob's tasks (1 so far + 4).
    for n in 0..4 {
        tasks
            .post("/v1/tasks", &bob.access)
            .json(&json!({"name": format!("t{n}")}))
            .send()
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor
            .as_ref()
            .map(|c| format!("&cursor={c}"))
            .unwrap_or_default();
        let page: Value = tasks
            .get(&format!("/v1/tasks?limit=2{q}"), &bob.access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].clone()),
        );
        match page.get("next_cursor").and_then(Value::as_str) {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen.iter()
            .map(Value::to_string)
            .collect::<BTreeSet<_>>()
            .len(),
        5
    );
    let done: Value = tasks
        .get("/v1/tasks?done=true", &bob.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(done["items"].as_array().unwrap().is_empty());

    // Delete with the current ETag.
    let del = tasks
        .delete(&path, &alice.access)
        .header("if-match", "\"2\"")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        tasks
            .get(&path, &alice.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    world.finish().await;
}

#[tokio::test]
async fn revoking_a_permission_takes_effect_on_the_very_next_request_to_another_service() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (_, admin) = identity.admin().await;
    let (id, user) = task_user(&identity, &tasks, &admin).await;
    assert_eq!(
        tasks
            .get("/v1/tasks", &user.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert!(
        identity
            .set_permissions(&admin, id, &["tasks:write"])
            .await
            .status()
            .is_success()
    );
    assert_eq!(
        tasks
            .get("/v1/tasks", &user.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        identity
            .set_permissions(&admin, id, TASK_PERMS)
            .await
            .status()
            .is_success()
    );
    assert_eq!(
        tasks
            .get("/v1/tasks", &user.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    world.finish().await;
}

#[tokio::test]
async fn a_consumer_that_missed_events_catches_up_through_replay_and_a_second_replay_changes_nothing()
 {
    let world = World::new().await;
    let archive = archive_database(&world).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);

    // Five completions and five creations reach the archive while the mailer-side consumer is down (its queue is
    // emptied: the messages are gone for it).
    let mut events = Vec::new();
    for n in 0..5 {
        let (task_id, owner_id) = (Uuid::now_v7(), Uuid::now_v7());
        events.push(
            CloudEvent::new(&switchyard_events::tasks::TaskCompleted {
                task_id,
                owner_id,
                owner_email: format!("u{n}@example.com"),
                title: format!("t{n}"),
            })
            .unwrap(),
        );
        events.push(
            CloudEvent::new(&switchyard_events::tasks::TaskCreated {
                task_id,
                owner_id,
                owner_email: format!("u{n}@example.com"),
                title: format!("t{n}"),
            })
            .unwrap(),
        );
    }
    archive_all(&world, &archive, &events).await;

    let probe_db = world
        .database("probe", &[&switchyard_consumer::MIGRATOR, &probe::MIGRATOR])
        .await;
    let filter = replay_filter(&world, "mailer", since);
    let replay =
        || yard::events::replay(&archive, &world.sqs, world.queue("mailer"), &filter, |_| {});
    assert_eq!(
        replay().await.unwrap(),
        5,
        "only the types the mailer subscribes to"
    );

    let run_consumer = || async {
        let mut config = ConsumerConfig::new(world.queue("mailer"));
        config.wait_time = Duration::from_secs(1);
        let consumer = Consumer::new(
            world.queues.clone(),
            config,
            Inbox::new(probe_db.clone(), Probe::default()),
        );
        let stop = CancellationToken::new();
        let running = tokio::spawn(consumer.run(stop.clone()));
        eventually(
            "the replayed messages consumed",
            Duration::from_secs(30),
            || async { (world.depth(world.queue("mailer")).await == 0).then_some(()) },
        )
        .await;
        stop.cancel();
        running.await.unwrap()
    };
    assert_eq!(run_consumer().await.done, 5);
    let completed: BTreeSet<Uuid> = events
        .iter()
        .filter(|e| e.event_type.ends_with("completed.v1"))
        .map(|e| e.id)
        .collect();
    let counts = probe::effect_counts(&probe_db).await;
    assert_eq!(counts.keys().copied().collect::<BTreeSet<_>>(), completed);

    // Replaying again delivers again, and the inbox makes it a no-op.
    assert_eq!(replay().await.unwrap(), 5);
    assert_eq!(run_consumer().await.done, 5);
    assert!(
        probe::effect_counts(&probe_db)
            .await
            .values()
            .all(|&c| c == 1)
    );
    world.finish().await;
}

async fn create_with_key(
    tasks: &TestTasks,
    token: &str,
    key: &str,
    body: &Value,
) -> reqwest::Response {
    tasks
        .post("/v1/tasks", token)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// An Idempotency-Key is bound to its first request: the same request again (also concurrently, also written with
/// other whitespace) replays the first answer and creates nothing; a different body with the key is a 422 that
/// creates nothing either. Keys are per user.
#[tokio::test]
async fn tasks_an_idempotency_key_reused_with_a_different_body_is_a_422() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (_, admin) = identity.admin().await;
    let (_, alice) = task_user(&identity, &tasks, &admin).await;
    let (_, bob) = task_user(&identity, &tasks, &admin).await;
    let mut identity = identity;
    identity.stop().await;
    let key = format!("k-{}", Uuid::now_v7());

    let body = json!({"name": "pay rent"});
    let answers = futures::future::join_all(
        (0..5).map(|_| create_with_key(&tasks, &alice.access, &key, &body)),
    )
    .await;
    let mut bodies = BTreeSet::new();
    for r in answers {
        assert_eq!(r.status(), StatusCode::CREATED);
        bodies.insert(r.text().await.unwrap());
    }
    assert_eq!(bodies.len(), 1, "one answer for one key: {bodies:?}");
    let spaced = tasks
        .post("/v1/tasks", &alice.access)
        .header("idempotency-key", &key)
        .header("content-type", "application/json")
        .body("{ \"name\" :   \"pay rent\" }")
        .send()
        .await
        .unwrap();
    assert_eq!(spaced.status(), StatusCode::CREATED, "the same request");

    for other in [
        json!({"name": "pay the rent"}),
        json!({"name": "pay rent "}),
    ] {
        let r = create_with_key(&tasks, &alice.access, &key, &other).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{other}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(
            problem["errors"][0]["field"], "Idempotency-Key",
            "{problem}"
        );
    }
    let list: Value = tasks
        .get("/v1/tasks", &alice.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pay rent"], "exactly one task was created");

    // Another user's key space is their own.
    let r = create_with_key(
        &tasks,
        &bob.access,
        &key,
        &json!({"name": "something else"}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert!(!r.headers().contains_key("idempotent-replayed"));
    world.finish().await;
}

/// A key whose task was deleted still answers what it answered (201 with the task as created): the client that
/// retries learns its request succeeded, instead of a 404 forever; the task itself stays deleted.
#[tokio::test]
async fn tasks_a_key_whose_task_was_deleted_replays_its_answer_instead_of_a_404() {
    let world = World::new().await;
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (_, admin) = identity.admin().await;
    let (_, alice) = task_user(&identity, &tasks, &admin).await;
    let mut identity = identity;
    identity.stop().await;
    let key = format!("k-{}", Uuid::now_v7());
    let body = json!({"name": "short-lived"});

    let first = create_with_key(&tasks, &alice.access, &key, &body).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let location = first.headers()["location"].to_str().unwrap().to_owned();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let created: Value = first.json().await.unwrap();
    let deleted = tasks.delete(&location, &alice.access).send().await.unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    for _ in 0..2 {
        let again = create_with_key(&tasks, &alice.access, &key, &body).await;
        assert_eq!(again.status(), StatusCode::CREATED, "not a 404");
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.headers()["location"].to_str().unwrap(), location);
        assert_eq!(again.headers()["etag"].to_str().unwrap(), etag);
        assert_eq!(again.json::<Value>().await.unwrap(), created);
    }
    assert_eq!(
        tasks
            .get(&location, &alice.access)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "replaying does not resurrect the task"
    );
    // A different request with the key is still refused.
    let r = create_with_key(&tasks, &alice.access, &key, &json!({"name": "other"})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    world.finish().await;
}

/// Creating, listing, changing, completing and deleting tasks needs nothing from identity once the user registered:
/// the owner's email comes from the users projection (fed by `user.registered` through the `tasks` queue), tokens
/// verify with the JWKS tasks fetched at start, permissions come from Redis. Identity is stopped, and proven to be,
/// before the first task is created; the completion event still carries the owner's registered address. A user whose
/// registration the projection has not seen gets a 503 with Retry-After, never a task without an owner address.
#[tokio::test]
async fn tasks_work_with_identity_stopped_after_the_user_registered() {
    let world = World::new().await;
    let mut identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let (_, admin) = identity.admin().await;
    let (user_id, user) = task_user(&identity, &tasks, &admin).await;
    let email: String = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_one(&identity.pool)
        .await
        .unwrap();
    let identity_url = identity.url.clone();
    identity.stop().await;
    assert!(
        reqwest::get(format!("{identity_url}/healthz"))
            .await
            .is_err(),
        "identity is down"
    );

    let created = tasks
        .post("/v1/tasks", &user.access)
        .json(&json!({"name": "offline"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let task: Value = created.json().await.unwrap();
    let path = format!("/v1/tasks/{}", task["id"].as_str().unwrap());
    let list: Value = tasks
        .get("/v1/tasks", &user.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let done = tasks
        .patch(&path, &user.access)
        .header("if-match", "W/\"1\"")
        .json(&json!({"done": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), StatusCode::OK, "a weak If-Match is accepted");
    assert_eq!(done.headers()["etag"], "\"2\"");
    let owner_email: String =
        sqlx::query_scalar("SELECT owner_email FROM tasks WHERE id = $1::uuid")
            .bind(task["id"].as_str().unwrap())
            .fetch_one(&tasks.pool)
            .await
            .unwrap();
    assert_eq!(owner_email, email, "the address identity registered");
    let completed = eventually(
        "task.completed on the mailer queue",
        Duration::from_secs(30),
        || async {
            world
                .drain(world.queue("mailer"), 1, Duration::from_secs(1))
                .await
                .into_iter()
                .filter_map(|m| CloudEvent::from_json(m.body().unwrap()).ok())
                .find(|e| e.event_type.ends_with("task.completed.v1"))
        },
    )
    .await;
    assert_eq!(completed.data["owner_email"], email);
    assert_eq!(
        tasks
            .delete(&path, &user.access)
            .header("if-match", "\"2\"")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    // A user the projection has not seen (no user.registered reached tasks): 503 with Retry-After, nothing made.
    let stranger = Uuid::now_v7();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user_id)
        .execute(&tasks.pool)
        .await
        .unwrap();
    let r = tasks
        .post("/v1/tasks", &user.access)
        .json(&json!({"name": "too early"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM tasks WHERE owner_id = $1 OR owner_id = $2")
            .bind(user_id)
            .bind(stranger)
            .fetch_one(&tasks.pool)
            .await
            .unwrap();
    assert_eq!(left, 0, "nothing was created for an unknown user");
    world.finish().await;
}

/// Users registered before the tasks service consumed identity's events are backfilled by `yard replay` from the
/// archive into the `tasks` queue; a second replay changes nothing (the inbox).
#[tokio::test]
async fn tasks_users_registered_before_the_projection_are_backfilled_by_replay() {
    let world = World::new().await;
    let archive = archive_database(&world).await;
    let since = chrono::Utc::now() - chrono::Duration::seconds(5);
    let users: Vec<(Uuid, String)> = (0..3)
        .map(|n| (Uuid::now_v7(), format!("early{n}@example.com")))
        .collect();
    let events: Vec<CloudEvent> = users
        .iter()
        .map(|(id, email)| {
            CloudEvent::new(&switchyard_events::identity::UserRegistered {
                user_id: *id,
                email: email.clone(),
                display_name: "Early".into(),
            })
            .unwrap()
        })
        .collect();
    archive_all(&world, &archive, &events).await;

    // The tasks service starts afterwards, with an empty projection.
    let identity = TestIdentity::spawn(&world).await;
    let tasks = TestTasks::spawn(&world, &identity).await;
    let filter = replay_filter(&world, "tasks", since);
    for round in 0..2 {
        let sent =
            yard::events::replay(&archive, &world.sqs, world.queue("tasks"), &filter, |_| {})
                .await
                .unwrap();
        assert_eq!(sent, 3, "round {round}");
        for (id, _) in &users {
            tasks.wait_for_user(*id).await;
        }
        eventually("the replay consumed", Duration::from_secs(30), || async {
            (world.depth(world.queue("tasks")).await == 0).then_some(())
        })
        .await;
    }
    let emails: BTreeSet<String> = sqlx::query_scalar("SELECT email FROM users")
        .fetch_all(&tasks.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(
        emails,
        users
            .iter()
            .map(|(_, e)| e.clone())
            .collect::<BTreeSet<_>>()
    );
    world.finish().await;
}
