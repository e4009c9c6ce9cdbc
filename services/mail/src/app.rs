//! Wiring: state and [`Application`] (bind first, then run).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use sqlx::PgPool;
use switchyard_auth::Auth;
use switchyard_core::db;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    config::Settings,
    ses::{AccountSync, SesAccountSuppression},
};

/// The consumer runtime's migrations (`switchyard_consumer::MIGRATOR`: the `inbox` table the workers create in the
/// shared schema), embedded from the same files. Not a dependency on switchyard-consumer: that crate's SQS calls
/// would count as this binary's (the IAM check in tests/infra follows dependencies) though it never makes them.
pub static CONSUMER_MIGRATOR: sqlx::migrate::Migrator =
    sqlx::migrate!("../../crates/switchyard-consumer/migrations");

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    /// The SES account-level list unsuppressions are mirrored to (`None`: `SES_ACCOUNT_SUPPRESSION_SYNC` off).
    pub account: AccountSync,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// A built, bound, migrated mail service, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pool: PgPool,
}

impl Application {
    /// Connects and migrates Postgres (the shared `mail` migration set), loads the AWS config when the SES sync is
    /// on, binds `HTTP_ADDR` (port 0 works: see [`Self::local_addr`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let account: AccountSync = if settings.ses_account_sync {
            let aws = switchyard_core::aws::load().await?;
            Some(Arc::new(SesAccountSuppression::from_sdk(&aws)))
        } else {
            None
        };
        Self::build_with(settings, account).await
    }

    /// As [`Self::build`] with the account list given (tests watch the calls; `settings.ses_account_sync` is
    /// ignored).
    pub async fn build_with(settings: Settings, account: AccountSync) -> anyhow::Result<Self> {
        let pool = db::connect(&settings.db).await?;
        // The same list the mailer and the ses-suppressor run (see switchyard_mail): the consumer runtime's inbox
        // table, then every table of the schema.
        db::migrate(
            &pool,
            &settings.db.schema,
            &[&CONSUMER_MIGRATOR, &switchyard_mail::MIGRATOR],
        )
        .await?;
        let auth = Auth::from_config(&settings.auth)?;
        tracing::info!(
            ses_account_sync = account.is_some(),
            "mail service configured"
        );
        let state = AppState {
            pool: pool.clone(),
            auth,
            account,
        };
        let router = crate::http::router(state, &settings.http);
        let listener = TcpListener::bind(settings.http.addr)
            .await
            .with_context(|| format!("binding HTTP_ADDR={}", settings.http.addr))?;
        Ok(Self {
            listener,
            router,
            pool,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves until `shutdown` is cancelled; in-flight requests finish first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.listener.local_addr()?, "mail listening");
        let served =
            switchyard_http::serve(self.listener, self.router, shutdown.cancelled_owned()).await;
        self.pool.close().await;
        served.context("HTTP server failed")
    }
}
