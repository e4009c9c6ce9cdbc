//! `mail`: see `mail::cli` for the subcommands and `mail::config` for the environment.

use switchyard_alloc as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    mail::cli::main().await
}
