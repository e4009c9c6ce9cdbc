//! Issue #12's measurement: CPU per message of the real `event-archive` worker (runtime + inbox + one archive row)
//! next to a Python boto3 + psycopg reference worker doing the same work (`bench/reference_worker.py`, run from
//! the project venv), in interleaved rounds against the same emulator, queue shape and database.
//!
//! Each round starts the worker as a child process on an empty queue and waits until it is ready (Rust: its
//! `/healthz`; Python: `ready` on stdout), lets its first long poll go out, stops it with SIGSTOP, queues the
//! round's messages (task.completed CloudEvents with `type` and `traceparent` attributes, as SNS raw delivery
//! brings them), reads its CPU time, continues it with SIGCONT and waits until every event is archived and the
//! queue is empty, then reads its CPU time again. So both contenders see full batches from the first receive,
//! and neither start-up (Python's imports, Rust's migrations) nor shutdown is counted.
//!
//! CPU time is the sum over the process's threads of `/proc/<pid>/task/<tid>/schedstat` (nanoseconds on CPU,
//! user and system): `/proc/<pid>/stat` counts in 10 ms ticks, too coarse for a few hundred messages. The same
//! reader for both sides; a thread that exits inside the window would take its time with it, so the set of
//! threads is compared and such a round is flagged.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName, SendMessageBatchRequestEntry};
use nix::{sys::signal::Signal, unistd::Pid};
use serde::Serialize;
use sqlx::PgPool;
use switchyard_core::db::{self, DbSettings};
use switchyard_core::trace::TraceContext;
use switchyard_events::{CloudEvent, tasks::TaskCompleted};
use switchyard_tests::{aws_config_for, database_url, endpoint, free_port, unique};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use uuid::Uuid;

use crate::stats::median;

/// The bar: the Rust worker's CPU per message at most this fraction of the Python reference's.
const BAR: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct Options {
    pub worker_bin: PathBuf,
    pub python: PathBuf,
    pub script: PathBuf,
    pub messages: usize,
    pub rounds: usize,
    pub logs: PathBuf,
}

impl Options {
    /// `event-archive` beside this binary (or `BIN_DIR`), the project venv's Python (or `PYTHON`).
    pub fn from_env(out: &Path, messages: usize, rounds: usize) -> anyhow::Result<Self> {
        let bin_dir = match std::env::var_os("BIN_DIR") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()?
                .parent()
                .context("executable directory")?
                .to_path_buf(),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .context("workspace root")?;
        let python = std::env::var_os("PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join(".venv/bin/python"));
        let opts = Self {
            worker_bin: bin_dir.join("event-archive"),
            python,
            script: root.join("bench/reference_worker.py"),
            messages,
            rounds,
            logs: out.join("worker-cpu-logs"),
        };
        anyhow::ensure!(
            opts.worker_bin.exists(),
            "{} not found: build it with the same profile (`make bench` does)",
            opts.worker_bin.display()
        );
        anyhow::ensure!(
            opts.python.exists(),
            "{} not found: `make deps` creates the venv (or set PYTHON)",
            opts.python.display()
        );
        Ok(opts)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Contender {
    Rust,
    /// One transaction per received batch, the same statements as the Rust inbox.
    Python,
    /// One transaction per message.
    PythonPerMessage,
}

impl Contender {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "event-archive (Rust)",
            Self::Python => "Python boto3 + psycopg, one transaction per batch",
            Self::PythonPerMessage => "Python boto3 + psycopg, one transaction per message",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Side {
    pub name: String,
    /// Median over rounds.
    pub cpu_us_per_message: f64,
    pub messages_per_second: f64,
    pub rounds_cpu_us_per_message: Vec<f64>,
    pub rounds_messages_per_second: Vec<f64>,
    /// Kernel share of the CPU time (median; from 10 ms ticks, so rough).
    pub system_share: f64,
    /// Rounds in which a thread of the worker exited inside the window (its CPU time would be missing).
    pub rounds_with_exited_threads: usize,
}

#[derive(Debug, Serialize)]
pub struct WorkerCpuReport {
    pub generated_at: String,
    pub endpoint: String,
    pub messages_per_round: usize,
    pub rounds: usize,
    pub rust: Side,
    pub python: Side,
    pub python_per_message: Side,
    /// Rust CPU per message / Python's (one transaction per batch): lower is better.
    pub ratio: f64,
    /// Rust / Python with one transaction per message.
    pub ratio_per_message_python: f64,
    /// The bar for `ratio`: at most this.
    pub bar: f64,
}

impl WorkerCpuReport {
    pub fn print(&self) {
        println!(
            "\nworker CPU per message ({} messages x {} rounds, median; runtime + inbox + one archive row)",
            self.messages_per_round, self.rounds
        );
        for s in [&self.rust, &self.python, &self.python_per_message] {
            println!(
                "{:<56} {:>8.1} µs CPU/msg ({:>3.0}% kernel) {:>8.1} msg/s{}",
                s.name,
                s.cpu_us_per_message,
                s.system_share * 100.0,
                s.messages_per_second,
                if s.rounds_with_exited_threads > 0 {
                    format!("  ({} rounds lost a thread)", s.rounds_with_exited_threads)
                } else {
                    String::new()
                }
            );
        }
        let verdict = if self.ratio <= self.bar {
            "ok"
        } else {
            "ABOVE BAR"
        };
        println!(
            "{:<56} {:>8.3}x (bar <= {:.2}x) {verdict}; vs one transaction per message {:.3}x",
            "Rust / Python CPU per message", self.ratio, self.bar, self.ratio_per_message_python
        );
    }
}

/// One contender's rounds.
#[derive(Default)]
struct Samples {
    cpu: Vec<f64>,
    rate: Vec<f64>,
    lost: usize,
    system: Vec<f64>,
}

struct Env {
    id: String,
    sqs: aws_sdk_sqs::Client,
    pool: PgPool,
    schema: String,
}

pub async fn run(opts: &Options) -> anyhow::Result<WorkerCpuReport> {
    std::fs::create_dir_all(&opts.logs)?;
    let env = setup().await.context("worker CPU bench setup")?;
    let contenders = [
        Contender::Rust,
        Contender::Python,
        Contender::PythonPerMessage,
    ];
    let mut results: Vec<Samples> = (0..contenders.len()).map(|_| Samples::default()).collect();
    let outcome = async {
        for round in 1..=opts.rounds {
            for (i, c) in contenders.iter().enumerate() {
                eprintln!("worker cpu: round {round}/{}: {}", opts.rounds, c.name());
                let r = one_round(opts, &env, *c, round).await?;
                let s = &mut results[i];
                s.cpu.push(r.cpu_ns as f64 / 1000.0 / opts.messages as f64);
                s.rate.push(opts.messages as f64 / r.wall.as_secs_f64());
                s.lost += usize::from(r.lost_thread);
                s.system.push(r.system_share);
            }
        }
        anyhow::Ok(())
    }
    .await;
    teardown(&env).await;
    outcome?;

    let side = |c: Contender, s: &Samples| Side {
        name: c.name().into(),
        cpu_us_per_message: median(s.cpu.clone()),
        messages_per_second: median(s.rate.clone()),
        rounds_cpu_us_per_message: s.cpu.clone(),
        rounds_messages_per_second: s.rate.clone(),
        rounds_with_exited_threads: s.lost,
        system_share: median(s.system.clone()),
    };
    let rust = side(Contender::Rust, &results[0]);
    let python = side(Contender::Python, &results[1]);
    let python_per_message = side(Contender::PythonPerMessage, &results[2]);
    let ratio = |b: &Side| {
        if b.cpu_us_per_message > 0.0 {
            rust.cpu_us_per_message / b.cpu_us_per_message
        } else {
            0.0
        }
    };
    Ok(WorkerCpuReport {
        generated_at: chrono::Utc::now().to_rfc3339(),
        endpoint: endpoint(),
        messages_per_round: opts.messages,
        rounds: opts.rounds,
        ratio: ratio(&python),
        ratio_per_message_python: ratio(&python_per_message),
        rust,
        python,
        python_per_message,
        bar: BAR,
    })
}

async fn setup() -> anyhow::Result<Env> {
    let aws = aws_config_for(&endpoint()).await;
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let id = unique();
    let schema = format!("bench_cpu_{id}");
    let settings = DbSettings {
        url: database_url().into(),
        schema: schema.clone(),
        max_connections: 2,
    };
    let pool = db::connect(&settings).await?;
    db::migrate(
        &pool,
        &schema,
        &[&switchyard_consumer::MIGRATOR, &event_archive::MIGRATOR],
    )
    .await?;
    Ok(Env {
        id,
        sqs,
        pool,
        schema,
    })
}

async fn teardown(env: &Env) {
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", env.schema))
        .execute(&env.pool)
        .await;
}

/// A fresh queue per round: a killed worker's pending long poll could otherwise take the next round's first batch.
async fn create_queue(env: &Env, tag: &str, round: usize) -> anyhow::Result<String> {
    Ok(env
        .sqs
        .create_queue()
        .queue_name(format!("bench-cpu-{}-{tag}-{round}", env.id))
        .send()
        .await?
        .queue_url()
        .unwrap_or_default()
        .to_owned())
}

struct RoundResult {
    cpu_ns: u64,
    /// Kernel share of the window's CPU time, from the 10 ms ticks of `/proc/<pid>/stat` (rough).
    system_share: f64,
    wall: Duration,
    lost_thread: bool,
}

async fn one_round(
    opts: &Options,
    env: &Env,
    contender: Contender,
    round: usize,
) -> anyhow::Result<RoundResult> {
    sqlx::query("TRUNCATE inbox, archived_events")
        .execute(&env.pool)
        .await?;
    let tag = match contender {
        Contender::Rust => "rust",
        Contender::Python => "python",
        Contender::PythonPerMessage => "python-per-message",
    };
    let queue_url = create_queue(env, tag, round).await?;
    let result = worker_round(opts, env, contender, &queue_url, tag, round).await;
    let _ = env.sqs.delete_queue().queue_url(&queue_url).send().await;
    result
}

async fn worker_round(
    opts: &Options,
    env: &Env,
    contender: Contender,
    queue_url: &str,
    tag: &str,
    round: usize,
) -> anyhow::Result<RoundResult> {
    let database_url = database_url();
    let health_port = free_port();
    let endpoint = endpoint();
    let mut vars = vec![
        ("QUEUE_URL", queue_url.to_owned()),
        ("DATABASE_URL", database_url),
        ("DATABASE_SCHEMA", env.schema.clone()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("WAIT_TIME_SECONDS", "20".into()),
    ];
    let log = std::fs::File::create(opts.logs.join(format!("{tag}-{round}.log")))?;
    let mut child = match contender {
        Contender::Rust => {
            vars.push(("HEALTH_ADDR", format!("127.0.0.1:{health_port}")));
            // The production default: RUST_LOG unset means `info`, JSON lines on stdout. For profiling,
            // BENCH_WORKER_WRAPPER="valgrind --tool=callgrind ..." runs it under a tool that keeps the pid.
            let wrapper = std::env::var("BENCH_WORKER_WRAPPER").unwrap_or_default();
            let mut argv: Vec<std::ffi::OsString> =
                wrapper.split_whitespace().map(Into::into).collect();
            argv.push(opts.worker_bin.clone().into());
            Command::new(&argv[0])
                .args(&argv[1..])
                .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
                .env_remove("RUST_LOG")
                .env_remove("LOG_FORMAT")
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .context("spawning event-archive")?
        }
        Contender::Python | Contender::PythonPerMessage => {
            let mut cmd = Command::new(&opts.python);
            cmd.arg(&opts.script);
            if contender == Contender::PythonPerMessage {
                cmd.arg("--per-message");
            }
            cmd.envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
                .stdout(Stdio::piped())
                .stderr(Stdio::from(log))
                .kill_on_drop(true)
                .spawn()
                .context("spawning the Python reference worker")?
        }
    };
    let pid = child.id().context("worker pid")?;
    let result = async {
        match contender {
            Contender::Rust => wait_healthy(&mut child, health_port).await?,
            _ => wait_ready_line(&mut child).await?,
        }
        // Let the first long poll reach the emulator, then freeze the worker while the round's messages are queued.
        tokio::time::sleep(Duration::from_millis(300)).await;
        signal(pid, Signal::SIGSTOP)?;
        preload(env, queue_url, opts.messages).await?;
        let (cpu0, tids0) = cpu_ns(pid);
        let ticks0 = user_system_ticks(pid);
        signal(pid, Signal::SIGCONT)?;
        callgrind_dump(contender, pid).await;
        let wall = wait_drained(env, queue_url, opts.messages, &mut child).await?;
        // The deletes of the last batch come after its commit: drained means archived and the queue empty.
        let (cpu1, tids1) = cpu_ns(pid);
        let ticks1 = user_system_ticks(pid);
        callgrind_dump(contender, pid).await;
        let (user, system) = (ticks1.0 - ticks0.0, ticks1.1 - ticks0.1);
        anyhow::Ok(RoundResult {
            cpu_ns: cpu1.saturating_sub(cpu0),
            system_share: if user + system > 0.0 {
                system / (user + system)
            } else {
                0.0
            },
            wall,
            lost_thread: !tids0.is_subset(&tids1),
        })
    }
    .await;
    // Shutdown is not measured; the Rust runtime would wait out its long poll. Under a profiler, SIGTERM lets it
    // write its output.
    let _ = signal(pid, Signal::SIGCONT);
    if std::env::var_os("BENCH_WORKER_WRAPPER").is_some() && contender == Contender::Rust {
        let _ = signal(pid, Signal::SIGTERM);
        let _ = tokio::time::timeout(Duration::from_secs(120), child.wait()).await;
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    result
}

/// Under `BENCH_WORKER_WRAPPER="valgrind --tool=callgrind ..."`: dump the counters at the start and the end of the
/// window, so the second dump holds exactly the messages' work.
async fn callgrind_dump(contender: Contender, pid: u32) {
    if contender == Contender::Rust
        && std::env::var("BENCH_WORKER_WRAPPER").is_ok_and(|w| w.contains("callgrind"))
    {
        let _ = Command::new("callgrind_control")
            .args(["-d", &pid.to_string()])
            .stdout(Stdio::null())
            .status()
            .await;
    }
}

fn signal(pid: u32, signal: Signal) -> anyhow::Result<()> {
    nix::sys::signal::kill(Pid::from_raw(pid as i32), signal)
        .with_context(|| format!("sending {signal} to {pid}"))
}

/// utime and stime of `pid` in ticks (fields 14 and 15 of `/proc/<pid>/stat`, counted after the `)` that ends the
/// command name).
fn user_system_ticks(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(14), tick(15))
}

/// Nanoseconds on CPU summed over the threads of `pid`, and the thread ids seen.
fn cpu_ns(pid: u32) -> (u64, BTreeSet<u32>) {
    let mut total = 0;
    let mut tids = BTreeSet::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return (0, tids);
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let ns = std::fs::read_to_string(entry.path().join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            total += ns;
            tids.insert(tid);
        }
    }
    (total, tids)
}

async fn wait_healthy(child: &mut Child, port: u16) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/healthz");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("event-archive exited during start-up: {status} (see its log)");
        }
        if client
            .get(&url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "event-archive did not become healthy"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_ready_line(child: &mut Child) -> anyhow::Result<()> {
    let stdout = child.stdout.take().context("python stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .context("the Python reference worker did not print `ready` within 60 s")??;
    anyhow::ensure!(
        line.as_deref() == Some("ready"),
        "the Python reference worker printed {line:?} instead of `ready` (see its log)"
    );
    Ok(())
}

/// Waits until `n` events are archived and the queue is empty (deleted, not just invisible); returns the time.
async fn wait_drained(
    env: &Env,
    queue_url: &str,
    n: usize,
    child: &mut Child,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(300);
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the worker exited mid-round: {status} (see its log)");
        }
        let archived: i64 = sqlx::query_scalar("SELECT count(*) FROM archived_events")
            .fetch_one(&env.pool)
            .await?;
        if archived as usize >= n && depth(env, queue_url).await? == 0 {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "worker did not drain the round: {archived}/{n} archived"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn depth(env: &Env, queue_url: &str) -> anyhow::Result<u64> {
    let out = env
        .sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let get = |k: QueueAttributeName| {
        attrs
            .get(&k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
        + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// Queues `n` task.completed events as SNS raw delivery would: CloudEvent body, `type` and `traceparent`.
async fn preload(env: &Env, queue_url: &str, n: usize) -> anyhow::Result<()> {
    let attr = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
    };
    let events: Vec<CloudEvent> = (0..n).map(event).collect::<Result<_, _>>()?;
    for chunk in events.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| {
                anyhow::Ok(
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(e.to_json())
                        .message_attributes("type", attr(&e.event_type)?)
                        .message_attributes(
                            "traceparent",
                            attr(&TraceContext::new_root().to_string())?,
                        )
                        .build()?,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        env.sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}

fn event(i: usize) -> anyhow::Result<CloudEvent> {
    Ok(CloudEvent::new(&TaskCompleted {
        task_id: Uuid::now_v7(),
        owner_id: Uuid::now_v7(),
        owner_email: format!("bench-{i}@example.com"),
        title: format!("bench task {i}"),
    })?)
}
