//! The shared `main` of worker binaries: a worker's own `main.rs` names itself and builds its handler.
//!
//! Environment: `DATABASE_URL`, `DATABASE_SCHEMA` (default: the worker's schema), `QUEUE_URL`, `HEALTH_ADDR`
//! (default 127.0.0.1:9000), `MAX_IN_FLIGHT` (20), `VISIBILITY_TIMEOUT_SECONDS` (30), `WAIT_TIME_SECONDS` (20),
//! `SHUTDOWN_DEADLINE_SECONDS` (25; keep ECS `stopTimeout` above it), plus the AWS SDK's own (`AWS_REGION`,
//! `AWS_ENDPOINT_URL`, credentials).

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context;
use aws_config::SdkConfig;
use sqlx::{PgPool, migrate::Migrator};
use switchyard_core::{
    config::{self, ConfigError, Var},
    db::{self, DbSettings},
    health, shutdown, telemetry,
};

use crate::{Consumer, ConsumerConfig, MessageHandler};

/// Who the worker is.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSpec {
    /// Binary name, for logs.
    pub name: &'static str,
    /// Default Postgres schema.
    pub schema: &'static str,
    /// The worker's own migrations (the inbox table is added before them).
    pub migrations: &'static [&'static Migrator],
}

/// Settings read from the environment.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub db: DbSettings,
    pub consumer: ConsumerConfig,
    pub health_addr: SocketAddr,
}

const DEFAULT_HEALTH_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9000);

pub const QUEUE_URL: Var = Var::new(
    "QUEUE_URL",
    "the URL of this worker's SQS queue (yard provision prints it)",
)
.example("https://sqs.eu-west-1.amazonaws.com/123456789012/prod-worker");
pub const HEALTH_ADDR: Var = Var::new(
    "HEALTH_ADDR",
    "where /healthz listens (the healthcheck subcommand probes it)",
)
.example("127.0.0.1:9000");
pub const MAX_IN_FLIGHT: Var = Var::new("MAX_IN_FLIGHT", "messages handled at once").example("20");
pub const VISIBILITY_TIMEOUT_SECONDS: Var = Var::new(
    "VISIBILITY_TIMEOUT_SECONDS",
    "visibility timeout of received messages (extended by the heartbeat while a handler runs)",
)
.example("30");
pub const WAIT_TIME_SECONDS: Var =
    Var::new("WAIT_TIME_SECONDS", "long-poll wait, at most 20").example("20");
pub const SHUTDOWN_DEADLINE_SECONDS: Var = Var::new(
    "SHUTDOWN_DEADLINE_SECONDS",
    "on SIGTERM, time to finish in-flight messages (keep ECS stopTimeout above it)",
)
.example("25");

impl WorkerSettings {
    pub fn from_env(spec: &WorkerSpec) -> Result<Self, ConfigError> {
        Ok(Self {
            db: DbSettings::from_env(spec.schema)?,
            consumer: consumer_from_env()?,
            health_addr: config::parsed(&HEALTH_ADDR, DEFAULT_HEALTH_ADDR)?,
        })
    }
}

/// The runtime's settings: `QUEUE_URL`, `VISIBILITY_TIMEOUT_SECONDS`, `MAX_IN_FLIGHT`, `WAIT_TIME_SECONDS`,
/// `SHUTDOWN_DEADLINE_SECONDS` (also for a service that consumes a queue beside serving HTTP, like tasks).
pub fn consumer_from_env() -> Result<ConsumerConfig, ConfigError> {
    let queue_url = config::required(&QUEUE_URL)?;
    let mut consumer = ConsumerConfig::new(queue_url).with_visibility(config::seconds(
        &VISIBILITY_TIMEOUT_SECONDS,
        Duration::from_secs(30),
    )?);
    consumer.max_in_flight = config::parsed(&MAX_IN_FLIGHT, 20usize)?;
    consumer.wait_time =
        config::seconds(&WAIT_TIME_SECONDS, Duration::from_secs(20))?.min(Duration::from_secs(20));
    consumer.shutdown_deadline =
        config::seconds(&SHUTDOWN_DEADLINE_SECONDS, Duration::from_secs(25))?;
    Ok(consumer)
}

/// The command line of every worker: `run` (the default) and `healthcheck`.
#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(subcommand)]
    command: Option<WorkerCommand>,
}

/// The subcommands every worker shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum WorkerCommand {
    /// Consume the queue until SIGTERM (the default).
    Run,
    /// Probe a running worker's /healthz on HEALTH_ADDR (exit 0 when healthy; the ECS health check).
    Healthcheck,
}

/// What a worker reads at start, for its [`switchyard_core::contract::Binary`]: telemetry, the runtime's settings, the AWS SDK's,
/// then the worker's own (`own`, e.g. its `Settings::from_env`).
pub fn read_env(
    spec: &WorkerSpec,
    own: impl FnOnce() -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    telemetry::pretty_from_env()?;
    WorkerSettings::from_env(spec)?;
    switchyard_core::aws::read_env()?;
    own()
}

/// Entry point: `<worker> [run]` runs it, `<worker> healthcheck` probes a running one (exit 0 when healthy).
pub async fn main<H, F>(spec: WorkerSpec, build: F) -> ExitCode
where
    H: MessageHandler,
    F: FnOnce(&PgPool, &SdkConfig) -> anyhow::Result<H>,
{
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command()
        .name(spec.name)
        .about(format!("Switchyard worker {}", spec.name))
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The probe first: ECS runs it every few seconds, it needs no metrics recorder or span exporter.
    if cli.command == Some(WorkerCommand::Healthcheck) {
        return match config::parsed(&HEALTH_ADDR, DEFAULT_HEALTH_ADDR) {
            Ok(addr) => health::check(&addr.to_string()).await,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    telemetry::init(spec.name);
    match run(spec, build).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                worker = spec.name,
                "worker failed"
            );
            ExitCode::FAILURE
        }
    }
}

async fn run<H, F>(spec: WorkerSpec, build: F) -> anyhow::Result<()>
where
    H: MessageHandler,
    F: FnOnce(&PgPool, &SdkConfig) -> anyhow::Result<H>,
{
    let settings = WorkerSettings::from_env(&spec)?;
    let shutdown = shutdown::on_signal();
    // Every failure of a batch is retried (the message comes back), so no liveness round trip per batch.
    let pool = db::connect_unchecked(&settings.db).await?;
    let mut sets: Vec<&Migrator> = vec![&crate::MIGRATOR];
    sets.extend(spec.migrations.iter().copied());
    db::migrate(&pool, &settings.db.schema, &sets).await?;
    let aws = switchyard_core::aws::load().await?;
    let handler = build(&pool, &aws).context("building the handler")?;
    let sqs = crate::Sqs::new(&aws).await?;
    let consumer = Consumer::new(sqs, settings.consumer, handler);
    let health_addr = health::spawn(settings.health_addr, consumer.health(), shutdown.clone())
        .await
        .with_context(|| format!("binding HEALTH_ADDR={}", settings.health_addr))?;
    tracing::info!(worker = spec.name, %health_addr, schema = %settings.db.schema, "worker ready");
    consumer.run(shutdown).await;
    pool.close().await;
    Ok(())
}
