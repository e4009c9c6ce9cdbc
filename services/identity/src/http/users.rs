//! Users: sign-up, the caller's profile, and (admins) permissions.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::AuthUser;
use switchyard_http::{
    ApiError, FieldError, IfMatch, Json, Path, Trace, precondition::etag, problem::Problem,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::{
    domain::{DisplayName, EmailAddress, Password, Permission, USERS_ADMIN, parse_email},
    profiles::Profile,
    service, store,
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
    let email = parse_email(&req.email).map_err(|m| errors.push(FieldError::new("email", m)));
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
    let hash = state
        .hasher
        .hash(&password)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = service::create_user(&state.pool, &email, &name, &hash, &[], Some(&trace)).await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/v1/users/me")],
        Json(User::from(user)),
    )
        .into_response())
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
                .await?
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
           ("If-Match" = Option<String>, Header, pattern = r#"^((W/)?"[0-9]{1,18}"|\*)$"#, description = "Expected permissions version, quoted (W/ allowed)")),
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
    IfMatch(expected): IfMatch,
    Json(req): Json<PermissionsRequest>,
) -> Result<Response, ApiError> {
    admin.require(USERS_ADMIN)?;
    let permissions = parse_permissions(&req.permissions)?;
    let version = service::set_permissions(
        &state.pool,
        &state.permissions.cache,
        id,
        &permissions,
        expected,
        &trace,
    )
    .await?;
    Ok(permissions_response(id, permissions, version))
}

fn permissions_response(user_id: Uuid, permissions: Vec<String>, version: i64) -> Response {
    (
        [(header::ETAG, etag(version))],
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
