//! Sessions: login (access + refresh token), refresh with rotation and reuse detection, logout.
//!
//! A session is a refresh-token family. Each refresh marks the presented token used and issues a new one in the
//! same family. Presenting a used token again means it was copied: the whole family is revoked, so both the thief
//! and the user must log in again — except within `REFRESH_REUSE_GRACE_SECONDS` (20 s by default) of its rotation:
//! then the answer is the very pair the rotation issued (same access token, same refresh token), so two tabs that
//! refresh at once, or a retry after a lost response, do not log the user out (Auth0's "reuse interval", Okta's
//! "grace period"). The pair is stored sealed with a key derived from the rotated token, so only its holder can
//! open it. After the window, reuse revokes the family as before.

use std::time::Duration;

use axum::{
    Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{delete, post},
};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use switchyard_auth::{AuthUser, Permissions};
use switchyard_http::{ApiError, FieldError, Json, problem::Problem};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{AppState, ClientAddr};
use crate::{
    domain::{EmailAddress, Password},
    store, tokens,
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sessions", post(login))
        .route("/v1/sessions/refresh", post(refresh))
        .route("/v1/sessions/current", delete(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(max_length = 128)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    #[schema(max_length = 256)]
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// EdDSA JWT; send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; single use: `POST /v1/sessions/refresh` returns a new one.
    pub refresh_token: String,
    pub refresh_expires_in: u64,
}

const RETRY_LATER: Duration = Duration::from_secs(2);

fn redis_down(e: redis::RedisError) -> ApiError {
    ApiError::unavailable(format!("login throttle unavailable: {e}"), RETRY_LATER)
}

/// Logs in. One generic 401 for unknown email and wrong password (same cost: unknown users are verified against
/// a dummy hash); 429 with `Retry-After` after too many failures for the account or the client address.
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    request_body = LoginRequest,
    responses(
        (status = 201, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Invalid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed logins; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(client = %addr.0))]
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    Json(req): Json<LoginRequest>,
) -> Result<Response, ApiError> {
    // Malformed input gets the same answer as wrong credentials, except for an obviously missing field.
    let email = EmailAddress::parse(&req.email)
        .map_err(|m| ApiError::Unprocessable(vec![FieldError::new("email", m.to_string())]))?;
    let password = Password::parse(&req.password).ok();
    if let Some(retry_after) = state
        .throttle
        .blocked(&email, addr.0)
        .await
        .map_err(redis_down)?
    {
        tracing::info!("login throttled");
        return Err(ApiError::TooManyRequests(retry_after));
    }
    let row = store::login_row(&state.pool, email.as_str()).await?;
    let verified = match &password {
        Some(p) => state
            .hasher
            .verify(p, row.as_ref().map(|(_, hash, _)| hash.clone()))
            .await
            .map_err(|e| ApiError::Internal(e.into()))?,
        None => false,
    };
    let (user_id, pv) = match (verified, row) {
        (true, Some((id, _, pv))) => (id, pv),
        _ => {
            state
                .throttle
                .failed(&email, addr.0)
                .await
                .map_err(redis_down)?;
            tracing::info!("login failed");
            return Err(ApiError::InvalidCredentials);
        }
    };
    state
        .throttle
        .succeeded(&email, addr.0)
        .await
        .map_err(redis_down)?;
    // Cache the permissions now, so the first call to any service is a Redis hit.
    if let Err(error) = state.permissions.load(user_id).await {
        tracing::warn!(%error, "cannot prime the permissions cache");
    }
    let family = Uuid::now_v7();
    let mut conn = state.pool.acquire().await?;
    let response = issue(&state, &mut conn, user_id, family, pv).await?;
    tracing::info!(%user_id, session = %family, "logged in");
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

async fn issue(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    user: Uuid,
    family: Uuid,
    pv: i64,
) -> Result<TokenResponse, ApiError> {
    let (refresh_token, hash) = tokens::refresh_token();
    let refresh_ttl = state.tokens.refresh_ttl;
    let expires = Utc::now()
        + chrono::Duration::from_std(refresh_ttl).map_err(|e| ApiError::Internal(e.into()))?;
    store::insert_refresh(conn, family, user, &hash, expires).await?;
    let access_token = tokens::access_token(&state.keys, &state.tokens, user, family, pv)
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.as_secs(),
        refresh_token,
        refresh_expires_in: refresh_ttl.as_secs(),
    })
}

/// Exchanges a refresh token for a new access token and a new refresh token (the old one is used up). The same
/// token presented again within the grace window (`REFRESH_REUSE_GRACE_SECONDS`, default 20 s) answers the same
/// pair again, so concurrent refreshes do not end the session; presented later, it revokes the whole session.
#[utoipa::path(
    post,
    path = "/v1/sessions/refresh",
    tag = "sessions",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "New tokens (or, within the grace window after a rotation, the same pair that rotation issued)", body = TokenResponse),
        (status = 401, description = "Unknown, expired, used or revoked refresh token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.refresh_token.len() > 256 {
        return Err(ApiError::InvalidCredentials);
    }
    let hash = tokens::hash_refresh(&req.refresh_token);
    let mut tx = state.pool.begin().await?;
    // Locked until commit: a concurrent refresh with the same token waits here, then finds it used (and replays).
    let Some(row) = store::lock_refresh(&mut tx, &hash).await? else {
        tracing::info!("unknown refresh token");
        return Err(ApiError::InvalidCredentials);
    };
    if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
        tracing::info!(session = %row.family_id, "revoked or expired refresh token");
        return Err(ApiError::InvalidCredentials);
    }
    if let Some(used_at) = row.used_at {
        if let Some(again) = replay(&state, &mut tx, &row, used_at, &req.refresh_token).await? {
            tracing::info!(session = %row.family_id, "rotated refresh token presented again within the grace window; same pair");
            return Ok(Json(again));
        }
        let revoked = store::revoke_family(&mut tx, row.family_id).await?;
        tx.commit().await?;
        tracing::warn!(session = %row.family_id, user_id = %row.user_id, revoked, "refresh token reused; session revoked");
        return Err(ApiError::InvalidCredentials);
    }
    let Some(Permissions { version, .. }) = store::permissions(&state.pool, row.user_id).await?
    else {
        return Err(ApiError::InvalidCredentials);
    };
    let response = issue(&state, &mut tx, row.user_id, row.family_id, version).await?;
    let sealed = tokens::seal_successor(
        &req.refresh_token,
        &tokens::SuccessorPair {
            access_token: response.access_token.clone(),
            refresh_token: response.refresh_token.clone(),
        },
    );
    store::mark_used(&mut tx, row.id, &sealed).await?;
    tx.commit().await?;
    tracing::info!(session = %row.family_id, "tokens refreshed");
    Ok(Json(response))
}

/// The pair a rotation issued, when `row` (used at `used_at`) is presented again within the grace window and that
/// pair's refresh token is still live (a logout or a reuse since then revoked it: no replay).
async fn replay(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    row: &store::RefreshRow,
    used_at: chrono::DateTime<Utc>,
    presented: &str,
) -> Result<Option<TokenResponse>, ApiError> {
    let elapsed = (Utc::now() - used_at).to_std().unwrap_or_default();
    if elapsed > state.tokens.refresh_reuse_grace {
        return Ok(None);
    }
    let Some(pair) = row
        .successor_sealed
        .as_deref()
        .and_then(|sealed| tokens::open_successor(presented, sealed))
    else {
        return Ok(None);
    };
    let successor = store::lock_refresh(conn, &tokens::hash_refresh(&pair.refresh_token)).await?;
    let now = Utc::now();
    let Some(successor) = successor
        .filter(|s| s.family_id == row.family_id && s.revoked_at.is_none() && s.expires_at > now)
    else {
        return Ok(None);
    };
    Ok(Some(TokenResponse {
        access_token: pair.access_token,
        token_type: "Bearer".into(),
        expires_in: state.tokens.access_ttl.saturating_sub(elapsed).as_secs(),
        refresh_token: pair.refresh_token,
        refresh_expires_in: (successor.expires_at - now)
            .to_std()
            .unwrap_or_default()
            .as_secs(),
    }))
}

/// Logs out: revokes the session of the presented access token (its refresh tokens stop working at once; the
/// access token itself expires with its `exp`).
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id, session = %user.session_id))]
pub async fn logout(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    let mut conn = state.pool.acquire().await?;
    store::revoke_family(&mut conn, user.session_id).await?;
    tracing::info!("logged out");
    Ok(StatusCode::NO_CONTENT)
}
