//! `tasks`: see `tasks::cli` for the subcommands and `tasks::config` for the environment.

use switchyard_alloc as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tasks::cli::main().await
}
