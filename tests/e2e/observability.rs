//! What operators see: the real tasks, mailer and event-archive binaries, exporting spans to an OTLP/HTTP receiver in
//! this process and writing CloudWatch EMF lines on stdout, while a task is completed through the whole stack.
//!
//! One trace: the client's request -> tasks' HTTP span -> the outbox enqueue -> the relay's publish -> the mailer's
//! and the archive's processing and handler spans, each the child of the one before. The EMF lines: valid documents
//! of the declared metrics only (`metrics-contract.json`), aggregated (the request count is the number of requests,
//! not of lines; health checks not counted).

use std::{collections::BTreeMap, time::Duration};

use secrecy::ExposeSecret;
use serde_json::{Value, json};
use switchyard_core::trace::TraceContext;
use switchyard_tests::{
    World, database_url, endpoint, eventually, free_port,
    identity::{AUDIENCE, ISSUER, TestIdentity},
    mail::{mail_database, ses_identity},
    telemetry::{
        CONSUMER, Captured, OtlpReceiver, PRODUCER, ReceivedSpan, SERVER, check_emf, counter_sum,
        metrics_contract,
    },
    worker_env, workspace_bin,
};

/// What every spawned binary gets: the emulator, Postgres, the receiver, metrics every second.
fn telemetry_env(world: &World, otlp: &OtlpReceiver) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("DATABASE_URL", database_url()),
        ("RUST_LOG", "info".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint()),
        // Export within 100 ms instead of the SDK's 5 s batch delay.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("METRICS_INTERVAL_SECONDS", "1".to_owned()),
        (
            "METRICS_DIMENSIONS",
            format!("Environment={}", world.env.as_str()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn with(mut env: Vec<(String, String)>, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    env.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn one<'a>(
    spans: &'a [ReceivedSpan],
    what: &str,
    pick: impl Fn(&ReceivedSpan) -> bool,
) -> &'a ReceivedSpan {
    let found: Vec<&ReceivedSpan> = spans.iter().filter(|s| pick(s)).collect();
    assert_eq!(found.len(), 1, "expected one {what}, got {found:#?}");
    found[0]
}

/// tasks' server span of a request.
fn is_tasks_request(s: &ReceivedSpan) -> bool {
    s.service == "tasks" && s.kind == SERVER
}

/// The relay's producer span that published the task.completed event.
fn is_completed_publish(s: &ReceivedSpan) -> bool {
    s.service == "tasks"
        && s.kind == PRODUCER
        && s.attributes.get("event_type").map(String::as_str)
            == Some("switchyard.tasks.task.completed.v1")
}

#[tokio::test]
async fn a_task_completion_is_one_trace_across_the_stack_and_every_binary_writes_declared_emf() {
    let world = World::new().await;
    let otlp = OtlpReceiver::start().await;
    let identity = TestIdentity::spawn(&world).await;
    let base = telemetry_env(&world, &otlp);

    // tasks, as ECS runs it (a clean environment), on a port of its own.
    let tasks_addr = format!("127.0.0.1:{}", free_port());
    let tasks_schema = world.claim_schema("tasks");
    let tasks_env = with(
        base.clone(),
        &[
            ("HTTP_ADDR", &tasks_addr),
            ("DATABASE_SCHEMA", &tasks_schema),
            ("TOPIC_ARN", world.topic("task-events")),
            ("IDENTITY_URL", &identity.url),
            ("JWT_ISSUER", ISSUER),
            ("JWT_AUDIENCE", AUDIENCE),
            ("REDIS_URL", &identity.redis_url),
            ("REDIS_KEY_PREFIX", &identity.prefix),
            // The users projection's queue, and the service account its permission look-ups use.
            ("QUEUE_URL", world.queue("tasks")),
            ("WAIT_TIME_SECONDS", "1"),
            ("IDENTITY_CLIENT_ID", &identity.client.id),
            (
                "IDENTITY_CLIENT_SECRET",
                identity.client.secret.expose_secret(),
            ),
        ],
    );
    let mut tasks = Captured::spawn("tasks", &workspace_bin("tasks"), &tasks_env);

    // The mailer (SES on moto) and the archive.
    mail_database(&world, "mail").await;
    let ses = ses_identity(&world).await;
    let mut mailer_env = worker_env(&world, "mailer", "mail");
    mailer_env.extend(base.clone());
    let mailer_env = with(
        mailer_env,
        &[("SES_FROM_ADDRESS", &ses.from), ("SES_API", "v2")],
    );
    let mut mailer = Captured::spawn("mailer", &workspace_bin("mailer"), &mailer_env);
    let archive_schema = world.claim_schema("event-archive");
    let mut archive_env = worker_env(&world, "event-archive", "event-archive");
    archive_env.extend(base.clone());
    let archive_env = with(archive_env, &[("DATABASE_SCHEMA", &archive_schema)]);
    let mut archive = Captured::spawn(
        "event-archive",
        &workspace_bin("event-archive"),
        &archive_env,
    );

    let http = reqwest::Client::new();
    let url = format!("http://{tasks_addr}");
    eventually(
        "tasks to answer /healthz",
        Duration::from_secs(60),
        || async {
            let r = http.get(format!("{url}/healthz")).send().await;
            r.is_ok_and(|r| r.status() == 200).then_some(())
        },
    )
    .await;

    let (_, admin) = identity.admin().await;
    let (user, tokens) = identity.user().await;
    assert!(
        identity
            .set_permissions(&admin, user, &["tasks:read", "tasks:write"])
            .await
            .status()
            .is_success()
    );
    // 503 (creating nothing) until tasks' users projection has the user's `user.registered`; each try is a request.
    let posts = std::sync::atomic::AtomicU64::new(0);
    let created: Value = eventually(
        "tasks to know the user and create the task",
        Duration::from_secs(30),
        || async {
            posts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let r = http
                .post(format!("{url}/v1/tasks"))
                .bearer_auth(&tokens.access)
                .json(&json!({"name": "trace me"}))
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                201 => Some(r.json().await.unwrap()),
                503 => None,
                other => panic!(
                    "creating the task: {other} {}",
                    r.text().await.unwrap_or_default()
                ),
            }
        },
    )
    .await;
    let task_id = created["id"].as_str().expect("created").to_owned();

    // The client's own span: the HTTP span must be its child.
    let client = TraceContext::new_root();
    let done = http
        .patch(format!("{url}/v1/tasks/{task_id}"))
        .bearer_auth(&tokens.access)
        .header("traceparent", client.to_string())
        .header("if-match", "\"1\"")
        .json(&json!({"done": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let trace = client.trace_id_hex();

    // The trace is complete when both consumers' handler spans of task.completed and the relay's publish arrived:
    // each process exports on its own schedule, so the consumers' spans can arrive before the producer's.
    let spans = eventually(
        "the relay's publish and the mailer's and the archive's handler spans in the request's trace",
        Duration::from_secs(60),
        || async {
            let spans: Vec<ReceivedSpan> = otlp
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == trace)
                .collect();
            let handled_by = |service: &str| {
                spans.iter().any(|s| {
                    s.service == service && s.name == "handle switchyard.tasks.task.completed.v1"
                })
            };
            let published = spans.iter().any(is_completed_publish);
            let served = spans.iter().any(is_tasks_request);
            (served && published && handled_by("mailer") && handled_by("event-archive")).then_some(spans)
        },
    )
    .await;
    let names: BTreeMap<String, usize> = spans.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(format!("{}: {}", s.service, s.name)).or_default() += 1;
        m
    });

    // tasks: the server span, child of the client's.
    let request = one(&spans, "HTTP span", is_tasks_request);
    assert_eq!(request.name, "PATCH /v1/tasks/{id}", "{names:?}");
    assert_eq!(request.parent_span_id, client.span_id_hex());
    assert_eq!(
        request
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("200")
    );
    // The outbox rows it wrote (task.updated and task.completed), each enqueue a child of the request...
    let enqueues: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| s.service == "tasks" && s.name == "outbox enqueue")
        .collect();
    assert!(!enqueues.is_empty(), "{names:?}");
    for e in &enqueues {
        assert_eq!(e.parent_span_id, request.span_id, "{e:?}");
    }
    // ... and the relay's publish of task.completed, a producer span under its enqueue.
    let publish = one(&spans, "publish of task.completed", is_completed_publish);
    assert_eq!(
        publish.name,
        format!("publish {}", world.env.topic_name("task-events"))
    );
    assert!(
        enqueues.iter().any(|e| e.span_id == publish.parent_span_id),
        "{publish:?}"
    );

    // Each consumer: a consumer span under the publish, its handler span under that.
    for (service, queue) in [("mailer", "mailer"), ("event-archive", "event-archive")] {
        let handler = one(&spans, &format!("{service}'s handler span"), |s| {
            s.service == service && s.name == "handle switchyard.tasks.task.completed.v1"
        });
        let process = one(&spans, &format!("{service}'s consumer span"), |s| {
            s.service == service && s.span_id == handler.parent_span_id
        });
        assert_eq!(process.kind, CONSUMER, "{process:?}");
        assert_eq!(
            process.name,
            format!("process {}", world.env.queue_name(queue))
        );
        assert_eq!(
            process.parent_span_id, publish.span_id,
            "{service}: {process:?}"
        );
        assert_ne!(
            process.status, 2,
            "{service} failed the message: {process:?}"
        );
    }

    // Shut down gracefully (each writes its last metrics), then read every EMF line.
    for child in [&mut tasks, &mut mailer, &mut archive] {
        child.stop(Duration::from_secs(30)).await;
    }
    let contract = metrics_contract();
    let namespace = contract["namespace_default"].as_str().unwrap().to_owned();
    let mut seen: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for child in [&tasks, &mailer, &archive] {
        let docs = child.emf();
        assert!(
            !docs.is_empty(),
            "{} wrote no EMF line:\n{}",
            child.name,
            child.tail(20)
        );
        for doc in &docs {
            assert_eq!(doc["Environment"], world.env.as_str(), "{doc}");
            for (name, _) in check_emf(doc, &contract, &namespace, &child.name, &["Environment"]) {
                seen.entry(child.name.as_str()).or_default().push(name);
            }
        }
    }
    let tasks_docs = tasks.emf();
    // The POSTs (a 503 for each try before the projection knew the user, then the 201) and the PATCH: aggregated,
    // and /healthz (polled above) is not counted.
    let posts = posts.into_inner();
    assert_eq!(
        counter_sum(&tasks_docs, "RequestCount", None),
        posts + 1,
        "{tasks_docs:#?}"
    );
    assert_eq!(
        counter_sum(
            &tasks_docs,
            "RequestCount",
            Some(("Route", "POST /v1/tasks"))
        ),
        posts
    );
    assert_eq!(
        counter_sum(
            &tasks_docs,
            "RequestCount",
            Some(("Route", "PATCH /v1/tasks/{id}"))
        ),
        1
    );
    assert!(
        tasks_docs
            .iter()
            .all(|d| d.get("Route") != Some(&json!("GET /healthz"))),
        "health checks are not request metrics"
    );
    // created, updated, completed: published, none failed.
    assert!(
        counter_sum(&tasks_docs, "OutboxPublished", None) >= 3,
        "{tasks_docs:#?}"
    );
    assert_eq!(counter_sum(&tasks_docs, "OutboxPublishFailed", None), 0);
    assert!(
        seen["tasks"].iter().any(|n| n == "OutboxLag"),
        "{:?}",
        seen["tasks"]
    );
    assert!(seen["tasks"].iter().any(|n| n == "RequestLatency"));
    let archive_docs = archive.emf();
    assert!(
        counter_sum(
            &archive_docs,
            "MessagesHandled",
            Some(("Queue", &world.env.queue_name("event-archive")))
        ) >= 3
    );
    let mailer_docs = mailer.emf();
    assert!(
        counter_sum(&mailer_docs, "MessagesHandled", None) >= 1,
        "{mailer_docs:#?}"
    );
    for worker in ["mailer", "event-archive"] {
        for metric in ["HandlerLatency", "ReceiveToDoneLatency"] {
            assert!(
                seen[worker].iter().any(|n| n == metric),
                "{worker}: {:?}",
                seen[worker]
            );
        }
    }
    world.finish().await;
}
