//! `tasks`: runs the service; `tasks healthcheck` probes a running one (ECS health check).

use switchyard_alloc as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tasks::main().await
}
