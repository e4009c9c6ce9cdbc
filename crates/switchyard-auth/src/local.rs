//! An in-process copy of the permission entries in Redis, kept true by Redis's server-assisted client-side caching.
//!
//! Without it every authenticated request pays a Redis round trip (and Redis's own CPU) to read an entry that
//! changes a few times a year. With it, a request is authorised from memory, and revocation still takes effect on
//! the next request:
//!
//! - One dedicated RESP3 connection per process runs `CLIENT TRACKING ON BCAST PREFIX {prefix}perms:`: Redis pushes
//!   an `invalidate` message for every change to any permission key (identity's DEL before its commit, the SET
//!   after it, TTL expiry, eviction, FLUSHALL) to this connection. It queues the message while it executes the
//!   write, so it is on its way before identity has its reply, let alone before identity's HTTP answer reaches a
//!   client that could send the "next request".
//! - An entry is only used while that connection is up. Connecting, losing it (the client library reports the
//!   disconnect; a heartbeat PING every [`HEARTBEAT`] catches a silent one within `HEARTBEAT + REDIS_TIMEOUT_MS`)
//!   and every invalidation clear what could be stale. While it is down every request reads Redis as before.
//! - A read that fills the cache takes a [`Ticket`] first: the entry is kept only if no invalidation arrived
//!   between the ticket and the reply (a change racing the read never leaves the old value behind).
//! - Writes made in this process ([`crate::permissions::PermissionCache::store`] / `delete`, i.e. identity's own)
//!   invalidate the local entry synchronously, so identity's next request never waits for its own push.
//!
//! What it cannot cover: a network partition between this process and Redis while identity still reaches Redis.
//! Redis's invalidation then waits in a TCP buffer until the heartbeat gives up on the connection, so for at most
//! `HEARTBEAT + REDIS_TIMEOUT_MS` (750 ms by default) an entry can outlive its revocation. `PERMISSIONS_LOCAL_CACHE`
//! = `false` turns the cache off (every request reads Redis), e.g. for a Redis-compatible server without
//! `CLIENT TRACKING`; the tracker also leaves the cache off by itself when the server refuses the command.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{AsyncConnectionConfig, PushInfo, PushKind, Value};
use switchyard_core::config::Var;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    permissions::{Permissions, cache_key},
    redis::RedisHandle,
};

pub const PERMISSIONS_LOCAL_CACHE: Var = Var::new(
    "PERMISSIONS_LOCAL_CACHE",
    "keep permissions in process memory, invalidated by Redis client-side caching (CLIENT TRACKING); false reads \
     Redis on every request",
)
.example("true");

/// How often the tracking connection is checked with a PING (a connection that died silently loses invalidations).
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// Most entries kept; past it the cache starts over (a bound on memory, not an eviction policy worth more).
const CAPACITY: usize = 50_000;
/// Between attempts to re-establish tracking.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);
/// `CLIENT SETNAME` of the tracking connection (find it in `CLIENT LIST`).
pub const TRACKING_CLIENT_NAME: &str = "switchyard-permission-tracking";

/// The permissions of recently seen users, valid while Redis tracks this process.
#[derive(Debug, Default)]
pub struct LocalPermissions {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Tracking is established: entries may be used and kept.
    live: bool,
    /// Bumped on every invalidation, connect and disconnect: a [`Ticket`] from before any of them is void.
    generation: u64,
    entries: HashMap<Uuid, Arc<Permissions>>,
}

/// Taken before a read from Redis or the source; the result may be kept only if nothing changed since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl LocalPermissions {
    /// The user's entry, if tracking is live and it holds one.
    pub fn get(&self, user: Uuid) -> Option<Arc<Permissions>> {
        let state = self.state.lock().ok()?;
        if !state.live {
            return None;
        }
        state.entries.get(&user).cloned()
    }

    /// `None` while tracking is down (nothing read now may be kept).
    pub fn ticket(&self) -> Option<Ticket> {
        let state = self.state.lock().ok()?;
        state.live.then_some(Ticket(state.generation))
    }

    /// Keeps `perms` read under `ticket` unless an invalidation (or a reconnect) came in between.
    pub fn keep(&self, ticket: Option<Ticket>, user: Uuid, perms: Arc<Permissions>) {
        let (Some(Ticket(generation)), Ok(mut state)) = (ticket, self.state.lock()) else {
            return;
        };
        if !state.live || state.generation != generation {
            return;
        }
        if state.entries.len() >= CAPACITY {
            state.entries.clear();
        }
        state.entries.insert(user, perms);
    }

    /// Drops the user's entry (a change seen or made by this process).
    pub fn invalidate(&self, user: Uuid) {
        if let Ok(mut state) = self.state.lock() {
            state.generation += 1;
            state.entries.remove(&user);
        }
    }

    /// Drops every entry; `live` says whether new ones may be kept from now on.
    fn reset(&self, live: bool) {
        if let Ok(mut state) = self.state.lock() {
            state.generation += 1;
            state.entries.clear();
            state.live = live;
        }
    }

    pub fn is_live(&self) -> bool {
        self.state.lock().is_ok_and(|s| s.live)
    }

    /// Applies an `invalidate` push: the keys that changed, or nil for "everything" (FLUSHALL, FLUSHDB).
    fn apply(&self, push: &PushInfo, key_prefix: &str) {
        let mut users = Vec::new();
        let mut everything = push.data.is_empty();
        for value in &push.data {
            match value {
                Value::Array(keys) | Value::Set(keys) => {
                    for key in keys {
                        match user_of(key, key_prefix) {
                            Some(user) => users.push(user),
                            // Not a key we could have cached: nothing to drop, but be safe about odd shapes.
                            None if !is_text(key) => everything = true,
                            None => {}
                        }
                    }
                }
                Value::Nil => everything = true,
                _ => everything = true,
            }
        }
        if everything {
            self.reset(true);
        } else {
            for user in users {
                self.invalidate(user);
            }
        }
    }
}

fn is_text(value: &Value) -> bool {
    matches!(value, Value::BulkString(_) | Value::SimpleString(_))
}

/// The user of a full key `{key_prefix}perms:{uuid}`.
fn user_of(key: &Value, key_prefix: &str) -> Option<Uuid> {
    let text = match key {
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?,
        Value::SimpleString(s) => s.as_str(),
        _ => return None,
    };
    let id = text.strip_prefix(key_prefix)?.strip_prefix("perms:")?;
    Uuid::parse_str(id).ok()
}

/// Keeps `local` in step with Redis until `stop`: establishes tracking, applies invalidations, and clears the cache
/// whenever tracking is lost.
pub async fn track(local: Arc<LocalPermissions>, redis: RedisHandle, stop: CancellationToken) {
    let mut refused_logged = false;
    loop {
        match session(&local, &redis, &stop).await {
            Ok(()) => {
                local.reset(false);
                return;
            }
            Err(TrackError::Refused(error)) => {
                if !refused_logged {
                    tracing::warn!(%error, "Redis refused CLIENT TRACKING: permissions are read from Redis on every request");
                    refused_logged = true;
                }
            }
            Err(TrackError::Lost(error)) => {
                tracing::warn!(%error, "permission invalidations from Redis lost; reading Redis until tracking is back");
            }
        }
        local.reset(false);
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
        }
    }
}

#[derive(Debug)]
enum TrackError {
    /// The server does not do client-side caching.
    Refused(redis::RedisError),
    /// The connection failed or was closed.
    Lost(String),
}

/// One tracking connection, until it fails (`Err`) or `stop` (`Ok`).
///
/// Pushes are applied by the connection's own reader, the moment their frame is parsed (no channel, no task to wait
/// for): an invalidation is in effect as soon as this process has read it off the socket.
async fn session(
    local: &Arc<LocalPermissions>,
    redis: &RedisHandle,
    stop: &CancellationToken,
) -> Result<(), TrackError> {
    let lost = Arc::new(Notify::new());
    let on_push = {
        let (local, lost, prefix) = (local.clone(), lost.clone(), redis.prefix().to_owned());
        move |push: PushInfo| -> Result<(), Infallible> {
            match push.kind {
                PushKind::Invalidate => local.apply(&push, &prefix),
                PushKind::Disconnection => {
                    local.reset(false);
                    lost.notify_one();
                }
                _ => {}
            }
            Ok(())
        }
    };
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(redis.timeout())
        .set_response_timeout(redis.timeout())
        .set_push_sender(on_push);
    let lost_at = |e: redis::RedisError| TrackError::Lost(e.to_string());
    let mut conn = redis
        .resp3_client()
        .map_err(lost_at)?
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(lost_at)?;
    let prefix = redis.key(&cache_key_prefix());
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg(TRACKING_CLIENT_NAME)
        .query_async(&mut conn)
        .await
        .map_err(lost_at)?;
    let _: () = redis::cmd("CLIENT")
        .arg(&["TRACKING", "ON", "BCAST", "PREFIX"])
        .arg(&prefix)
        .query_async(&mut conn)
        .await
        .map_err(|e| match e.kind() {
            redis::ErrorKind::IoError => TrackError::Lost(e.to_string()),
            _ => TrackError::Refused(e),
        })?;
    local.reset(true);
    tracing::info!(%prefix, "permission cache tracking Redis invalidations");
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = lost.notified() => return Err(TrackError::Lost("connection closed".into())),
            _ = heartbeat.tick() => {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                if let Err(error) = pong {
                    return Err(TrackError::Lost(format!("heartbeat failed: {error}")));
                }
            }
        }
    }
}

/// The unprefixed start of every permission key (`perms:`).
fn cache_key_prefix() -> String {
    let key = cache_key(Uuid::nil());
    key.trim_end_matches(&Uuid::nil().to_string()).to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn perms(version: i64) -> Arc<Permissions> {
        Arc::new(Permissions {
            version,
            permissions: vec!["tasks:read".into()],
        })
    }

    fn push(keys: Option<Vec<&str>>) -> PushInfo {
        PushInfo {
            kind: PushKind::Invalidate,
            data: vec![match keys {
                Some(keys) => Value::Array(
                    keys.into_iter()
                        .map(|k| Value::BulkString(k.as_bytes().to_vec()))
                        .collect(),
                ),
                None => Value::Nil,
            }],
        }
    }

    #[test]
    fn entries_are_used_and_kept_only_while_tracking_is_live() {
        let local = LocalPermissions::default();
        let user = Uuid::now_v7();
        assert_eq!(local.ticket(), None);
        local.keep(local.ticket(), user, perms(1));
        assert!(local.get(user).is_none());
        local.reset(true);
        local.keep(local.ticket(), user, perms(1));
        assert_eq!(local.get(user).unwrap().version, 1);
        local.reset(false);
        assert!(local.get(user).is_none());
        local.reset(true);
        assert!(local.get(user).is_none(), "a reconnect starts empty");
    }

    #[test]
    fn a_read_racing_an_invalidation_is_not_kept() {
        let local = LocalPermissions::default();
        local.reset(true);
        let (user, other) = (Uuid::now_v7(), Uuid::now_v7());
        let ticket = local.ticket();
        local.apply(&push(Some(vec![&format!("env:perms:{other}")])), "env:");
        local.keep(ticket, user, perms(1));
        assert!(local.get(user).is_none());
        local.keep(local.ticket(), user, perms(2));
        assert_eq!(local.get(user).unwrap().version, 2);
    }

    #[test]
    fn invalidations_drop_their_users_and_nil_drops_everything() {
        let local = LocalPermissions::default();
        local.reset(true);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        local.keep(local.ticket(), a, perms(1));
        local.keep(local.ticket(), b, perms(1));
        local.apply(&push(Some(vec![&format!("env:perms:{a}")])), "env:");
        assert!(local.get(a).is_none());
        assert!(local.get(b).is_some());
        // Another environment's key with the same user: not ours, nothing dropped.
        local.apply(&push(Some(vec![&format!("other:perms:{b}")])), "env:");
        assert!(local.get(b).is_some());
        local.apply(&push(None), "env:");
        assert!(local.get(b).is_none());
        assert!(local.is_live());
    }

    #[test]
    fn the_tracked_prefix_is_the_permission_keys() {
        assert_eq!(cache_key_prefix(), "perms:");
    }
}
