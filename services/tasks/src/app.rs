//! Wiring: [`build`] connects and migrates Postgres, binds `HTTP_ADDR` (port 0 works) and attaches the outbox relay
//! and the users projection's consumer, all run by `switchyard_http::Application`.

use switchyard_auth::Auth;
use switchyard_consumer::{Consumer, Inbox};
use switchyard_core::db;
use switchyard_http::Application;

use crate::{config::Settings, http::AppState, projection::UserProjection};

/// Every migration of the tasks schema: the outbox, the inbox (for the users projection), the service's tables.
pub fn migrations() -> [&'static sqlx::migrate::Migrator; 3] {
    [
        &switchyard_outbox::MIGRATOR,
        &switchyard_consumer::MIGRATOR,
        &crate::MIGRATOR,
    ]
}

pub async fn build(settings: Settings, aws: &aws_config::SdkConfig) -> anyhow::Result<Application> {
    let pool = db::connect(&settings.db).await?;
    db::migrate(&pool, &settings.db.schema, &migrations()).await?;
    let auth = Auth::from_config(&settings.auth)?;
    // The JWKS now: tokens verify from the first request on, also if identity is down by then.
    auth.warm().await;
    let state = AppState {
        pool: pool.clone(),
        auth,
    };
    let router = crate::http::router(state, &settings.http);
    let relay =
        switchyard_outbox::service_relay(&pool, aws, &settings.topic_arn, &settings.db.schema);
    let consumer = Consumer::new(
        switchyard_consumer::Sqs::new(aws).await?,
        settings.consumer.clone(),
        Inbox::new(pool.clone(), UserProjection),
    );
    Ok(Application::bind("tasks", &settings.http, router)
        .await?
        .background("outbox relay", move |stop| relay.run(stop))
        .background("users projection", move |stop| async move {
            let summary = consumer.run(stop).await;
            tracing::info!(?summary, "users projection stopped");
        })
        .with_pool(pool))
}
