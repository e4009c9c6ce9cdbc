//! Issue #3's benchmark: authenticated `GET /v1/users/me` (EdDSA verification + Redis permissions + one Postgres
//! read) against `GET /healthz` of the same identity process, same run, same load generator, 32 connections, in
//! interleaved rounds (healthz, me, healthz, me, ...) so the shared machine's noise hits both alike. Also the
//! identity process's RSS idle and under load (from /proc, so the load generator's memory is not counted).
//!
//! The identity binary runs as a child process: `IDENTITY_BIN` or `identity` next to this binary (build it with
//! the same profile: `cargo build --profile bench -p identity`). It gets its own schema, Redis key prefix and a
//! freshly provisioned topic; `RUST_LOG=warn` so per-request log lines do not dominate either side.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use switchyard_tests::{World, database_url, endpoint, free_port, unique};

use crate::stats::{median, percentile, proc_status_mib};

#[derive(Debug, Clone)]
pub struct Options {
    pub identity_bin: PathBuf,
    pub connections: usize,
    /// Length of each measured round.
    pub round: Duration,
    /// Rounds per endpoint.
    pub rounds: usize,
    /// Unmeasured load before the first round (JIT-less, but pools, caches and the kernel warm up).
    pub warmup: Duration,
}

impl Options {
    /// `IDENTITY_BIN` (default: `identity` beside the current executable), 32 connections, 3 rounds of 5 s.
    pub fn from_env() -> anyhow::Result<Self> {
        let identity_bin = match std::env::var_os("IDENTITY_BIN") {
            Some(p) => PathBuf::from(p),
            None => std::env::current_exe()?
                .parent()
                .context("executable directory")?
                .join("identity"),
        };
        anyhow::ensure!(
            identity_bin.exists(),
            "{} not found: build it with `cargo build --profile bench -p identity` or set IDENTITY_BIN",
            identity_bin.display()
        );
        Ok(Self {
            identity_bin,
            connections: 32,
            round: Duration::from_secs(5),
            rounds: 3,
            warmup: Duration::from_secs(2),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub path: String,
    /// Median over rounds.
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub rounds_rps: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct IdentityReport {
    pub generated_at: String,
    pub connections: usize,
    pub round_seconds: f64,
    pub rounds: usize,
    pub healthz: Endpoint,
    pub me: Endpoint,
    /// me req/s / healthz req/s (bar: >= 0.8, issue 12).
    pub throughput_ratio: f64,
    pub throughput_bar: f64,
    /// Bar for `/v1/users/me` p99.
    pub p99_bar_ms: f64,
    pub rss_idle_mib: f64,
    pub rss_loaded_mib: f64,
    pub passed: bool,
}

impl IdentityReport {
    pub fn print(&self) {
        println!(
            "\nidentity: {} connections, {} x {:.0} s rounds per endpoint (interleaved)",
            self.connections, self.rounds, self.round_seconds
        );
        println!(
            "{:<24} {:>12} {:>10} {:>10} {:>8}",
            "endpoint", "req/s", "p50 ms", "p99 ms", "errors"
        );
        for e in [&self.healthz, &self.me] {
            println!(
                "{:<24} {:>12.0} {:>10.2} {:>10.2} {:>8}",
                e.path, e.requests_per_second, e.p50_ms, e.p99_ms, e.errors
            );
        }
        let verdict = |ok: bool| if ok { "ok" } else { "BELOW BAR" };
        println!(
            "{:<44} {:>7.2}x  bar {:.2}x  {}",
            "identity /v1/users/me vs /healthz req/s",
            self.throughput_ratio,
            self.throughput_bar,
            verdict(self.throughput_ratio >= self.throughput_bar)
        );
        println!(
            "{:<44} {:>7.2} ms  bar {:.1} ms  {}",
            "identity /v1/users/me p99",
            self.me.p99_ms,
            self.p99_bar_ms,
            verdict(self.me.p99_ms <= self.p99_bar_ms)
        );
        println!(
            "{:<44} {:>7.1} MiB idle, {:.1} MiB under load",
            "identity RSS", self.rss_idle_mib, self.rss_loaded_mib
        );
    }
}

/// One round: `connections` workers issue requests back to back for `duration`.
/// Returns (requests, errors, latencies in ms, unsorted).
async fn round(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    connections: usize,
    duration: Duration,
) -> (u64, u64, Vec<f64>) {
    let until = Instant::now() + duration;
    let mut workers = Vec::new();
    for _ in 0..connections {
        let client = client.clone();
        let url = url.to_owned();
        let token = token.map(str::to_owned);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(8192);
            let mut errors = 0u64;
            while Instant::now() < until {
                let started = Instant::now();
                let mut req = client.get(&url);
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                let ok = match req.send().await {
                    Ok(r) => {
                        let ok = r.status().is_success();
                        ok && r.bytes().await.is_ok()
                    }
                    Err(_) => false,
                };
                if ok {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for w in workers {
        if let Ok((l, e)) = w.await {
            all.extend(l);
            errors += e;
        }
    }
    (all.len() as u64, errors, all)
}

pub async fn run(opts: &Options) -> anyhow::Result<IdentityReport> {
    let world = World::new().await;
    let keys = tokio::process::Command::new(&opts.identity_bin)
        .arg("gen-key")
        .output()
        .await
        .context("identity gen-key")?;
    anyhow::ensure!(keys.status.success(), "identity gen-key failed");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let schema = format!("bench_identity_{}", unique());
    let redis_url =
        std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let mut child = tokio::process::Command::new(&opts.identity_bin)
        .env("HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", database_url())
        .env("DATABASE_SCHEMA", &schema)
        .env("DATABASE_MAX_CONNECTIONS", "16")
        .env("REDIS_URL", &redis_url)
        .env("REDIS_KEY_PREFIX", format!("bench-{}:", unique()))
        .env("TOPIC_ARN", world.topic("identity-events"))
        .env("JWT_SIGNING_KEYS", String::from_utf8(keys.stdout)?.trim())
        .env("JWT_ISSUER", "https://identity.bench.switchyard")
        .env("JWT_AUDIENCE", "switchyard-bench")
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("spawning {}", opts.identity_bin.display()))?;
    let pid = child.id().context("identity pid")?;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .map_or(true, |r| !r.status().is_success())
    {
        anyhow::ensure!(Instant::now() < deadline, "identity did not become healthy");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let email = format!("bench-{}@example.com", unique());
    let password = "benchmark password";
    let signup = client
        .post(format!("{base}/v1/users"))
        .json(&serde_json::json!({"email": email, "password": password, "display_name": "Bench"}))
        .send()
        .await?;
    anyhow::ensure!(signup.status().is_success(), "signup: {}", signup.status());
    let login: serde_json::Value = client
        .post(format!("{base}/v1/sessions"))
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("access_token")?
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = proc_status_mib(pid, "VmRSS:");

    let healthz_url = format!("{base}/healthz");
    let me_url = format!("{base}/v1/users/me");
    round(
        &client,
        &healthz_url,
        None,
        opts.connections,
        opts.warmup / 2,
    )
    .await;
    round(
        &client,
        &me_url,
        Some(&token),
        opts.connections,
        opts.warmup / 2,
    )
    .await;

    // Sample RSS while the rounds run.
    let peak = Arc::new(std::sync::Mutex::new(0.0f64));
    let sampling = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let now = proc_status_mib(pid, "VmRSS:");
                if let Ok(mut p) = peak.lock() {
                    *p = p.max(now);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let (mut h_rps, mut m_rps) = (Vec::new(), Vec::new());
    let (mut h_lat, mut m_lat) = (Vec::new(), Vec::new());
    let (mut h_err, mut m_err) = (0, 0);
    for _ in 0..opts.rounds {
        let (n, e, l) = round(&client, &healthz_url, None, opts.connections, opts.round).await;
        h_rps.push(n as f64 / opts.round.as_secs_f64());
        h_err += e;
        h_lat.extend(l);
        let (n, e, l) = round(&client, &me_url, Some(&token), opts.connections, opts.round).await;
        m_rps.push(n as f64 / opts.round.as_secs_f64());
        m_err += e;
        m_lat.extend(l);
    }
    sampling.abort();
    let rss_loaded = peak.lock().map(|p| *p).unwrap_or_default();
    h_lat.sort_by(f64::total_cmp);
    m_lat.sort_by(f64::total_cmp);

    let endpoint = |path: &str, rps: Vec<f64>, lat: &[f64], errors| Endpoint {
        path: path.to_owned(),
        requests_per_second: median(rps.clone()),
        p50_ms: percentile(lat, 0.50),
        p99_ms: percentile(lat, 0.99),
        errors,
        rounds_rps: rps,
    };
    let healthz = endpoint("GET /healthz", h_rps, &h_lat, h_err);
    let me = endpoint("GET /v1/users/me", m_rps, &m_lat, m_err);
    let throughput_ratio = if healthz.requests_per_second > 0.0 {
        me.requests_per_second / healthz.requests_per_second
    } else {
        0.0
    };

    child.start_kill()?;
    let _ = child.wait().await;
    if let Ok(pool) = sqlx::PgPool::connect(&database_url()).await {
        let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .execute(&pool)
            .await;
    }
    world.finish().await;

    let (throughput_bar, p99_bar_ms) = (0.8, 5.0);
    Ok(IdentityReport {
        generated_at: chrono::Utc::now().to_rfc3339(),
        connections: opts.connections,
        round_seconds: opts.round.as_secs_f64(),
        rounds: opts.rounds,
        passed: throughput_ratio >= throughput_bar && me.p99_ms <= p99_bar_ms && me.errors == 0,
        healthz,
        me,
        throughput_ratio,
        throughput_bar,
        p99_bar_ms,
        rss_idle_mib: rss_idle,
        rss_loaded_mib: rss_loaded,
    })
}
