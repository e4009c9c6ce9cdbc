//! The command line every HTTP service shares: `serve` (the default), `healthcheck` (the ECS container health
//! check: GET `/healthz` on `HTTP_ADDR`, exit 0 only on 200) and `openapi` (the document, for client generation
//! without a running service). A service adds its own subcommands next to these:
//!
//! ```ignore
//! #[derive(clap::Subcommand)]
//! enum Command {
//!     #[command(flatten)]
//!     Service(switchyard_http::cli::ServiceCommand),
//!     GenKey,
//! }
//! ```

use std::{future::Future, net::SocketAddr, process::ExitCode};

use clap::{CommandFactory, FromArgMatches};
use switchyard_core::telemetry;

/// The subcommands of every HTTP service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Subcommand)]
pub enum ServiceCommand {
    /// Run the service (the default).
    Serve,
    /// Probe a running instance's /healthz on HTTP_ADDR (exit 0 when healthy).
    Healthcheck,
    /// Print the OpenAPI document.
    Openapi,
}

/// What the shared subcommands need to know about a service.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSpec {
    pub name: &'static str,
    /// `HTTP_ADDR` when unset (also what `healthcheck` probes).
    pub default_addr: SocketAddr,
    pub openapi: fn() -> utoipa::openapi::OpenApi,
}

impl ServiceSpec {
    /// Runs one of the shared subcommands; `serve` builds and runs the service (telemetry initialised first).
    pub async fn run<F, Fut>(&self, command: ServiceCommand, serve: F) -> ExitCode
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<()>>,
    {
        match command {
            ServiceCommand::Serve => {
                telemetry::init(self.name);
                exit(self.name, serve().await)
            }
            ServiceCommand::Healthcheck => crate::healthcheck(self.default_addr).await,
            ServiceCommand::Openapi => match (self.openapi)().to_pretty_json() {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(error) => exit(self.name, Err(error.into())),
            },
        }
    }
}

/// The command line of a service with only the shared subcommands.
#[derive(Debug, clap::Parser)]
struct ServiceCli {
    #[command(subcommand)]
    command: Option<ServiceCommand>,
}

/// The `main` of a service without subcommands of its own (tasks, mail): parses `serve | healthcheck | openapi`
/// (default `serve`) under the service's name and runs it.
pub async fn main<F, Fut>(spec: &ServiceSpec, about: &'static str, serve: F) -> ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let matches = ServiceCli::command()
        .name(spec.name)
        .about(about)
        .get_matches();
    let cli = ServiceCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    spec.run(cli.command.unwrap_or(ServiceCommand::Serve), serve)
        .await
}

/// The exit status of a command: 0, or 1 with the whole error chain logged and printed on stderr.
pub fn exit(name: &str, result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "{name} failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
