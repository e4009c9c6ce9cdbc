use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    yard::cli::main(yard::cli::Cli::parse()).await
}
