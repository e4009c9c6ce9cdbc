//! A Redis connection that is opened lazily and reconnects by itself.
//!
//! The process starts (and answers 503 where it must) while Redis is down; the first command after Redis is back
//! reconnects. Timeouts are short: a hung Redis must turn into a fast fallback, not a queue of stuck requests.
//!
//! `rediss://` URLs (ElastiCache with transit encryption) use rustls and verify the server against the system
//! roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` override them, e.g. for a Redis with a private CA).

use std::time::Duration;

use redis::{
    RedisError,
    aio::{ConnectionManager, ConnectionManagerConfig},
};
use tokio::sync::OnceCell;

#[derive(Clone)]
pub struct RedisHandle {
    client: redis::Client,
    /// The shared multiplexed connection, created on first use (retried on every use until it succeeds).
    manager: std::sync::Arc<OnceCell<ConnectionManager>>,
    /// Prepended to every key (`REDIS_KEY_PREFIX`), so environments or tests can share one Redis.
    prefix: String,
    timeout: Duration,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisHandle")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// Parses the URL (nothing is connected yet). `timeout` bounds connecting and each command.
    pub fn new(
        url: &str,
        prefix: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, RedisError> {
        install_crypto_provider();
        Ok(Self {
            client: redis::Client::open(url)?,
            manager: Default::default(),
            prefix: prefix.into(),
            timeout,
        })
    }

    /// `prefix + key`.
    pub fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The connect and command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A client for the same server speaking RESP3 (push messages: client-side caching invalidations).
    pub fn resp3_client(&self) -> Result<redis::Client, RedisError> {
        let mut info = self.client.get_connection_info().clone();
        info.redis.protocol = redis::ProtocolVersion::RESP3;
        redis::Client::open(info)
    }

    /// The connection (cheap clone of a multiplexed connection).
    pub async fn conn(&self) -> Result<ConnectionManager, RedisError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1)
            .set_factor(50)
            .set_max_delay(500);
        let client = self.client.clone();
        let manager = tokio::time::timeout(
            self.timeout * 2,
            self.manager
                .get_or_try_init(|| ConnectionManager::new_with_config(client, config)),
        )
        .await
        .map_err(|_| {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connecting to Redis timed out",
            ))
        })??;
        Ok(manager.clone())
    }
}

/// redis builds its rustls configuration from the process-wide crypto provider, which rustls cannot choose by
/// itself when more than one is compiled in (ring, and aws-lc-rs through the AWS SDK): without one, the first
/// `rediss://` connection panics. Installs ring once; a provider installed earlier stays.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
