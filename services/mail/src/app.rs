//! Wiring: [`build`] (and [`build_with`] for tests that watch the SES calls): connect and migrate Postgres, bind
//! `HTTP_ADDR` (port 0 works); run by `switchyard_http::Application`.

use std::sync::Arc;

use switchyard_auth::Auth;
use switchyard_core::db;
use switchyard_http::Application;
use switchyard_ses::SesAccountSuppression;

use crate::{
    config::Settings,
    http::{AccountSync, AppState},
};

/// The mail schema's migration list, the one the mailer and the ses-suppressor run too (see switchyard_mail): the
/// consumer runtime's inbox table (kept in switchyard-core, so this binary runs it without depending on the SQS
/// runtime), then every table of the schema.
pub fn migrations() -> [&'static sqlx::migrate::Migrator; 2] {
    [&db::INBOX_MIGRATOR, &switchyard_mail::MIGRATOR]
}

/// Loads the AWS config when the SES sync is on, then [`build_with`].
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let account: AccountSync = if settings.ses_account_sync {
        let aws = switchyard_core::aws::load().await?;
        Some(Arc::new(SesAccountSuppression::from_sdk(&aws)))
    } else {
        None
    };
    build_with(settings, account).await
}

/// As [`build`] with the account list given (tests watch the calls; `settings.ses_account_sync` is ignored).
pub async fn build_with(settings: Settings, account: AccountSync) -> anyhow::Result<Application> {
    let pool = db::connect(&settings.db).await?;
    db::migrate(&pool, &settings.db.schema, &migrations()).await?;
    let auth = Auth::from_config(&settings.auth)?;
    auth.warm().await;
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
    Ok(Application::bind("mail", &settings.http, router)
        .await?
        .with_pool(pool))
}
