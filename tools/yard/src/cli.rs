//! Command line: `yard provision`, `yard status`, `yard dlq list|peek|redrive`, `yard events list`, `yard replay`.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use switchyard_topology::{Environment, Topology};

use crate::{dlq, events, provision::Provisioner, status};

#[derive(Debug, Parser)]
#[command(name = "yard", about = "Switchyard operator CLI", version)]
pub struct Cli {
    /// Environment name: the prefix of every topic and queue name.
    #[arg(
        long = "env",
        env = "SWITCHYARD_ENV",
        global = true,
        default_value = "dev"
    )]
    pub environment: String,
    /// Topology file (default: the one compiled into yard, i.e. the repository's topology.json).
    #[arg(long, env = "SWITCHYARD_TOPOLOGY", global = true)]
    pub topology: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or converge topics, queues, DLQs, policies and subscriptions (safe to run any number of times).
    Provision {
        /// Print the report (and every ARN and URL) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Per queue: messages waiting, in flight, delayed and in its DLQ; per publishing service: the outbox rows not yet
    /// published and the age of the oldest. A table (coloured on a terminal) or, with --json, one JSON document.
    Status {
        #[arg(long)]
        json: bool,
        /// Postgres URL for the outboxes (without it, only the queues are shown).
        #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
        database_url: Option<String>,
        /// SERVICE=SCHEMA of an outbox to read, repeatable (default: every publishing service, schema = its name).
        #[arg(long = "outbox", value_name = "SERVICE=SCHEMA")]
        outboxes: Vec<String>,
    },
    /// Dead-letter queues.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The event archive (reads the event-archive worker's schema through DATABASE_URL).
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Re-publish archived events to ONE consumer's queue (not the topic); its inbox makes this safe.
    Replay {
        /// Logical queue name from the topology (e.g. mailer).
        #[arg(long)]
        queue: String,
        /// RFC 3339 time or an age (30m, 6h, 7d).
        #[arg(long)]
        since: String,
        /// Only these event types (default: what the queue's subscriptions let through).
        #[arg(long = "type")]
        types: Vec<String>,
        #[command(flatten)]
        archive: ArchiveDb,
    },
}

#[derive(Debug, clap::Args)]
pub struct ArchiveDb {
    /// Postgres URL of the archive.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Schema of the event-archive worker.
    #[arg(long, env = "ARCHIVE_SCHEMA", default_value = "event_archive")]
    pub archive_schema: String,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Archived events, oldest first, one JSON object per line.
    List {
        #[arg(long = "type")]
        types: Vec<String>,
        /// RFC 3339 time or an age (30m, 6h, 7d).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        subject: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[command(flatten)]
        archive: ArchiveDb,
    },
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Depth of every queue and its DLQ.
    List,
    /// Show dead letters of one queue without removing them.
    Peek {
        /// Logical queue name from the topology (e.g. mailer).
        queue: String,
        #[arg(long, default_value_t = 10)]
        max: i32,
    },
    /// Move dead letters back to their queue.
    Redrive {
        queue: String,
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
}

pub async fn main(cli: Cli) -> ExitCode {
    switchyard_core::telemetry::init_cli();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("yard: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_topology(path: Option<&PathBuf>) -> anyhow::Result<Topology> {
    Ok(match path {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Topology::parse(&text)?
        }
        None => Topology::embedded()?,
    })
}

async fn archive_pool(db: &ArchiveDb) -> anyhow::Result<sqlx::PgPool> {
    let settings = switchyard_core::db::DbSettings {
        url: db.database_url.clone().into(),
        schema: db.archive_schema.clone(),
        max_connections: 2,
    };
    Ok(switchyard_core::db::connect(&settings).await?)
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let env = Environment::parse(&cli.environment)?;
    let topology = load_topology(cli.topology.as_ref())?;
    if let Command::Events {
        command:
            EventsCommand::List {
                types,
                since,
                subject,
                limit,
                archive,
            },
    } = &cli.command
    {
        let filter = events::Filter {
            types: types.clone(),
            since: since.as_deref().map(events::parse_since).transpose()?,
            subject: subject.clone(),
        };
        for e in events::list(&archive_pool(archive).await?, &filter, *limit).await? {
            println!("{}", serde_json::to_string(&e)?);
        }
        return Ok(());
    }
    let aws = switchyard_core::aws::load().await?;
    let sns = aws_sdk_sns::Client::new(&aws);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let provisioner = Provisioner {
        sns: &sns,
        sqs: &sqs,
        topology: &topology,
        env: &env,
    };
    match cli.command {
        Command::Provision { json } => {
            let report = provisioner.run().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                for (verb, items) in [("created", &report.created), ("updated", &report.updated)] {
                    for item in items {
                        println!("{verb:>9}  {item}");
                    }
                }
                println!(
                    "provisioned environment {:?}: {} created, {} updated, {} unchanged",
                    env.as_str(),
                    report.created.len(),
                    report.updated.len(),
                    report.unchanged.len()
                );
            }
        }
        Command::Events { .. } => {}
        Command::Status {
            json,
            database_url,
            outboxes,
        } => {
            let services = if outboxes.is_empty() {
                status::default_outboxes(&topology)
            } else {
                outboxes
                    .iter()
                    .map(|a| status::parse_outbox(a))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(anyhow::Error::msg)?
            };
            let report = status::Status {
                environment: env.as_str().to_owned(),
                queues: status::queues(&sqs, &topology, &env).await?,
                outboxes: match database_url {
                    Some(url) => Some(status::outboxes(&url, &services).await),
                    None => None,
                },
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                use std::io::IsTerminal;
                let color =
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
                print!("{}", status::render(&report, color));
            }
        }
        Command::Replay {
            queue,
            since,
            types,
            archive,
        } => {
            let types = if types.is_empty() {
                events::types_of_queue(&topology, &queue).unwrap_or_default()
            } else {
                types
            };
            let filter = events::Filter {
                types,
                since: Some(events::parse_since(&since)?),
                subject: None,
            };
            let pool = archive_pool(&archive).await?;
            let (queue_url, _) = queue_urls(&sqs, &topology, &env, queue.clone()).await?;
            let bar =
                indicatif::ProgressBar::new(events::count(&pool, &filter).await?.max(0) as u64);
            let sent = events::replay(&pool, &sqs, &queue_url, &filter, |n| {
                bar.set_position(n as u64)
            })
            .await?;
            bar.finish_and_clear();
            println!("replayed {sent} event(s) to {}", env.queue_name(&queue));
        }
        Command::Dlq { command } => {
            let queue_url = |key: &str| queue_urls(&sqs, &topology, &env, key.to_owned());
            match command {
                DlqCommand::List => {
                    println!("{:<24} {:>10} {:>10}", "queue", "messages", "dlq");
                    for key in topology.queues.keys() {
                        let (q, d) = queue_url(key).await?;
                        println!(
                            "{key:<24} {:>10} {:>10}",
                            dlq::depth(&sqs, &q).await?,
                            dlq::depth(&sqs, &d).await?
                        );
                    }
                }
                DlqCommand::Peek { queue, max } => {
                    let (_, d) = queue_url(&queue).await?;
                    for letter in dlq::peek(&sqs, &d, max).await? {
                        println!("{}", serde_json::to_string(&letter)?);
                    }
                }
                DlqCommand::Redrive { queue, max } => {
                    let (q, d) = queue_url(&queue).await?;
                    let bar =
                        indicatif::ProgressBar::new(dlq::depth(&sqs, &d).await?.min(max as u64));
                    let moved =
                        dlq::redrive(&sqs, &d, &q, max, |n| bar.set_position(n as u64)).await?;
                    bar.finish_and_clear();
                    println!(
                        "redrove {moved} message(s) from {} to {}",
                        env.dlq_name(&queue),
                        env.queue_name(&queue)
                    );
                }
            }
        }
    }
    Ok(())
}

/// (queue URL, DLQ URL) of a logical queue.
async fn queue_urls(
    sqs: &aws_sdk_sqs::Client,
    topology: &Topology,
    env: &Environment,
    key: String,
) -> anyhow::Result<(String, String)> {
    if !topology.queues.contains_key(&key) {
        bail!(
            "unknown queue {key:?}; the topology has: {:?}",
            topology.queues.keys().collect::<Vec<_>>()
        );
    }
    let mut urls = Vec::with_capacity(2);
    for name in [env.queue_name(&key), env.dlq_name(&key)] {
        let out = sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .with_context(|| format!("queue {name} not found (run yard provision)"))?;
        urls.push(out.queue_url().unwrap_or_default().to_owned());
    }
    let dlq = urls.pop().unwrap_or_default();
    let queue = urls.pop().unwrap_or_default();
    Ok((queue, dlq))
}
