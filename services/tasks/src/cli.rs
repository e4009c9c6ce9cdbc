//! The command line: `tasks [serve]`, `tasks healthcheck`, `tasks openapi` (see `switchyard_http::cli`).

use std::process::ExitCode;

use switchyard_core::shutdown;
use switchyard_http::cli::ServiceSpec;

/// What the shared subcommands know about tasks.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "tasks",
    default_addr: crate::config::DEFAULT_HTTP_ADDR,
    openapi: crate::http::openapi,
};

pub async fn main() -> ExitCode {
    switchyard_http::cli::main(&SPEC, "Switchyard tasks service", || async {
        let settings = crate::Settings::from_env()?;
        let aws = switchyard_core::aws::load().await?;
        crate::app::build(settings, &aws)
            .await?
            .run(shutdown::on_signal())
            .await
    })
    .await
}
