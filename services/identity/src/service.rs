//! Identity's domain operations, called by the HTTP handlers and by the CLI alike (`create-admin` creates a user
//! exactly as sign-up does). Each change commits with its outbox event in one transaction.

use std::{collections::BTreeSet, time::Duration};

use sqlx::PgPool;
use switchyard_auth::{Permissions, permissions::PermissionCache};
use switchyard_core::trace::TraceContext;
use switchyard_events::{
    CloudEvent,
    identity::{UserPermissionsChanged, UserRegistered},
};
use switchyard_http::ApiError;
use uuid::Uuid;

use crate::{
    domain::{DisplayName, EmailAddress, USERS_ADMIN},
    store::{self, StoreError, UserRow},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("this email is already registered")]
    DuplicateEmail,
    #[error("no such user")]
    NoSuchUser,
    /// `If-Match` named another version.
    #[error("permissions are at version {0}")]
    Stale(i64),
    #[error("this user is the last holder of {USERS_ADMIN}; grant it to another user first")]
    LastAdmin,
    /// Redis could not be told; nothing changed.
    #[error("cannot invalidate the permissions cache: {0}")]
    Cache(redis::RedisError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::DuplicateEmail => Self::DuplicateEmail,
            StoreError::Sql(e) => Self::Database(e),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::DuplicateEmail | Error::LastAdmin => ApiError::Conflict(e.to_string()),
            Error::NoSuchUser => ApiError::NotFound,
            Error::Stale(_) => ApiError::PreconditionFailed(e.to_string()),
            Error::Cache(_) => ApiError::unavailable(e.to_string(), Duration::from_secs(2)),
            Error::Database(e) => e.into(),
            Error::Other(e) => ApiError::Internal(e),
        }
    }
}

/// Inserts a user and its `user.registered` event in one transaction (sign-up, `identity create-admin`).
pub async fn create_user(
    pool: &PgPool,
    email: &EmailAddress,
    name: &DisplayName,
    password_hash: &str,
    permissions: &[String],
    trace: Option<&TraceContext>,
) -> Result<UserRow, Error> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let user = store::insert_user(
        &mut tx,
        id,
        email.as_str(),
        name.as_str(),
        password_hash,
        permissions,
    )
    .await?;
    let event = CloudEvent::new(&UserRegistered {
        user_id: id,
        email: email.to_string(),
        display_name: name.as_str().to_owned(),
    })
    .map_err(anyhow::Error::from)?;
    switchyard_outbox::enqueue(&mut tx, &event, trace)
        .await
        .map_err(anyhow::Error::from)?;
    tx.commit().await?;
    Ok(user)
}

/// How long a failed post-commit cache invalidation keeps being retried in the background.
const INVALIDATE_RETRY_FOR: Duration = Duration::from_secs(120);

/// Replaces a user's permissions with `permissions` (valid names, sorted, deduplicated); returns the version now.
/// Postgres, the outbox event and the Redis entry change together, so the next request in any service sees the
/// new set. `expected`: the version the change is based on (`If-Match`). The same set again changes nothing (same
/// version, no event). The last holder of `users:admin` cannot lose it, however many changes run at once.
pub async fn set_permissions(
    pool: &PgPool,
    cache: &PermissionCache,
    id: Uuid,
    permissions: &[String],
    expected: Option<i64>,
    trace: &TraceContext,
) -> Result<i64, Error> {
    let mut tx = pool.begin().await?;
    // A set without users:admin may take it from its last holder: lock every holder first (see lock_holders), so
    // concurrent changes cannot each leave the other as the "remaining" administrator.
    let keeps_admin = permissions.iter().any(|p| p == USERS_ADMIN);
    let admins = if keeps_admin {
        Vec::new()
    } else {
        store::lock_holders(&mut tx, USERS_ADMIN).await?
    };
    let current = store::lock_permissions(&mut tx, id)
        .await?
        .ok_or(Error::NoSuchUser)?;
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(Error::Stale(current.version));
    }
    let unchanged = current.permissions.iter().collect::<BTreeSet<_>>()
        == permissions.iter().collect::<BTreeSet<_>>();
    if unchanged {
        // Nothing to change: no new version, no event, no cache write.
        tx.commit().await?;
        tracing::info!(version = current.version, "permissions unchanged");
        return Ok(current.version);
    }
    if !keeps_admin && admins.len() == 1 && admins.first() == Some(&id) {
        return Err(Error::LastAdmin);
    }
    let version = store::set_permissions(&mut tx, id, permissions).await?;
    let event = CloudEvent::new(&UserPermissionsChanged {
        user_id: id,
        permissions: permissions.to_vec(),
        version,
    })
    .map_err(anyhow::Error::from)?;
    switchyard_outbox::enqueue(&mut tx, &event, Some(trace))
        .await
        .map_err(anyhow::Error::from)?;
    // Invalidate before commit: if Redis is unreachable, nothing changes (503) rather than leaving a cache entry
    // that would keep granting the old set once Redis answers again.
    cache.delete(id).await.map_err(Error::Cache)?;
    tx.commit().await?;
    // A refill between the delete and the commit stored the old version; the versioned store replaces it (and a
    // late refill carrying the old version cannot replace this one).
    let perms = Permissions {
        version,
        permissions: permissions.to_vec(),
    };
    if let Err(error) = cache.store(id, &perms).await {
        tracing::error!(%error, "cannot write the new permissions to Redis; deleting in the background");
        let cache = cache.clone();
        tokio::spawn(async move {
            let until = tokio::time::Instant::now() + INVALIDATE_RETRY_FOR;
            while tokio::time::Instant::now() < until {
                if cache.delete(id).await.is_ok() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            tracing::error!(user_id = %id, "permissions cache entry may be stale until its TTL expires");
        });
    }
    tracing::info!(version, "permissions changed");
    Ok(version)
}
