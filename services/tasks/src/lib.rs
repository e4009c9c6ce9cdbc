//! The tasks service: each user's tasks, the business domain that shows the platform's whole shape: an HTTP call
//! commits state and its events together (outbox), the relay publishes them to `task-events`, and independent
//! consumers (mailer, event-archive) act on them.
//!
//! - [`config`]: settings from the environment.
//! - [`domain`]: the task name, parsed at the edge.
//! - [`store`]: SQL, one function per statement; every change writes its events in the same transaction.
//! - [`http`]: the routes (`/v1/tasks...`), permissions `tasks:read` / `tasks:write`, ETags and `If-Match`.
//! - [`Application`]: bind first (tests use port 0), then serve and relay until shutdown.

pub mod config;
pub mod domain;
pub mod http;
pub mod store;

use std::{net::SocketAddr, process::ExitCode};

use anyhow::Context;
use axum::Router;
use sqlx::{PgPool, migrate::Migrator};
use switchyard_auth::Auth;
use switchyard_core::{db, shutdown, telemetry};
use switchyard_outbox::{Relay, RelayConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Settings;

/// What `tasks` reads (the deploy contract, `env-contract.json`).
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "tasks",
    read: config::read_env,
};

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A built, bound, migrated tasks service, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    relay: Relay,
    pool: PgPool,
}

impl Application {
    pub async fn build(settings: Settings, sns: aws_sdk_sns::Client) -> anyhow::Result<Self> {
        let pool = db::connect(&settings.db).await?;
        db::migrate(
            &pool,
            &settings.db.schema,
            &[&switchyard_outbox::MIGRATOR, &MIGRATOR],
        )
        .await?;
        let auth = Auth::from_config(&settings.auth)?;
        let state = http::AppState {
            pool: pool.clone(),
            auth,
            identity: http::IdentityClient::new(&settings.auth.identity_url)?,
        };
        let router = http::router(state, &settings.http);
        let relay = Relay::new(
            pool.clone(),
            sns,
            settings.topic_arn.clone(),
            settings.db.schema.clone(),
            RelayConfig::default(),
        );
        let listener = TcpListener::bind(settings.http.addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR={}", settings.http.addr))?;
        Ok(Self {
            listener,
            router,
            relay,
            pool,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        tracing::info!(addr = %self.listener.local_addr()?, "tasks listening");
        let served = switchyard_http::serve(
            self.listener,
            self.router,
            shutdown.clone().cancelled_owned(),
        )
        .await;
        shutdown.cancel();
        let _ = relay.await;
        self.pool.close().await;
        served.context("HTTP server failed")
    }
}

/// The binary: `tasks` serves, `tasks healthcheck` probes, `tasks openapi` prints the OpenAPI document.
pub async fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("healthcheck") => {
            return switchyard_http::healthcheck(config::DEFAULT_HTTP_ADDR).await;
        }
        Some("openapi") => {
            println!(
                "{}",
                serde_json::to_string_pretty(&http::openapi()).unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    telemetry::init("tasks");
    let result = async {
        let settings = Settings::from_env()?;
        let aws = switchyard_core::aws::load().await?;
        let app = Application::build(settings, aws_sdk_sns::Client::new(&aws)).await?;
        app.run(shutdown::on_signal()).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "tasks failed");
            ExitCode::FAILURE
        }
    }
}
