//! The command line: `mail [serve]`, `mail healthcheck`, `mail openapi` (see `switchyard_http::cli`).

use std::process::ExitCode;

use switchyard_core::shutdown;
use switchyard_http::cli::ServiceSpec;

/// What the shared subcommands know about mail.
pub const SPEC: ServiceSpec = ServiceSpec {
    name: "mail",
    default_addr: crate::config::DEFAULT_HTTP_ADDR,
    openapi: crate::http::openapi,
};

pub async fn main() -> ExitCode {
    switchyard_http::cli::main(&SPEC, "Switchyard mail admin service", || async {
        let settings = crate::Settings::from_env()?;
        crate::app::build(settings)
            .await?
            .run(shutdown::on_signal())
            .await
    })
    .await
}
