//! Users: sign-up, the caller's profile, and (admins) permissions.

use std::{collections::BTreeSet, time::Duration};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::{AuthUser, Permissions};
use switchyard_events::{
    CloudEvent,
    identity::{UserPermissionsChanged, UserRegistered},
};
use switchyard_http::{ApiError, FieldError, Json, Path, Trace, problem::Problem};
use utoipa::ToSchema;
use uuid::Uuid;

use super::internal;
use crate::{
    app::AppState,
    domain::{DisplayName, EmailAddress, Password, Permission, USERS_ADMIN},
    profiles::Profile,
    store::{self, StoreError},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/users", post(signup))
        .route("/v1/users/me", get(me))
        .route("/v1/users/{id}/permissions", put(put_permissions))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// Normalised to lower case; at most 254 characters.
    #[schema(example = "ada@example.com", format = Email, min_length = 3, max_length = 254)]
    pub email: String,
    /// 8-128 characters.
    #[schema(
        example = "correct horse battery staple",
        min_length = 8,
        max_length = 128
    )]
    pub password: String,
    /// 1-100 characters, not only spaces, no control characters.
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub permissions: Vec<String>,
    pub permissions_version: i64,
    pub created_at: DateTime<Utc>,
}

impl From<store::UserRow> for User {
    fn from(row: store::UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            permissions: row.permissions,
            permissions_version: row.permissions_version,
            created_at: row.created_at,
        }
    }
}

/// Parses the sign-up fields, collecting every error.
fn parse_signup(req: &SignupRequest) -> Result<(EmailAddress, Password, DisplayName), ApiError> {
    let mut errors = Vec::new();
    let email =
        EmailAddress::parse(&req.email).map_err(|m| errors.push(FieldError::new("email", m)));
    let password =
        Password::parse(&req.password).map_err(|m| errors.push(FieldError::new("password", m)));
    let name = DisplayName::parse(&req.display_name)
        .map_err(|m| errors.push(FieldError::new("display_name", m)));
    match (email, password, name) {
        (Ok(e), Ok(p), Ok(n)) => Ok((e, p, n)),
        _ => Err(ApiError::Unprocessable(errors)),
    }
}

/// Creates a user (no permissions) and emits `user.registered` in the same transaction.
#[utoipa::path(
    post,
    path = "/v1/users",
    tag = "users",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created", body = User),
        (status = 409, description = "Email already registered", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn signup(
    State(state): State<AppState>,
    Trace(trace): Trace,
    Json(req): Json<SignupRequest>,
) -> Result<Response, ApiError> {
    let (email, password, name) = parse_signup(&req)?;
    let hash = state.hasher.hash(&password).await.map_err(internal)?;
    let user = create_user(&state.pool, &email, &name, &hash, &[], Some(&trace)).await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/v1/users/me")],
        Json(User::from(user)),
    )
        .into_response())
}

/// Inserts a user and its `user.registered` event in one transaction (also used by `identity create-admin`).
pub async fn create_user(
    pool: &sqlx::PgPool,
    email: &EmailAddress,
    name: &DisplayName,
    password_hash: &str,
    permissions: &[String],
    trace: Option<&switchyard_core::trace::TraceContext>,
) -> Result<store::UserRow, ApiError> {
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await.map_err(internal)?;
    let user = store::insert_user(
        &mut tx,
        id,
        email.as_str(),
        name.as_str(),
        password_hash,
        permissions,
    )
    .await
    .map_err(|e| match e {
        StoreError::DuplicateEmail => ApiError::Conflict("this email is already registered".into()),
        other => internal(other),
    })?;
    let event = CloudEvent::new(&UserRegistered {
        user_id: id,
        email: email.to_string(),
        display_name: name.as_str().to_owned(),
    })
    .map_err(internal)?;
    switchyard_outbox::enqueue(&mut tx, &event, trace)
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    Ok(user)
}

/// The caller's profile and current permissions.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = User),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn me(State(state): State<AppState>, user: AuthUser) -> Result<Json<User>, ApiError> {
    let profile = match state.profiles.get(user.user_id) {
        Some(p) => p,
        None => {
            let row = store::user(&state.pool, user.user_id)
                .await
                .map_err(internal)?
                .ok_or(ApiError::Unauthorized)?;
            let profile = Profile {
                id: row.id,
                email: row.email,
                display_name: row.display_name,
                created_at: row.created_at,
            };
            state.profiles.put(profile.clone());
            profile
        }
    };
    // Permissions from the request's AuthUser: current (Redis / Postgres), never from the profile cache.
    Ok(Json(User {
        id: profile.id,
        email: profile.email,
        display_name: profile.display_name,
        permissions: user.permissions.permissions.clone(),
        permissions_version: user.permissions.version,
        created_at: profile.created_at,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    /// The complete new set (replaces the old one), e.g. `["tasks:read", "tasks:write"]`: at most 100 names like
    /// `resource:action` (lower-case letters, digits, `_`, `-`; at most 64 characters).
    #[schema(max_items = 100, example = json!(["tasks:read", "tasks:write"]))]
    pub permissions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionsResponse {
    pub user_id: Uuid,
    pub permissions: Vec<String>,
    pub version: i64,
}

/// How long a failed post-commit cache invalidation keeps being retried in the background.
const INVALIDATE_RETRY_FOR: Duration = Duration::from_secs(120);

/// Replaces a user's permissions (needs `users:admin`). Postgres, the outbox event and the Redis entry change in
/// this request, so the next request in any service sees the new set. `If-Match: "<version>"` makes it
/// conditional (412 when the version moved on). The same set again changes nothing (same version, no event). The
/// last holder of `users:admin` cannot lose it (409), however many administrators change permissions at once.
#[utoipa::path(
    put,
    path = "/v1/users/{id}/permissions",
    tag = "users",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id"),
           ("If-Match" = Option<String>, Header, pattern = r#"^("[0-9]{1,18}"|\*)$"#, description = "Expected permissions version, quoted")),
    request_body = PermissionsRequest,
    responses(
        (status = 200, description = "Updated", body = PermissionsResponse),
        (status = 403, description = "Caller lacks users:admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would remove users:admin from its last holder", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match did not match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid permission names", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Cache unavailable; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(admin = %admin.user_id, user_id = %id))]
pub async fn put_permissions(
    State(state): State<AppState>,
    Trace(trace): Trace,
    admin: AuthUser,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(req): Json<PermissionsRequest>,
) -> Result<Response, ApiError> {
    admin.require(USERS_ADMIN)?;
    let permissions = parse_permissions(&req.permissions)?;
    let expected = if_match(&headers)?;

    let mut tx = state.pool.begin().await.map_err(internal)?;
    // A set without users:admin may take it from its last holder: lock every holder first (see lock_holders), so
    // concurrent changes cannot each leave the other as the "remaining" administrator.
    let keeps_admin = permissions.iter().any(|p| p == USERS_ADMIN);
    let admins = if keeps_admin {
        Vec::new()
    } else {
        store::lock_holders(&mut tx, USERS_ADMIN)
            .await
            .map_err(internal)?
    };
    let current = store::lock_permissions(&mut tx, id)
        .await
        .map_err(internal)?
        .ok_or(ApiError::NotFound)?;
    if let Some(expected) = expected
        && expected != current.version
    {
        return Err(ApiError::PreconditionFailed(format!(
            "permissions are at version {}",
            current.version
        )));
    }
    let unchanged = current.permissions.iter().collect::<BTreeSet<_>>()
        == permissions.iter().collect::<BTreeSet<_>>();
    if unchanged {
        // Nothing to change: no new version, no event, no cache write.
        tx.commit().await.map_err(internal)?;
        tracing::info!(version = current.version, "permissions unchanged");
        return Ok(permissions_response(id, permissions, current.version));
    }
    if !keeps_admin && admins.len() == 1 && admins.first() == Some(&id) {
        return Err(ApiError::Conflict(format!(
            "this user is the last holder of {USERS_ADMIN}; grant it to another user first"
        )));
    }
    let version = store::set_permissions(&mut tx, id, &permissions)
        .await
        .map_err(internal)?;
    let event = CloudEvent::new(&UserPermissionsChanged {
        user_id: id,
        permissions: permissions.clone(),
        version,
    })
    .map_err(internal)?;
    switchyard_outbox::enqueue(&mut tx, &event, Some(&trace))
        .await
        .map_err(internal)?;
    // Invalidate before commit: if Redis is unreachable, nothing changes (503) rather than leaving a cache entry
    // that would keep granting the old set once Redis answers again.
    let cache = &state.permissions.cache;
    cache.delete(id).await.map_err(|e| {
        ApiError::unavailable(
            format!("cannot invalidate the permissions cache: {e}"),
            Duration::from_secs(2),
        )
    })?;
    tx.commit().await.map_err(internal)?;
    // A refill between the delete and the commit stored the old version; the versioned store replaces it (and a
    // late refill carrying the old version cannot replace this one).
    let perms = Permissions {
        version,
        permissions: permissions.clone(),
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
    Ok(permissions_response(id, permissions, version))
}

fn permissions_response(user_id: Uuid, permissions: Vec<String>, version: i64) -> Response {
    (
        [(header::ETAG, format!("\"{version}\""))],
        Json(PermissionsResponse {
            user_id,
            permissions,
            version,
        }),
    )
        .into_response()
}

fn parse_permissions(raw: &[String]) -> Result<Vec<String>, ApiError> {
    if raw.len() > 100 {
        return Err(ApiError::field("permissions", "at most 100 permissions"));
    }
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        match Permission::parse(p) {
            Ok(p) => out.push(p.as_str().to_owned()),
            Err(m) => errors.push(FieldError::new(format!("permissions[{i}]"), m)),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable(errors));
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// `If-Match: "3"` (or `3`, or `W/"3"`) -> Some(3).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| ApiError::BadRequest("If-Match must be a quoted permissions version".into()))
}
