//! The suppression list: search, one address with its history, unsuppress.

use std::time::Duration;

use axum::{Router, extract::State, routing::get};
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchyard_auth::AuthUser;
use switchyard_http::{ApiError, Json, Path, problem::Problem};
use switchyard_mail::EmailAddress;
use utoipa::ToSchema;

use super::internal;
use crate::{
    MAIL_ADMIN,
    app::AppState,
    query::{self, MAX_SEARCH_CHARS, Params, RawParams, encode_cursor},
    store::{self, Decision, Removal, SuppressionCursor, SuppressionEntry, SuppressionFilter},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/suppressions", get(list))
        .route("/v1/suppressions/{email}", get(detail).delete(remove))
}

const REASONS: &[&str] = &["bounce", "complaint", "soft_bounces", "manual"];

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionPage {
    pub items: Vec<SuppressionEntry>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Searches the suppression list, newest first, one page at a time (keyset cursor).
#[utoipa::path(
    get,
    path = "/v1/suppressions",
    tag = "suppressions",
    security(("bearer" = [])),
    params(
        ("address" = Option<String>, Query, max_length = 320, description = "Exact address (normalised: case and display name do not matter)"),
        ("q" = Option<String>, Query, max_length = 254, description = "Case-insensitive substring of the address, e.g. a domain"),
        ("reason" = Option<String>, Query, pattern = "^(bounce|complaint|soft_bounces|manual)$", description = "bounce | complaint | soft_bounces | manual"),
        ("since" = Option<String>, Query, max_length = 40, description = "Suppressed at or after: RFC 3339 timestamp or YYYY-MM-DD (UTC), years 0001-9999"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, 1-200 (default 50)"),
        ("cursor" = Option<String>, Query, max_length = 1024, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "One page", body = SuppressionPage),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing mail:admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters (each named)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn list(
    user: AuthUser,
    State(state): State<AppState>,
    raw: RawParams,
) -> Result<Json<SuppressionPage>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let mut p = Params::new(raw, &["address", "q", "reason", "since", "limit", "cursor"]);
    let filter = SuppressionFilter {
        exact: p.address("address"),
        contains: p.text("q", MAX_SEARCH_CHARS).map(|q| q.to_lowercase()),
        reason: p.choice("reason", REASONS),
        since: p.since("since"),
    };
    let limit = p.limit();
    let after = p.cursor(decode_cursor);
    p.finish()?;
    let mut items = store::list_suppressions(&state.pool, &filter, after.as_ref(), limit)
        .await
        .map_err(internal)?;
    let next_cursor = page_end(&mut items, limit).map(|last| {
        encode_cursor(&format!(
            "{}|{}",
            last.suppressed_at.timestamp_micros(),
            last.address
        ))
    });
    Ok(Json(SuppressionPage { items, next_cursor }))
}

/// Trims the extra row read past the page; returns the page's last item when another page follows.
pub(crate) fn page_end<T>(items: &mut Vec<T>, limit: i64) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}

fn decode_cursor(s: &str) -> Option<SuppressionCursor> {
    let (micros, address) = s.split_once('|')?;
    let at = DateTime::<Utc>::from_timestamp_micros(micros.parse().ok()?)?;
    query::in_range(at).then(|| (at, address.to_owned()))
}

/// The `{email}` path segment as an address (422 naming `email` otherwise; a segment that is not UTF-8 is already a
/// 404 from the extractor).
fn path_address(Path(raw): Path<String>) -> Result<EmailAddress, ApiError> {
    EmailAddress::parse(&raw)
        .map_err(|e| ApiError::field("email", format!("not an email address: {e}")))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionDetail {
    #[serde(flatten)]
    pub entry: SuppressionEntry,
    /// Every bounce and complaint decision about the address, oldest first.
    pub history: Vec<Decision>,
    /// Earlier entries operators removed, oldest first.
    pub removals: Vec<Removal>,
}

/// One suppressed address with the feedback behind it.
#[utoipa::path(
    get,
    path = "/v1/suppressions/{email}",
    tag = "suppressions",
    security(("bearer" = [])),
    params(("email" = String, Path, max_length = 320, description = "The address (URL-encoded)")),
    responses(
        (status = 200, description = "Suppressed", body = SuppressionDetail),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing mail:admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not suppressed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn detail(
    user: AuthUser,
    State(state): State<AppState>,
    path: Path<String>,
) -> Result<Json<SuppressionDetail>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let address = path_address(path)?;
    let mut conn = state.pool.acquire().await.map_err(internal)?;
    let entry = store::find_suppression(&mut conn, &address, false)
        .await
        .map_err(internal)?
        .ok_or(ApiError::NotFound)?;
    drop(conn);
    let history = store::decisions(&state.pool, &address)
        .await
        .map_err(internal)?;
    let removals = store::removals(&state.pool, &address)
        .await
        .map_err(internal)?;
    Ok(Json(SuppressionDetail {
        entry,
        history,
        removals,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Unsuppressed {
    pub address: String,
    #[serde(flatten)]
    pub removal: Removal,
}

/// Unsuppresses an address: the mailer mails it again from its next send. With `SES_ACCOUNT_SUPPRESSION_SYNC`
/// the address is removed from the SES account-level list first; when SES fails the entry stays and the answer
/// is 503 (retry: both steps are idempotent). Who removed it and when is kept (see `removals` in the detail).
#[utoipa::path(
    delete,
    path = "/v1/suppressions/{email}",
    tag = "suppressions",
    security(("bearer" = [])),
    params(("email" = String, Path, max_length = 320, description = "The address (URL-encoded)")),
    responses(
        (status = 200, description = "Removed", body = Unsuppressed),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing mail:admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not suppressed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The SES account list could not be updated; nothing changed", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn remove(
    user: AuthUser,
    State(state): State<AppState>,
    path: Path<String>,
) -> Result<Json<Unsuppressed>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let address = path_address(path)?;
    let mut tx = state.pool.begin().await.map_err(internal)?;
    // Locked until commit: a suppressor decision for this address waits, then re-suppresses if it must.
    let entry = store::find_suppression(&mut tx, &address, true)
        .await
        .map_err(internal)?
        .ok_or(ApiError::NotFound)?;
    if let Some(account) = &state.account {
        account.remove(&address).await.map_err(|error| {
            tracing::warn!(%error, "SES account suppression list not updated; the entry stays");
            ApiError::unavailable(error.to_string(), Duration::from_secs(5))
        })?;
    }
    let removal = store::remove_suppression(&mut tx, &entry, user.user_id, state.account.is_some())
        .await
        .map_err(internal)?;
    tx.commit().await.map_err(internal)?;
    tracing::info!(
        address = %address, reason = %removal.reason, ses = state.account.is_some(),
        "address unsuppressed"
    );
    Ok(Json(Unsuppressed {
        address: entry.address,
        removal,
    }))
}
