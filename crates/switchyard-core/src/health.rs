//! Health for ECS: workers serve `GET /healthz` on `HEALTH_ADDR` (HTTP services serve it on their own router),
//! and every binary's `healthcheck` subcommand probes it, so a distroless image needs no curl.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{Router, http::StatusCode, routing::get};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Answers whether the process is healthy; the consumer runtime implements it from its last successful poll.
pub trait HealthProbe: Send + Sync + 'static {
    fn healthy(&self) -> bool;
}

/// Serves `/healthz` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    probe: Arc<dyn HealthProbe>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route(
        "/healthz",
        get(move || {
            let probe = probe.clone();
            async move {
                if probe.healthy() {
                    (StatusCode::OK, "ok")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
                }
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds `addr` and serves `/healthz` in the background until `shutdown` is cancelled.
pub async fn spawn(
    addr: SocketAddr,
    probe: Arc<dyn HealthProbe>,
    shutdown: CancellationToken,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(error) = serve(listener, probe, shutdown.cancelled_owned()).await {
            tracing::error!(%error, "health server failed");
        }
    });
    Ok(local)
}

/// The `healthcheck` subcommand: GET `http://<addr>/healthz`, exit status 0 only on 200.
pub async fn check(addr: &str) -> std::process::ExitCode {
    let url = format!("http://{addr}/healthz");
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(_) => return std::process::ExitCode::FAILURE,
    };
    match client.get(&url).send().await {
        Ok(resp) if resp.status().is_success() => std::process::ExitCode::SUCCESS,
        _ => std::process::ExitCode::FAILURE,
    }
}
