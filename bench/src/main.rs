//! `make bench`: each platform path measured next to the plain AWS SDK loop it replaces, in the same run against
//! the same emulator, in interleaved rounds (A B A B ...) so the shared, noisy machine hits both alike. Prints a
//! table and writes JSON to `<out>/platform.json`, `<out>/identity.json` and
//! `<out>/footprint.json` (every binary's RSS and CPU under a load of the whole stack, for the ECS task sizes) and
//! `<out>/worker-cpu.json` (the event-archive worker's CPU per message against a Python reference worker).
//! Medians of the rounds are reported.

mod footprint;
mod identity;
mod latency;
mod platform;
mod stats;
mod worker_cpu;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Directory for the JSON results.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Messages per round. moto's ReceiveMessage cost grows with the queue's depth (1000 queued: ~11 msg/s for
    /// both contenders; 300: ~70), so larger rounds mostly measure the emulator.
    #[arg(long, default_value_t = 300)]
    messages: usize,
    /// Rounds per contender.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Events timed for the commit -> effect latency.
    #[arg(long, default_value_t = 100)]
    latency_samples: usize,
    /// Run only these parts (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Part>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Part {
    /// Runtime, inbox and relay against plain SDK loops; commit -> archived latency.
    Platform,
    /// `/v1/users/me` against `/healthz`.
    Identity,
    /// Every binary's RSS and CPU under a load of the whole stack.
    Footprint,
    /// CPU per message of the event-archive worker against the Python reference worker.
    Worker,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let runs = |part| args.only.is_empty() || args.only.contains(&part);
    let write = |name: &str, json: String| -> anyhow::Result<()> {
        let path = args.out.join(name);
        std::fs::write(&path, json)?;
        println!("\nwrote {}", path.display());
        Ok(())
    };

    if runs(Part::Platform) {
        let mut report = platform::run(args.messages, args.rounds).await?;
        report
            .measurements
            .extend(latency::run(args.latency_samples).await?);
        report.print();
        write("platform.json", serde_json::to_string_pretty(&report)?)?;
    }
    if runs(Part::Worker) {
        let opts = worker_cpu::Options::from_env(&args.out, args.messages, args.rounds)?;
        let report = worker_cpu::run(&opts).await?;
        report.print();
        write("worker-cpu.json", serde_json::to_string_pretty(&report)?)?;
    }
    if runs(Part::Identity) {
        let identity = identity::run(&identity::Options::from_env()?).await?;
        identity.print();
        write("identity.json", serde_json::to_string_pretty(&identity)?)?;
    }
    if runs(Part::Footprint) {
        let footprint = footprint::run(&footprint::Options::from_env(&args.out)?).await?;
        footprint.print();
        write("footprint.json", serde_json::to_string_pretty(&footprint)?)?;
    }
    Ok(())
}
