//! Issue #6's sizing input: the memory and CPU of every binary, idle and under a bounded load of the whole stack,
//! so the ECS task sizes come from measurements rather than guesses.
//!
//! All six binaries run as child processes (the bench-profile builds next to this binary, or `BIN_DIR`) on one
//! world of their own: unique topics and queues, unique schemas, a unique Redis key prefix. After an idle pause the
//! load is: users sign up and get `tasks:*` granted, each creates and completes tasks over HTTP (32 at a time),
//! an admin pages the mail API, and SES feedback goes to the suppressor's queue. The run ends when the archive
//! holds every task event, the mailer has logged every completion and all three queues are empty.
//!
//! Reported per binary: RSS after start-up and an admin login (idle; split into anonymous and file-backed pages),
//! RSS 3 s after the load (what it keeps), the kernel's high-water mark `VmHWM` at the end (peak, so no
//! sampling can miss it) and CPU seconds (user + system from `/proc/<pid>/stat`) spent during the load.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_tests::{
    World, database_url,
    emulator::emulator,
    endpoint, free_port,
    mail::{mail_database, ses_fixture, ses_identity},
    unique,
};
use tokio::process::{Child, Command};

use crate::stats::proc_status_mib;

#[derive(Debug, Clone)]
pub struct Options {
    pub bin_dir: PathBuf,
    pub users: usize,
    pub tasks_per_user: usize,
    pub feedback_messages: usize,
    pub concurrency: usize,
    pub logs: PathBuf,
}

impl Options {
    /// `BIN_DIR` (default: this executable's directory), 16 users x 25 tasks, 200 feedback messages.
    pub fn from_env(out: &Path) -> anyhow::Result<Self> {
        let bin_dir = match std::env::var_os("BIN_DIR") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()?
                .parent()
                .context("executable directory")?
                .to_path_buf(),
        };
        for name in BINARIES {
            anyhow::ensure!(
                bin_dir.join(name).exists(),
                "{} not found in {}: build the binaries with the same profile (`make bench` does)",
                name,
                bin_dir.display()
            );
        }
        Ok(Self {
            bin_dir,
            users: 16,
            tasks_per_user: 25,
            feedback_messages: 200,
            concurrency: 32,
            logs: out.join("footprint-logs"),
        })
    }
}

const BINARIES: [&str; 6] = [
    "identity",
    "tasks",
    "mail",
    "event-archive",
    "mailer",
    "ses-suppressor",
];

#[derive(Debug, Serialize)]
pub struct Binary {
    pub name: String,
    pub idle_rss_mib: f64,
    /// The idle RSS split: anonymous memory (heap, stacks) and file-backed pages (mostly the binary's own code).
    pub idle_anon_mib: f64,
    pub idle_file_mib: f64,
    /// RSS a few seconds after the load ended: what the process keeps once the work is done.
    pub after_load_rss_mib: f64,
    /// `VmHWM` at the end of the load: the most this process was ever resident.
    pub peak_rss_mib: f64,
    /// User + system CPU seconds spent during the load.
    pub load_cpu_seconds: f64,
    /// `load_cpu_seconds` / load wall time: the share of one vCPU it used (Fargate's 256 units = 0.25).
    pub vcpu_share: f64,
}

#[derive(Debug, Serialize)]
pub struct FootprintReport {
    pub generated_at: String,
    pub users: usize,
    pub tasks: usize,
    pub http_requests: usize,
    pub task_events_archived: i64,
    pub mails_logged: i64,
    pub feedback_messages: usize,
    pub load_seconds: f64,
    pub binaries: Vec<Binary>,
}

impl FootprintReport {
    pub fn print(&self) {
        println!(
            "\nfootprint: {} users, {} tasks created+completed, {} HTTP requests, {} task events archived, {} mails \
             logged, {} feedback messages, in {:.1} s",
            self.users,
            self.tasks,
            self.http_requests,
            self.task_events_archived,
            self.mails_logged,
            self.feedback_messages,
            self.load_seconds
        );
        println!(
            "{:<16} {:>10} {:>16} {:>10} {:>10} {:>10} {:>10}",
            "binary", "idle MiB", "(anon + file)", "peak MiB", "after MiB", "CPU s", "vCPU"
        );
        for b in &self.binaries {
            println!(
                "{:<16} {:>10.1} {:>16} {:>10.1} {:>10.1} {:>10.2} {:>10.2}",
                b.name,
                b.idle_rss_mib,
                format!("({:.1} + {:.1})", b.idle_anon_mib, b.idle_file_mib),
                b.peak_rss_mib,
                b.after_load_rss_mib,
                b.load_cpu_seconds,
                b.vcpu_share
            );
        }
    }
}

/// utime + stime of `pid` in seconds. `/proc` counts in USER_HZ ticks, 100 per second on Linux.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name is in parentheses and may hold spaces: count fields after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ')': state is field 3, utime 14 and stime 15 (1-based over the whole line).
    let ticks = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    match (ticks(14), ticks(15)) {
        (Some(u), Some(s)) => (u + s) / 100.0,
        _ => 0.0,
    }
}

struct Proc {
    name: &'static str,
    child: Child,
    pid: u32,
    health: String,
}

impl Proc {
    fn spawn(
        opts: &Options,
        name: &'static str,
        env: &[(String, String)],
        health_port: u16,
    ) -> anyhow::Result<Self> {
        let log = std::fs::File::create(opts.logs.join(format!("{name}.log")))?;
        let child = Command::new(opts.bin_dir.join(name))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("spawning {name}"))?;
        let pid = child.id().context("pid")?;
        Ok(Self {
            name,
            child,
            pid,
            health: format!("http://127.0.0.1:{health_port}/healthz"),
        })
    }

    async fn healthy(&mut self, client: &reqwest::Client) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!(
                    "{} exited during start-up: {status} (see its log)",
                    self.name
                );
            }
            if client
                .get(&self.health)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "{} did not become healthy",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn json_ok(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{what}: {status} {body}");
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
}

async fn login(
    client: &reqwest::Client,
    identity: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let body = json_ok(
        client
            .post(format!("{identity}/v1/sessions"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await?,
        "login",
    )
    .await?;
    Ok(body["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned())
}

async fn grant(
    client: &reqwest::Client,
    identity: &str,
    admin: &str,
    user: &str,
    permissions: &[&str],
) -> anyhow::Result<()> {
    json_ok(
        client
            .put(format!("{identity}/v1/users/{user}/permissions"))
            .bearer_auth(admin)
            .json(&json!({ "permissions": permissions }))
            .send()
            .await?,
        "grant",
    )
    .await
    .map(drop)
}

/// One user's share of the load: create and complete `n` tasks, listing now and then. Returns requests made.
async fn user_load(
    client: reqwest::Client,
    tasks: String,
    token: String,
    n: usize,
) -> anyhow::Result<usize> {
    let mut requests = 0;
    for i in 0..n {
        // Right after sign-up tasks may not know the user yet (its user.registered is on the way): 503, retry.
        let mut attempts = 0;
        let created = loop {
            let r = client
                .post(format!("{tasks}/v1/tasks"))
                .bearer_auth(&token)
                .json(&json!({"name": format!("footprint task {i}")}))
                .send()
                .await?;
            attempts += 1;
            if r.status() != reqwest::StatusCode::SERVICE_UNAVAILABLE || attempts >= 60 {
                break r;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let task = json_ok(created, "create task").await?;
        let id = task["id"].as_str().context("task id")?;
        let version = task["version"].as_i64().context("task version")?;
        json_ok(
            client
                .patch(format!("{tasks}/v1/tasks/{id}"))
                .bearer_auth(&token)
                .header("If-Match", format!("\"{version}\""))
                .json(&json!({"done": true}))
                .send()
                .await?,
            "complete task",
        )
        .await?;
        requests += 2;
        if i % 5 == 0 {
            json_ok(
                client
                    .get(format!("{tasks}/v1/tasks?limit=50"))
                    .bearer_auth(&token)
                    .send()
                    .await?,
                "list tasks",
            )
            .await?;
            requests += 1;
        }
    }
    Ok(requests)
}

pub async fn run(opts: &Options) -> anyhow::Result<FootprintReport> {
    std::fs::create_dir_all(&opts.logs)?;
    let world = World::new().await;
    let emulator = emulator().await;
    let ses = ses_identity(&world).await;
    emulator.prepare_feedback(&world).await;
    let mail_pool = mail_database(&world, "mail").await;
    let archive_pool = world
        .database(
            "event-archive",
            &[&switchyard_consumer::MIGRATOR, &event_archive::MIGRATOR],
        )
        .await;
    let identity_schema = world.claim_schema("identity");
    let tasks_schema = world.claim_schema("tasks");
    let mail_schema = world.schema_name("mail");
    let archive_schema = world.schema_name("event-archive");

    let keys = Command::new(opts.bin_dir.join("identity"))
        .arg("gen-key")
        .output()
        .await
        .context("identity gen-key")?;
    anyhow::ensure!(keys.status.success(), "identity gen-key failed");
    let keys = String::from_utf8(keys.stdout)?.trim().to_owned();

    // The service accounts tasks and mail read permissions with, made like `make up` makes them.
    let clients = std::env::temp_dir().join(format!("switchyard-footprint-{}", unique()));
    std::fs::create_dir_all(&clients)?;
    for name in ["tasks", "mail"] {
        let made = Command::new(opts.bin_dir.join("identity"))
            .args([
                "create-client",
                "--name",
                name,
                "--scopes",
                "permissions:read",
                "--out",
            ])
            .arg(&clients)
            .output()
            .await
            .context("identity create-client")?;
        anyhow::ensure!(made.status.success(), "identity create-client failed");
    }
    let registry = clients.join("service-clients.json").display().to_string();
    let secret_of = |name: &str| clients.join(format!("{name}.secret")).display().to_string();
    let (tasks_secret, mail_secret) = (secret_of("tasks"), secret_of("mail"));

    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let [
        identity_port,
        tasks_port,
        mail_port,
        archive_port,
        mailer_port,
        suppressor_port,
    ] = ports[..]
    else {
        unreachable!("six ports");
    };
    let identity_url = format!("http://127.0.0.1:{identity_port}");
    let tasks_url = format!("http://127.0.0.1:{tasks_port}");
    let mail_url = format!("http://127.0.0.1:{mail_port}");
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let prefix = format!("bench-{}:", unique());
    let (endpoint, database_url) = (endpoint(), database_url());
    let common = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("DATABASE_URL", database_url.as_str()),
        ("RUST_LOG", "warn"),
    ];
    let auth = [
        ("IDENTITY_URL", identity_url.as_str()),
        ("JWT_ISSUER", "https://identity.footprint.switchyard"),
        ("JWT_AUDIENCE", "switchyard-footprint"),
        ("REDIS_URL", redis_url.as_str()),
        ("REDIS_KEY_PREFIX", prefix.as_str()),
    ];
    let with = |own: &[(&str, &str)], auth_too: bool| {
        let mut all = env(&common);
        if auth_too {
            all.extend(env(&auth));
        }
        all.extend(env(own));
        all
    };
    let addr = |port: u16| format!("127.0.0.1:{port}");
    let (a_identity, a_tasks, a_mail) = (addr(identity_port), addr(tasks_port), addr(mail_port));
    let (a_archive, a_mailer, a_suppressor) =
        (addr(archive_port), addr(mailer_port), addr(suppressor_port));

    let mut procs = vec![Proc::spawn(
        opts,
        "identity",
        &with(
            &[
                ("HTTP_ADDR", &a_identity),
                ("DATABASE_SCHEMA", &identity_schema),
                ("TOPIC_ARN", world.topic("identity-events")),
                ("JWT_SIGNING_KEYS", &keys),
                ("SERVICE_CLIENTS_FILE", &registry),
            ],
            true,
        ),
        identity_port,
    )?];
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Identity first: the others fetch its JWKS.
    procs[0].healthy(&client).await?;
    let worker = |queue: &str, schema: &str, health: &str| {
        vec![
            ("QUEUE_URL".to_owned(), world.queue(queue).to_owned()),
            ("DATABASE_SCHEMA".to_owned(), schema.to_owned()),
            ("HEALTH_ADDR".to_owned(), health.to_owned()),
        ]
    };
    let mut mailer_env = with(&[], false);
    mailer_env.extend(worker("mailer", &mail_schema, &a_mailer));
    mailer_env.extend(env(&[
        ("SES_FROM_ADDRESS", &ses.from),
        ("SES_API", emulator.ses_api().as_str()),
    ]));
    let mut archive_env = with(&[], false);
    archive_env.extend(worker("event-archive", &archive_schema, &a_archive));
    let mut suppressor_env = with(&[], false);
    suppressor_env.extend(worker("ses-suppressor", &mail_schema, &a_suppressor));
    procs.push(Proc::spawn(
        opts,
        "tasks",
        &with(
            &[
                ("HTTP_ADDR", &a_tasks),
                ("DATABASE_SCHEMA", &tasks_schema),
                ("TOPIC_ARN", world.topic("task-events")),
                ("QUEUE_URL", world.queue("tasks")),
                ("IDENTITY_CLIENT_ID", "tasks"),
                ("IDENTITY_CLIENT_SECRET_FILE", &tasks_secret),
            ],
            true,
        ),
        tasks_port,
    )?);
    procs.push(Proc::spawn(
        opts,
        "mail",
        &with(
            &[
                ("HTTP_ADDR", &a_mail),
                ("DATABASE_SCHEMA", &mail_schema),
                ("IDENTITY_CLIENT_ID", "mail"),
                ("IDENTITY_CLIENT_SECRET_FILE", &mail_secret),
            ],
            true,
        ),
        mail_port,
    )?);
    procs.push(Proc::spawn(
        opts,
        "event-archive",
        &archive_env,
        archive_port,
    )?);
    procs.push(Proc::spawn(opts, "mailer", &mailer_env, mailer_port)?);
    procs.push(Proc::spawn(
        opts,
        "ses-suppressor",
        &suppressor_env,
        suppressor_port,
    )?);
    for p in &mut procs {
        p.healthy(&client).await?;
    }

    // An administrator (the CLI, as an operator would) who may also read the mail API.
    let admin_email = format!("admin-{}@example.com", unique());
    let password = "footprint benchmark password";
    let created = Command::new(opts.bin_dir.join("identity"))
        .args(["create-admin", "--email", &admin_email])
        .envs(with(&[("DATABASE_SCHEMA", &identity_schema)], false))
        .env("ADMIN_PASSWORD", password)
        .output()
        .await?;
    anyhow::ensure!(
        created.status.success(),
        "create-admin: {}",
        String::from_utf8_lossy(&created.stderr)
    );
    let admin = login(&client, &identity_url, &admin_email, password).await?;
    let me = json_ok(
        client
            .get(format!("{identity_url}/v1/users/me"))
            .bearer_auth(&admin)
            .send()
            .await?,
        "me",
    )
    .await?;
    let admin_id = me["id"].as_str().context("admin id")?.to_owned();
    grant(
        &client,
        &identity_url,
        &admin,
        &admin_id,
        &["users:admin", "mail:admin"],
    )
    .await?;

    // Idle: every process started, connected and waiting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle: Vec<[f64; 3]> = procs
        .iter()
        .map(|p| {
            [
                proc_status_mib(p.pid, "VmRSS:"),
                proc_status_mib(p.pid, "RssAnon:"),
                proc_status_mib(p.pid, "RssFile:"),
            ]
        })
        .collect();
    // `FOOTPRINT_HOLD_SECS=N`: keep the idle processes for N seconds so their pages can be inspected
    // (`tools/resident-code.py <pid>`: which crates' code is resident).
    if let Some(secs) = std::env::var("FOOTPRINT_HOLD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        for p in &procs {
            eprintln!(
                "footprint: holding {} (pid {}) idle for {secs} s",
                p.name, p.pid
            );
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let cpu_before: Vec<f64> = procs.iter().map(|p| cpu_seconds(p.pid)).collect();
    let started = Instant::now();

    // Users: signup, grant, login.
    let mut tokens = Vec::new();
    for i in 0..opts.users {
        let email = format!("user-{i}-{}@example.com", unique());
        let user = json_ok(
            client
                .post(format!("{identity_url}/v1/users"))
                .json(&json!({"email": email, "password": password, "display_name": format!("User {i}")}))
                .send()
                .await?,
            "signup",
        )
        .await?;
        let id = user["id"].as_str().context("user id")?;
        grant(
            &client,
            &identity_url,
            &admin,
            id,
            &["tasks:read", "tasks:write"],
        )
        .await?;
        tokens.push(login(&client, &identity_url, &email, password).await?);
    }
    let mut requests = opts.users * 3 + 4;

    // SES feedback straight to the suppressor's queue, ten per batch.
    let feedback = Arc::new(ses_fixture("bounce-permanent.json"));
    let queue = world.queue("ses-suppressor").to_owned();
    for chunk in (0..opts.feedback_messages).collect::<Vec<_>>().chunks(10) {
        let entries = chunk
            .iter()
            .map(|i| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(feedback.as_str())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        world
            .sqs
            .send_message_batch()
            .queue_url(&queue)
            .set_entries(Some(entries))
            .send()
            .await?;
    }

    // Tasks: every user at once (users <= concurrency), plus the admin reading the mail API meanwhile.
    let load: Vec<_> = tokens
        .iter()
        .map(|t| {
            tokio::spawn(user_load(
                client.clone(),
                tasks_url.clone(),
                t.clone(),
                opts.tasks_per_user,
            ))
        })
        .collect();
    for page in ["/v1/suppressions", "/v1/messages", "/v1/mail-stats"]
        .iter()
        .cycle()
        .take(30)
    {
        let response = client
            .get(format!("{mail_url}{page}"))
            .bearer_auth(&admin)
            .send()
            .await?;
        json_ok(response, page).await?;
        requests += 1;
    }
    for l in load {
        requests += l.await??;
    }

    // Done when the effects are in: every task event archived, every completion logged by the mailer, and the
    // three queues empty.
    let tasks = opts.users * opts.tasks_per_user;
    let deadline = Instant::now() + Duration::from_secs(300);
    let count = |pool: &sqlx::PgPool, sql: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap_or(0)
        }
    };
    let (archived, mailed) = loop {
        let archived = count(
            &archive_pool,
            "SELECT count(*) FROM archived_events WHERE event_type LIKE 'switchyard.tasks.%'",
        )
        .await;
        let mailed = count(
            &mail_pool,
            "SELECT count(*) FROM outbound_messages WHERE event_type LIKE 'switchyard.tasks.%'",
        )
        .await;
        let mut empty = true;
        for q in ["mailer", "event-archive", "ses-suppressor"] {
            empty &= world.depth(world.queue(q)).await == 0;
        }
        if archived >= 2 * tasks as i64 && mailed >= tasks as i64 && empty {
            break (archived, mailed);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "load did not drain: {archived} task events archived, {mailed} mails logged (want {} and {tasks})",
            2 * tasks
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let load_seconds = started.elapsed().as_secs_f64();
    let cpu_after: Vec<f64> = procs.iter().map(|p| cpu_seconds(p.pid)).collect();
    // Idle again: what each process keeps once the work is done (allocators return memory on their own time).
    tokio::time::sleep(Duration::from_secs(3)).await;

    let binaries = procs
        .iter()
        .zip(idle.iter().zip(cpu_before.iter().zip(&cpu_after)))
        .map(|(p, ([idle, anon, file], (before, after)))| {
            let cpu = after - before;
            Binary {
                name: p.name.to_owned(),
                idle_rss_mib: *idle,
                idle_anon_mib: *anon,
                idle_file_mib: *file,
                after_load_rss_mib: proc_status_mib(p.pid, "VmRSS:"),
                peak_rss_mib: proc_status_mib(p.pid, "VmHWM:"),
                load_cpu_seconds: cpu,
                vcpu_share: cpu / load_seconds,
            }
        })
        .collect();
    for p in &mut procs {
        let _ = p.child.start_kill();
        let _ = p.child.wait().await;
    }
    world.finish().await;
    Ok(FootprintReport {
        generated_at: chrono::Utc::now().to_rfc3339(),
        users: opts.users,
        tasks,
        http_requests: requests,
        task_events_archived: archived,
        mails_logged: mailed,
        feedback_messages: opts.feedback_messages,
        load_seconds,
        binaries,
    })
}
