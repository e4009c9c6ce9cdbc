//! SQL. Every change and its events commit in one transaction (the outbox), so an event exists exactly when its
//! change does.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use switchyard_core::trace::TraceContext;
use switchyard_events::{
    CloudEvent, DomainEvent,
    tasks::{TaskCompleted, TaskCreated, TaskDeleted, TaskUpdated},
};
use switchyard_outbox::{OutboxError, enqueue};
use uuid::Uuid;

use crate::domain::TaskName;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub owner_email: String,
    pub name: String,
    pub done: bool,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such task for this owner (another user's task is "not found", never "forbidden").
    #[error("task not found")]
    NotFound,
    /// `If-Match` named another version.
    #[error("the task is at version {current}")]
    Stale { current: i64 },
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

const COLUMNS: &str = "id, owner_id, owner_email, name, done, version, created_at, updated_at";

async fn emit<E: DomainEvent>(
    conn: &mut PgConnection,
    event: &E,
    trace: &TraceContext,
) -> Result<(), StoreError> {
    let envelope =
        CloudEvent::new(event).map_err(|e| StoreError::Sql(sqlx::Error::Decode(Box::new(e))))?;
    enqueue(conn, &envelope, Some(trace)).await?;
    Ok(())
}

/// One page of the owner's tasks in creation order (ids are UUIDv7), after the cursor.
pub async fn list(
    pool: &PgPool,
    owner: Uuid,
    done: Option<bool>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<TaskRow>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE owner_id = $1 AND ($2::boolean IS NULL OR done = $2) \
         AND ($3::uuid IS NULL OR id > $3) ORDER BY id LIMIT $4"
    ))
    .bind(owner)
    .bind(done)
    .bind(after)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

pub async fn get(pool: &PgPool, owner: Uuid, id: Uuid) -> Result<TaskRow, StoreError> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(pool)
    .await?
    .ok_or(StoreError::NotFound)
}

/// An `Idempotency-Key` and the fingerprint of the request it came with (see `http::request_hash`).
#[derive(Debug, Clone, Copy)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub request_hash: &'a [u8],
}

/// What the first request with a key answered, stored with the key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Recorded {
    /// `None` for keys recorded before fingerprints were stored (they match any request).
    pub request_hash: Option<Vec<u8>>,
    /// The body of the first answer (a 201).
    pub response: serde_json::Value,
}

impl Recorded {
    pub fn matches(&self, request_hash: &[u8]) -> bool {
        self.request_hash
            .as_deref()
            .is_none_or(|h| h == request_hash)
    }
}

/// The outcome of [`create`].
#[derive(Debug)]
pub enum Created {
    /// Created now.
    New(TaskRow),
    /// The key was already used (perhaps concurrently, perhaps long ago): what its first request answered.
    Recorded(Recorded),
}

/// Creates a task (and `task.created`). With an idempotency key, the key, the request's fingerprint and the answer
/// (`response` renders it from the new row) commit with the task; when the key is taken — a concurrent request with
/// it won the race — nothing is created and the recorded answer is returned instead.
pub async fn create(
    pool: &PgPool,
    owner: Uuid,
    owner_email: &str,
    name: &TaskName,
    idempotency: Option<Idempotency<'_>>,
    response: impl FnOnce(&TaskRow) -> serde_json::Value,
    trace: &TraceContext,
) -> Result<Created, StoreError> {
    let mut tx = pool.begin().await?;
    let row: TaskRow = sqlx::query_as(&format!(
        "INSERT INTO tasks (id, owner_id, owner_email, name) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(owner)
    .bind(owner_email)
    .bind(name.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if let Some(idempotency) = idempotency {
        // Blocks while a concurrent transaction holds the same key, then finds it taken.
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (owner_id, key, task_id, request_hash, response) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT DO NOTHING",
        )
        .bind(owner)
        .bind(idempotency.key)
        .bind(row.id)
        .bind(idempotency.request_hash)
        .bind(response(&row))
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return recorded(pool, owner, idempotency.key)
                .await?
                .map(Created::Recorded)
                .ok_or(StoreError::NotFound);
        }
    }
    emit(
        &mut tx,
        &TaskCreated {
            task_id: row.id,
            owner_id: owner,
            owner_email: row.owner_email.clone(),
            title: row.name.clone(),
        },
        trace,
    )
    .await?;
    tx.commit().await?;
    Ok(Created::New(row))
}

/// What the first request with this key answered, if the key was used. Independent of the task's fate since: a
/// key whose task was deleted still answers what it answered then.
pub async fn recorded(
    pool: &PgPool,
    owner: Uuid,
    key: &str,
) -> Result<Option<Recorded>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT request_hash, response FROM idempotency_keys WHERE owner_id = $1 AND key = $2",
    )
    .bind(owner)
    .bind(key)
    .fetch_optional(pool)
    .await?)
}

async fn lock(
    conn: &mut PgConnection,
    owner: Uuid,
    id: Uuid,
    if_match: Option<i64>,
) -> Result<TaskRow, StoreError> {
    let row: TaskRow = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM tasks WHERE id = $1 AND owner_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    match if_match {
        Some(expected) if expected != row.version => Err(StoreError::Stale {
            current: row.version,
        }),
        _ => Ok(row),
    }
}

/// Changes name and/or done (`task.updated`, plus `task.completed` when done turns true). A change that changes
/// nothing returns the task as it is, with no new version and no event.
pub async fn update(
    pool: &PgPool,
    owner: Uuid,
    id: Uuid,
    if_match: Option<i64>,
    name: Option<&TaskName>,
    done: Option<bool>,
    trace: &TraceContext,
) -> Result<TaskRow, StoreError> {
    let mut tx = pool.begin().await?;
    let current = lock(&mut tx, owner, id, if_match).await?;
    let new_name = name
        .map_or(current.name.as_str(), TaskName::as_str)
        .to_owned();
    let new_done = done.unwrap_or(current.done);
    if new_name == current.name && new_done == current.done {
        tx.commit().await?;
        return Ok(current);
    }
    let row: TaskRow = sqlx::query_as(&format!(
        "UPDATE tasks SET name = $2, done = $3, version = version + 1, updated_at = now() WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(&new_name)
    .bind(new_done)
    .fetch_one(&mut *tx)
    .await?;
    emit(
        &mut tx,
        &TaskUpdated {
            task_id: id,
            owner_id: owner,
            title: row.name.clone(),
            done: row.done,
            version: row.version,
        },
        trace,
    )
    .await?;
    if row.done && !current.done {
        emit(
            &mut tx,
            &TaskCompleted {
                task_id: id,
                owner_id: owner,
                owner_email: row.owner_email.clone(),
                title: row.name.clone(),
            },
            trace,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(row)
}

pub async fn delete(
    pool: &PgPool,
    owner: Uuid,
    id: Uuid,
    if_match: Option<i64>,
    trace: &TraceContext,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    lock(&mut tx, owner, id, if_match).await?;
    sqlx::query("DELETE FROM tasks WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    emit(
        &mut tx,
        &TaskDeleted {
            task_id: id,
            owner_id: owner,
        },
        trace,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
