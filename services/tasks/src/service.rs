//! The tasks domain operations behind the HTTP handlers that are more than one statement: creating a task (the
//! owner from the users projection, an optional idempotency key) and paging. Single changes (`store::update`,
//! `store::delete`, `store::get`) commit with their events in `store`, and map to the same [`Error`].

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use switchyard_core::trace::TraceContext;
use switchyard_http::{ApiError, Page};
use uuid::Uuid;

use crate::{
    domain::TaskName,
    projection,
    store::{self, Created, Recorded, StoreError, TaskRow},
};

/// How long a client waits before retrying a task creation for a user whose registration has not arrived.
pub const UNKNOWN_USER_RETRY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("task not found")]
    NotFound,
    #[error("If-Match does not match the current version \"{0}\"")]
    Stale(i64),
    /// The user's `user.registered` event has not reached this service yet.
    #[error(
        "this account is not known to the tasks service yet (its registration is on the way); retry"
    )]
    UnknownUser,
    #[error(
        "this Idempotency-Key was already used with a different request; use a new key for a new request"
    )]
    KeyReused,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            StoreError::Stale { current } => Self::Stale(current),
            StoreError::Sql(e) => Self::Database(e),
            StoreError::Outbox(e) => Self::Other(e.into()),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound => ApiError::NotFound,
            Error::Stale(_) => ApiError::PreconditionFailed(e.to_string()),
            Error::UnknownUser => ApiError::unavailable(e.to_string(), UNKNOWN_USER_RETRY),
            Error::KeyReused => ApiError::field("Idempotency-Key", e.to_string()),
            Error::Database(e) => e.into(),
            Error::Other(e) => ApiError::Internal(e),
        }
    }
}

/// What a creation answers: the task, and whether it is the first answer replayed (same `Idempotency-Key`).
#[derive(Debug)]
pub enum Creation {
    New(TaskRow),
    /// The body the first request with the key answered (a task as JSON).
    Replayed(serde_json::Value),
}

/// The fingerprint a key is bound to: SHA-256 over the method, the path and the canonical body (the parsed body
/// serialised again: key order and whitespace do not matter, any value does).
pub fn request_hash(method: &str, path: &str, canonical_body: &[u8]) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_body);
    hasher.finalize().to_vec()
}

fn replay(recorded: Recorded, hash: &[u8]) -> Result<Creation, Error> {
    if !recorded.matches(hash) {
        return Err(Error::KeyReused);
    }
    Ok(Creation::Replayed(recorded.response))
}

/// Creates a task for `owner`. With an idempotency key (and the request's fingerprint), the same request again
/// replays the first answer (`render` turns the new row into that answer); another request with the key is
/// [`Error::KeyReused`]. The owner's email comes from the users projection.
pub async fn create(
    pool: &PgPool,
    owner: Uuid,
    name: &TaskName,
    idempotency: Option<(&str, &[u8])>,
    render: impl FnOnce(&TaskRow) -> serde_json::Value,
    trace: &TraceContext,
) -> Result<Creation, Error> {
    if let Some((key, hash)) = idempotency
        && let Some(recorded) = store::recorded(pool, owner, key).await?
    {
        return replay(recorded, hash);
    }
    let email = projection::email(pool, owner)
        .await?
        .ok_or(Error::UnknownUser)?;
    let key = idempotency.map(|(key, request_hash)| store::Idempotency { key, request_hash });
    match store::create(pool, owner, &email, name, key, render, trace).await? {
        Created::New(row) => Ok(Creation::New(row)),
        Created::Recorded(recorded) => replay(recorded, idempotency.map_or(&[][..], |(_, h)| h)),
    }
}

/// One page of the owner's tasks (creation order), after `cursor`.
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    done: Option<bool>,
    cursor: Option<Uuid>,
    limit: i64,
) -> Result<Page<TaskRow>, Error> {
    let rows = store::list(pool, owner, done, cursor, limit + 1).await?;
    Ok(Page::from_rows(rows, limit, |last| last.id.to_string()))
}
