//! Result rows and CPU accounting.

use std::time::Duration;

use serde::Serialize;

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
            };
            tv(u.user_time()) + tv(u.system_time())
        }
        Err(_) => Duration::ZERO,
    }
}

/// The `p` quantile (0..=1) of an ascending slice, nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A memory field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`) in MiB; 0 when unreadable (Linux only).
pub fn proc_status_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub name: String,
    pub baseline: String,
    pub unit: String,
    pub value: f64,
    pub baseline_value: f64,
    /// value / baseline_value (for rates: higher is better).
    pub ratio: f64,
    pub bar: Option<f64>,
    pub rounds: Vec<f64>,
    pub baseline_rounds: Vec<f64>,
}

#[derive(Debug, Serialize)]
pub struct Extra {
    pub name: String,
    pub unit: String,
    pub value: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub generated_at: String,
    pub messages_per_round: usize,
    /// Events per round of the outbox relay rows.
    pub relay_events_per_round: usize,
    pub rounds: usize,
    pub endpoint: String,
    pub comparisons: Vec<Row>,
    pub measurements: Vec<Extra>,
}

impl Report {
    pub fn print(&self) {
        println!(
            "\n{:<44} {:>12} {:>12} {:>8} {:>6}  verdict",
            "benchmark", "value", "baseline", "ratio", "bar"
        );
        for r in &self.comparisons {
            let verdict = match r.bar {
                Some(bar) if r.ratio >= bar => "ok",
                Some(_) => "BELOW BAR",
                None => "-",
            };
            println!(
                "{:<44} {:>12.1} {:>12.1} {:>7.2}x {:>6}  {verdict}   ({} vs {}, {})",
                r.name,
                r.value,
                r.baseline_value,
                r.ratio,
                r.bar
                    .map(|b| format!("{b:.2}x"))
                    .unwrap_or_else(|| "-".into()),
                r.unit,
                r.baseline,
                r.unit
            );
        }
        for m in &self.measurements {
            println!("{:<44} {:>12.1} {}", m.name, m.value, m.unit);
        }
    }
}
