//! SQL of the identity schema (runtime-checked queries; the pool's `search_path` is the service's schema).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};
use switchyard_auth::Permissions;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a user with this email already exists")]
    DuplicateEmail,
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub permissions: Vec<String>,
    pub permissions_version: i64,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_user(
    conn: &mut PgConnection,
    id: Uuid,
    email: &str,
    display_name: &str,
    password_hash: &str,
    permissions: &[String],
) -> Result<UserRow, StoreError> {
    sqlx::query_as(
        "INSERT INTO users (id, email, display_name, password_hash, permissions) VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, email, display_name, permissions, permissions_version, created_at",
    )
    .bind(id)
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(permissions)
    .fetch_one(conn)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::DuplicateEmail,
        _ => StoreError::Sql(e),
    })
}

/// The id, password hash and permissions version of the user with this (normalised) email.
pub async fn login_row(
    pool: &PgPool,
    email: &str,
) -> Result<Option<(Uuid, String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT id, password_hash, permissions_version FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn user(pool: &PgPool, id: Uuid) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, email, display_name, permissions, permissions_version, created_at FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
}

pub async fn permissions(pool: &PgPool, id: Uuid) -> Result<Option<Permissions>, sqlx::Error> {
    let row: Option<(Vec<String>, i64)> =
        sqlx::query_as("SELECT permissions, permissions_version FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(permissions, version)| Permissions {
        version,
        permissions,
    }))
}

/// Locks the user's row and returns the current permissions and their version (`None`: no such user).
pub async fn lock_permissions(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<Permissions>, sqlx::Error> {
    let row: Option<(Vec<String>, i64)> = sqlx::query_as(
        "SELECT permissions, permissions_version FROM users WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(permissions, version)| Permissions {
        version,
        permissions,
    }))
}

/// Locks the rows of every holder of `permission`, in id order, and returns their ids. A change that may take the
/// permission away calls this before locking its target, so such changes serialise (in one lock order: no
/// deadlocks) and each one sees the holders the previous one left.
pub async fn lock_holders(
    conn: &mut PgConnection,
    permission: &str,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM users WHERE $1 = ANY(permissions) ORDER BY id FOR UPDATE")
        .bind(permission)
        .fetch_all(conn)
        .await
}

/// Replaces the permissions, increments the version and returns the new version.
pub async fn set_permissions(
    conn: &mut PgConnection,
    id: Uuid,
    permissions: &[String],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE users SET permissions = $2, permissions_version = permissions_version + 1, updated_at = now() \
         WHERE id = $1 RETURNING permissions_version",
    )
    .bind(id)
    .bind(permissions)
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshRow {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The pair this token was exchanged for, sealed with a key derived from the token (see `tokens`).
    pub successor_sealed: Option<Vec<u8>>,
}

pub async fn insert_refresh(
    conn: &mut PgConnection,
    family_id: Uuid,
    user_id: Uuid,
    token_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(family_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The refresh token with this hash, locked for the rest of the transaction (two concurrent uses serialise).
pub async fn lock_refresh(
    conn: &mut PgConnection,
    token_hash: &[u8],
) -> Result<Option<RefreshRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, family_id, user_id, expires_at, used_at, revoked_at, successor_sealed FROM refresh_tokens \
         WHERE token_hash = $1 FOR UPDATE",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await
}

/// Marks a token used, keeping the sealed pair it was exchanged for.
pub async fn mark_used(
    conn: &mut PgConnection,
    id: Uuid,
    successor_sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE refresh_tokens SET used_at = now(), successor_sealed = $2 WHERE id = $1")
        .bind(id)
        .bind(successor_sealed)
        .execute(conn)
        .await?;
    Ok(())
}

/// Revokes every token of a family (logout, or reuse of a rotated token). Returns how many were live.
pub async fn revoke_family(conn: &mut PgConnection, family_id: Uuid) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .execute(conn)
    .await?
    .rows_affected())
}
