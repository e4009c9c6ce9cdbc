//! `make bench`: each platform path measured next to the plain AWS SDK loop it replaces, in the same run against
//! the same emulator, in interleaved rounds (A B A B ...) so the shared, noisy machine hits both alike. Prints a
//! table and writes JSON to `<out>/platform.json` and `<out>/identity.json`. Medians of the rounds are reported.

mod identity;
mod latency;
mod platform;
mod stats;

use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Parser)]
struct Args {
    /// Directory for the JSON results.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// Messages per round.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Rounds per contender.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Events timed for the commit -> effect latency.
    #[arg(long, default_value_t = 100)]
    latency_samples: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let mut report = platform::run(args.messages, args.rounds).await?;
    report
        .measurements
        .extend(latency::run(args.latency_samples).await?);
    report.print();
    let path = args.out.join("platform.json");
    std::fs::write(&path, serde_json::to_string_pretty(&report)?)?;
    println!("\nwrote {}", path.display());

    let identity = identity::run(&identity::Options::from_env()?).await?;
    identity.print();
    let path = args.out.join("identity.json");
    std::fs::write(&path, serde_json::to_string_pretty(&identity)?)?;
    println!("\nwrote {}", path.display());
    Ok(())
}
