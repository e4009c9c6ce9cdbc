//! The command line. Without a subcommand (or with `serve`) the service runs.
//!
//! - `mail healthcheck`: GET `/healthz` on `HTTP_ADDR`; exit 0 when healthy (ECS container health check).
//! - `mail openapi`: prints the OpenAPI document (for client generation without a running service).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard_core::{shutdown, telemetry};

use crate::{Application, Settings};

#[derive(Debug, Parser)]
#[command(name = "mail", about = "Switchyard mail admin service")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service (the default).
    Serve,
    /// Probe a running instance's /healthz on HTTP_ADDR.
    Healthcheck,
    /// Print the OpenAPI document.
    Openapi,
}

pub async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            telemetry::init("mail");
            serve().await
        }
        Command::Healthcheck => {
            return switchyard_http::healthcheck(crate::config::DEFAULT_HTTP_ADDR).await;
        }
        Command::Openapi => {
            println!(
                "{}",
                crate::http::openapi().to_pretty_json().unwrap_or_default()
            );
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "mail failed");
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let shutdown = shutdown::on_signal();
    let app = Application::build(settings).await?;
    app.run(shutdown).await
}
