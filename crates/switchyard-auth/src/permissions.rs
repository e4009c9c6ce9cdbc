//! Permissions: cached in Redis under `{prefix}perms:{user}`, owned by identity's Postgres.
//!
//! The entry is JSON `{"version": n, "permissions": [...]}` with a TTL (bounding how long any entry can outlive a
//! failed invalidation). Writes are versioned ([`PermissionCache::store`] never replaces a newer version with an
//! older one), so a refill racing with an admin change cannot resurrect revoked permissions.

use std::{sync::Arc, time::Duration};

use futures::future::BoxFuture;
use redis::{AsyncCommands, RedisError, Script};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{client::ServiceTokens, local::LocalPermissions, redis::RedisHandle};

/// A user's permissions at one version (the version increases on every change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permissions {
    pub version: i64,
    pub permissions: Vec<String>,
}

impl Permissions {
    pub fn contains(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

/// The unprefixed Redis key of a user's permissions.
pub fn cache_key(user: Uuid) -> String {
    format!("perms:{user}")
}

/// SET unless the stored entry has a higher version. KEYS[1] key; ARGV: value, version, ttl seconds.
const STORE_IF_NEWER: &str = r#"
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, v = pcall(cjson.decode, cur)
  if ok and type(v) == 'table' and tonumber(v['version']) and tonumber(v['version']) > tonumber(ARGV[2]) then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
return 1
"#;

/// The Redis entries, and this process's copy of them ([`LocalPermissions`]: clones share it).
#[derive(Clone, Debug)]
pub struct PermissionCache {
    redis: RedisHandle,
    ttl: Duration,
    local: Arc<LocalPermissions>,
}

impl PermissionCache {
    pub fn new(redis: RedisHandle, ttl: Duration) -> Self {
        Self {
            redis,
            ttl,
            local: Arc::default(),
        }
    }

    pub fn redis(&self) -> &RedisHandle {
        &self.redis
    }

    /// The in-process copy; empty and unused until [`crate::local::track`] runs for it.
    pub fn local(&self) -> &Arc<LocalPermissions> {
        &self.local
    }

    /// `Ok(None)` on a miss (or an unreadable entry, treated as a miss); `Err` when Redis fails.
    pub async fn get(&self, user: Uuid) -> Result<Option<Permissions>, RedisError> {
        let mut conn = self.redis.conn().await?;
        let raw: Option<String> = conn.get(self.redis.key(&cache_key(user))).await?;
        Ok(raw.and_then(|r| serde_json::from_str(&r).ok()))
    }

    /// Stores `perms` unless Redis holds a newer version. Returns whether it was written. This process's copy is
    /// dropped at once (other processes' through Redis's invalidation).
    pub async fn store(&self, user: Uuid, perms: &Permissions) -> Result<bool, RedisError> {
        self.local.invalidate(user);
        let mut conn = self.redis.conn().await?;
        let value = serde_json::to_string(perms).unwrap_or_default();
        let written: i32 = Script::new(STORE_IF_NEWER)
            .key(self.redis.key(&cache_key(user)))
            .arg(value)
            .arg(perms.version)
            .arg(self.ttl.as_secs().max(1))
            .invoke_async(&mut conn)
            .await?;
        self.local.invalidate(user);
        Ok(written == 1)
    }

    pub async fn delete(&self, user: Uuid) -> Result<(), RedisError> {
        self.local.invalidate(user);
        let mut conn = self.redis.conn().await?;
        let _: i64 = conn.del(self.redis.key(&cache_key(user))).await?;
        self.local.invalidate(user);
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("asking identity for permissions failed: {0}")]
    Remote(#[from] reqwest::Error),
    /// This service's own token (client credentials) could not be had.
    #[error("getting a service token from identity failed: {0}")]
    Token(String),
    #[error("reading permissions failed: {0}")]
    Other(String),
}

/// The source of truth for permissions. It also refills the cache (identity writes Redis; services never do).
/// `Ok(None)`: no such user (the token's subject was deleted) -> 401.
pub trait PermissionSource: Send + Sync + 'static {
    fn permissions(&self, user: Uuid) -> BoxFuture<'_, Result<Option<Permissions>, SourceError>>;
}

/// Identity's internal endpoint `GET {IDENTITY_URL}/internal/v1/users/{id}/permissions`, called with this
/// service's own token (scope `permissions:read`, see [`crate::client`]). When identity refuses the token (401: a
/// retired signing key, a rotated client secret) it is dropped and the call repeated once with a new one.
#[derive(Debug, Clone)]
pub struct RemotePermissions {
    pub base_url: String,
    pub client: reqwest::Client,
    pub tokens: Arc<ServiceTokens>,
}

/// The internal path (identity serves it; it must not be routed publicly).
pub fn internal_path(user: Uuid) -> String {
    format!("/internal/v1/users/{user}/permissions")
}

impl PermissionSource for RemotePermissions {
    fn permissions(&self, user: Uuid) -> BoxFuture<'_, Result<Option<Permissions>, SourceError>> {
        Box::pin(async move {
            let url = format!(
                "{}{}",
                self.base_url.trim_end_matches('/'),
                internal_path(user)
            );
            for attempt in 0..2 {
                let token = self.tokens.token().await?;
                let response = self.client.get(&url).bearer_auth(&token).send().await?;
                match response.status() {
                    reqwest::StatusCode::NOT_FOUND => return Ok(None),
                    reqwest::StatusCode::UNAUTHORIZED if attempt == 0 => {
                        tracing::warn!("identity refused this service's token; fetching a new one");
                        self.tokens.invalidate(&token);
                    }
                    _ => return Ok(Some(response.error_for_status()?.json().await?)),
                }
            }
            Err(SourceError::Token(
                "identity refused a freshly fetched service token".into(),
            ))
        })
    }
}
