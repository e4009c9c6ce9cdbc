//! `identity`: see `identity::cli` for the subcommands and `identity::config` for the environment.

use switchyard_alloc as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    identity::cli::main().await
}
