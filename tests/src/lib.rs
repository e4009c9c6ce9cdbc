//! Test support for the black-box suite in `e2e/`: every test builds its own [`World`] — a unique name prefix
//! for topics and queues, unique Postgres schemas — against the real emulator and Postgres, so tests run in
//! parallel without seeing each other's messages or rows.
//!
//! Endpoints come from the same variables the binaries read (`AWS_ENDPOINT_URL`, `DATABASE_URL`), defaulting to
//! the local stack that `make up` / `make test` start (moto); `make test-localstack` points the suite at LocalStack,
//! and [`emulator`] holds the little that differs between the two.

pub mod emulator;
pub mod identity;
pub mod mail;
pub mod pg_server;
pub mod probe;
pub mod proxy;
pub mod redis_server;
pub mod tasks;
pub mod telemetry;
pub mod tls;

use std::{future::Future, time::Duration};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::{config::Credentials, types::QueueAttributeName};
use sqlx::{PgPool, migrate::Migrator};
use switchyard_core::db::{self, DbSettings};
use switchyard_topology::{Environment, Topology};
use yard::provision::{Provisioner, Resources};

pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:4566";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/switchyard";

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| DEFAULT_ENDPOINT.to_owned())
}

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned())
}

/// Eight random hex characters.
pub fn unique() -> String {
    hex::encode(rand::random::<[u8; 4]>())
}

/// SDK config for the emulator at `endpoint` (tests point it at a fault-injecting proxy too).
pub async fn aws_config_for(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(
            std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".to_owned()),
        ))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "switchyard-tests",
        ))
        .load()
        .await
}

/// One test's isolated slice of the emulator and database.
pub struct World {
    pub id: String,
    pub env: Environment,
    pub aws: SdkConfig,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// The worker runtime's own SQS client (what `Consumer` takes), on the same configuration.
    pub queues: switchyard_consumer::Sqs,
    pub topology: Topology,
    pub resources: Resources,
    schemas: std::sync::Mutex<Vec<String>>,
}

impl World {
    /// Provisions the repository topology under a fresh prefix `t-<hex>`.
    pub async fn new() -> Self {
        let id = unique();
        let env = Environment::parse(&format!("t-{id}")).expect("valid test environment");
        let aws = aws_config_for(&endpoint()).await;
        let sns = aws_sdk_sns::Client::new(&aws);
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queues = switchyard_consumer::Sqs::new(&aws)
            .await
            .expect("the runtime's SQS client");
        let topology = Topology::embedded().expect("topology.json is valid");
        let report = Provisioner {
            sns: &sns,
            sqs: &sqs,
            topology: &topology,
            env: &env,
        }
        .run()
        .await
        .expect(
            "provisioning against the emulator at AWS_ENDPOINT_URL (is it running? `make deps`)",
        );
        Self {
            id,
            env,
            aws,
            sns,
            sqs,
            queues,
            topology,
            resources: report.resources,
            schemas: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub fn topic(&self, key: &str) -> &str {
        &self.resources.topic_arns[key]
    }

    pub fn queue(&self, key: &str) -> &str {
        &self.resources.queue_urls[key]
    }

    pub fn dlq(&self, key: &str) -> &str {
        &self.resources.dlq_urls[key]
    }

    /// The schema name this world uses for `component`.
    pub fn schema_name(&self, component: &str) -> String {
        format!("t_{}_{}", self.id, component.replace('-', "_"))
    }

    /// A pool on a fresh schema for `component`, migrated with `sets`.
    pub async fn database(&self, component: &str, sets: &[&Migrator]) -> PgPool {
        let schema = self.schema_name(component);
        let settings = DbSettings {
            url: database_url().into(),
            schema: schema.clone(),
            max_connections: 10,
        };
        let pool = db::connect(&settings)
            .await
            .expect("Postgres (is it running? `make deps`)");
        db::migrate(&pool, &schema, sets).await.expect("migrations");
        self.schemas.lock().expect("lock").push(schema);
        pool
    }

    /// The schema name for `component`, dropped by [`finish`](Self::finish), for a process that migrates it itself.
    pub fn claim_schema(&self, component: &str) -> String {
        let schema = self.schema_name(component);
        self.schemas.lock().expect("lock").push(schema.clone());
        schema
    }

    /// Drops this world's schemas (queues and topics carry the unique prefix and are left to the emulator).
    pub async fn finish(self) {
        let schemas = std::mem::take(&mut *self.schemas.lock().expect("lock"));
        if let Ok(pool) = PgPool::connect(&database_url()).await {
            for schema in schemas {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                    .execute(&pool)
                    .await;
            }
        }
    }

    /// Visible plus in-flight messages of a queue.
    pub async fn depth(&self, queue_url: &str) -> u64 {
        yard::dlq::depth(&self.sqs, queue_url)
            .await
            .expect("queue depth")
    }

    /// Receives everything currently in a queue (deleting it), waiting until `count` messages or the deadline.
    pub async fn drain(
        &self,
        queue_url: &str,
        count: usize,
        deadline: Duration,
    ) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        let until = tokio::time::Instant::now() + deadline;
        while out.len() < count && tokio::time::Instant::now() < until {
            let resp = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            for m in resp.messages() {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
                out.push(m.clone());
            }
        }
        out
    }

    /// Sets a queue's visibility timeout (tests shorten it to keep crash tests quick).
    pub async fn set_visibility(&self, queue_url: &str, seconds: u32) {
        self.sqs
            .set_queue_attributes()
            .queue_url(queue_url)
            .attributes(QueueAttributeName::VisibilityTimeout, seconds.to_string())
            .send()
            .await
            .expect("set visibility");
    }
}

/// Polls `check` until it returns `Some`, or panics naming `what` when `deadline` passes.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Environment for a worker process spawned by a test: the emulator, Postgres, and this world's queue and schema.
pub fn worker_env(world: &World, queue: &str, component: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ACCESS_KEY_ID", "test".to_owned()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ("DATABASE_URL", database_url()),
        ("DATABASE_SCHEMA", world.schema_name(component)),
        ("QUEUE_URL", world.queue(queue).to_owned()),
        ("HEALTH_ADDR", "127.0.0.1:0".to_owned()),
        ("WAIT_TIME_SECONDS", "1".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Spawns a binary with `env` (plus `extra`), killed if the test drops it.
pub fn spawn(bin: &str, env: &[(String, String)], extra: &[(&str, &str)]) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(bin);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .envs(extra.iter().copied())
        .kill_on_drop(true);
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawning {bin}: {e}"))
}

/// Sends CloudEvents straight to a queue (as raw SNS delivery would), ten per call.
pub async fn send_events(world: &World, queue_url: &str, events: &[switchyard_events::CloudEvent]) {
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(e.to_json())
                    .build()
                    .expect("entry")
            })
            .collect();
        let out = world
            .sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("send batch");
        assert!(out.failed().is_empty(), "send failures: {:?}", out.failed());
    }
}

/// Messages a queue holds in flight (received, not yet deleted or released).
pub async fn in_flight(world: &World, queue_url: &str) -> u64 {
    let out = world
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("attributes");
    out.attributes()
        .and_then(|a| a.get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A 127.0.0.1 port nothing listens on right now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Path of a binary built from another workspace package (cargo builds every workspace binary for
/// `--workspace` test runs; `CARGO_BIN_EXE_*` only covers this package's own).
pub fn workspace_bin(name: &str) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/e2e-<hash> -> target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path.to_string_lossy().into_owned()
}
