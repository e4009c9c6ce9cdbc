//! Wiring: state, the permission source identity itself uses, and [`Application`] (bind first, then run).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::{Router, extract::FromRef};
use futures::future::BoxFuture;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use switchyard_auth::{
    Auth, PermissionSource, Permissions,
    jwks::StaticJwks,
    permissions::{PermissionCache, SourceError},
};
use switchyard_core::db;
use switchyard_outbox::{Relay, RelayConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    config::Settings, keys::SigningKeys, password::Hasher, store, throttle::LoginThrottle,
    tokens::TokenSettings,
};

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub keys: Arc<SigningKeys>,
    pub auth: Auth,
    pub permissions: DbPermissions,
    pub hasher: Hasher,
    /// Immutable user fields for `/v1/users/me` (see [`crate::profiles`]).
    pub profiles: Arc<crate::profiles::ProfileCache>,
    pub throttle: LoginThrottle,
    pub tokens: Arc<TokenSettings>,
    /// Proxies in front that append the client address to `X-Forwarded-For` (see [`crate::http::ClientAddr`]).
    pub trusted_proxy_hops: usize,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

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

/// A built, bound, migrated identity service, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    relay: Relay,
    pool: PgPool,
}

impl Application {
    /// Parses keys, connects and migrates Postgres, binds `HTTP_ADDR` (port 0 works: see [`Self::local_addr`]).
    pub async fn build(settings: Settings, sns: aws_sdk_sns::Client) -> anyhow::Result<Self> {
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
        let state = AppState {
            pool: pool.clone(),
            keys,
            auth,
            permissions,
            hasher,
            profiles: Default::default(),
            throttle: LoginThrottle::new(redis, settings.throttle.clone()),
            tokens: Arc::new(settings.tokens.clone()),
            trusted_proxy_hops: settings.trusted_proxy_hops,
        };
        let router = crate::http::router(state, &settings.http);
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

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Serves and relays the outbox until `shutdown` is cancelled; in-flight requests finish first.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let relay = tokio::spawn(self.relay.run(shutdown.clone()));
        tracing::info!(addr = %self.listener.local_addr()?, "identity listening");
        let served = switchyard_http::serve(
            self.listener,
            self.router,
            shutdown.clone().cancelled_owned(),
        )
        .await;
        // The server stops on shutdown or on an error; the relay must stop either way.
        shutdown.cancel();
        let _ = relay.await;
        self.pool.close().await;
        served.context("HTTP server failed")
    }
}
