//! `identity`: see `identity::cli` for the subcommands and `identity::config` for the environment.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    identity::cli::main().await
}
