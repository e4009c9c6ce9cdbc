//! Login throttling in Redis: failed logins are counted per account and per client address in fixed windows;
//! once a counter reaches its limit, further attempts get 429 with `Retry-After` (the window's remaining time)
//! without touching the password hash. A successful login clears the account's counter.
//!
//! Redis down: logins answer 503 (fail closed) — unthrottled password guessing is worse than a short outage.

use std::{net::IpAddr, time::Duration};

use redis::{AsyncCommands, RedisError};
use switchyard_auth::redis::RedisHandle;

use crate::domain::EmailAddress;

#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    /// `LOGIN_MAX_FAILURES_PER_ACCOUNT` (default 5).
    pub max_per_account: u32,
    /// `LOGIN_MAX_FAILURES_PER_ADDRESS` (default 50).
    pub max_per_address: u32,
    /// `LOGIN_THROTTLE_WINDOW_SECONDS` (default 900).
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            max_per_account: 5,
            max_per_address: 50,
            window: Duration::from_secs(900),
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    redis: RedisHandle,
    settings: ThrottleSettings,
}

impl LoginThrottle {
    pub fn new(redis: RedisHandle, settings: ThrottleSettings) -> Self {
        Self { redis, settings }
    }

    fn keys(&self, email: &EmailAddress, addr: IpAddr) -> (String, String) {
        (
            self.redis.key(&format!("login:fail:acct:{email}")),
            self.redis.key(&format!("login:fail:addr:{addr}")),
        )
    }

    /// `Some(retry_after)` when the account or the address is over its limit.
    pub async fn blocked(
        &self,
        email: &EmailAddress,
        addr: IpAddr,
    ) -> Result<Option<Duration>, RedisError> {
        let (acct, address) = self.keys(email, addr);
        let mut conn = self.redis.conn().await?;
        let (a, b): (Option<u32>, Option<u32>) = redis::pipe()
            .get(&acct)
            .get(&address)
            .query_async(&mut conn)
            .await?;
        let over = if a.unwrap_or(0) >= self.settings.max_per_account {
            Some(acct)
        } else if b.unwrap_or(0) >= self.settings.max_per_address {
            Some(address)
        } else {
            None
        };
        let Some(key) = over else { return Ok(None) };
        let ttl_ms: i64 = conn.pttl(&key).await?;
        Ok(Some(if ttl_ms > 0 {
            Duration::from_millis(ttl_ms as u64)
        } else {
            self.settings.window
        }))
    }

    /// Counts a failed attempt (the window starts with the first failure).
    pub async fn failed(&self, email: &EmailAddress, addr: IpAddr) -> Result<(), RedisError> {
        let (acct, address) = self.keys(email, addr);
        let window = self.settings.window.as_secs().max(1);
        let mut conn = self.redis.conn().await?;
        let _: () = redis::pipe()
            .cmd("SET")
            .arg(&acct)
            .arg(0)
            .arg("EX")
            .arg(window)
            .arg("NX")
            .ignore()
            .incr(&acct, 1)
            .ignore()
            .cmd("SET")
            .arg(&address)
            .arg(0)
            .arg("EX")
            .arg(window)
            .arg("NX")
            .ignore()
            .incr(&address, 1)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    pub async fn succeeded(&self, email: &EmailAddress, addr: IpAddr) -> Result<(), RedisError> {
        let (acct, _) = self.keys(email, addr);
        let mut conn = self.redis.conn().await?;
        let _: i64 = conn.del(acct).await?;
        Ok(())
    }
}
