//! Wiring: identity's own permission source and [`build`] (bind first, then run with the outbox relay beside the
//! server; see `switchyard_http::Application`).

use std::sync::Arc;

use anyhow::Context;
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use switchyard_auth::{
    Auth, PermissionSource, Permissions,
    jwks::StaticJwks,
    permissions::{PermissionCache, SourceError},
};
use switchyard_core::db;
use switchyard_http::Application;
use uuid::Uuid;

use crate::{
    config::Settings, http::AppState, keys::SigningKeys, password::Hasher, store,
    throttle::LoginThrottle,
};

/// Permissions from identity's own database, refilling Redis (what the internal endpoint serves to other services,
/// and what identity's own `AuthUser` uses on a cache miss).
#[derive(Clone)]
pub struct DbPermissions {
    pub pool: PgPool,
    pub cache: PermissionCache,
}

impl DbPermissions {
    pub async fn load(&self, user: Uuid) -> Result<Option<Permissions>, sqlx::Error> {
        let perms = store::permissions(&self.pool, user).await?;
        if let Some(p) = &perms
            && let Err(error) = self.cache.store(user, p).await
        {
            // Still answer from Postgres (the truth); the next request tries the cache again.
            tracing::warn!(%error, %user, "cannot refill the permissions cache");
        }
        Ok(perms)
    }
}

impl PermissionSource for DbPermissions {
    fn permissions(&self, user: Uuid) -> BoxFuture<'_, Result<Option<Permissions>, SourceError>> {
        Box::pin(async move {
            self.load(user)
                .await
                .map_err(|e| SourceError::Other(e.to_string()))
        })
    }
}

/// Parses keys, connects and migrates Postgres, binds `HTTP_ADDR` (port 0 works), and attaches the outbox relay.
pub async fn build(settings: Settings, aws: &aws_config::SdkConfig) -> anyhow::Result<Application> {
    let keys = Arc::new(SigningKeys::parse(settings.signing_keys.expose_secret())?);
    let pool = db::connect(&settings.db).await?;
    db::migrate(
        &pool,
        &settings.db.schema,
        &[&switchyard_outbox::MIGRATOR, &crate::MIGRATOR],
    )
    .await?;
    let redis = settings.auth.redis().context("REDIS_URL")?;
    let cache = PermissionCache::new(redis.clone(), settings.auth.permissions_ttl);
    let permissions = DbPermissions {
        pool: pool.clone(),
        cache,
    };
    // One cache for identity's writes and its own requests: a change made here drops the local copy at once.
    let auth = Auth::with_cache(
        &settings.auth,
        Box::new(StaticJwks(keys.jwks().clone())),
        Arc::new(permissions.clone()),
        permissions.cache.clone(),
    );
    let hash_concurrency = settings.hash_concurrency;
    let hasher = tokio::task::spawn_blocking(move || Hasher::new(hash_concurrency)).await??;
    if settings.clients.is_empty() {
        tracing::warn!("SERVICE_CLIENTS is empty: no service can get a token to read permissions");
    }
    let state = AppState {
        pool: pool.clone(),
        keys,
        auth,
        permissions,
        hasher,
        profiles: Default::default(),
        throttle: LoginThrottle::new(redis, settings.throttle.clone()),
        tokens: Arc::new(settings.tokens.clone()),
        clients: Arc::new(settings.clients.clone()),
        trusted_proxy_hops: settings.trusted_proxy_hops,
    };
    let router = crate::http::router(state, &settings.http);
    let relay =
        switchyard_outbox::service_relay(&pool, aws, &settings.topic_arn, &settings.db.schema);
    Ok(Application::bind("identity", &settings.http, router)
        .await?
        .background("outbox relay", move |stop| relay.run(stop))
        .with_pool(pool))
}
