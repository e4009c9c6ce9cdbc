//! The suppression list: search, one address with its history, unsuppress.

use axum::{Router, extract::State, routing::get};
use chrono::{DateTime, Utc};
use serde::Serialize;
use switchyard_auth::AuthUser;
use switchyard_http::{ApiError, Json, Page, Path, problem::Problem};
use switchyard_mail::EmailAddress;
use utoipa::ToSchema;

use super::AppState;
use crate::{
    MAIL_ADMIN,
    query::{self, MAX_SEARCH_CHARS, Params, RawParams, encode_cursor},
    service,
    store::{self, Decision, Removal, SuppressionCursor, SuppressionEntry, SuppressionFilter},
};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/suppressions", get(list))
        .route("/v1/suppressions/{email}", get(detail).delete(remove))
}

const REASONS: &[&str] = &["bounce", "complaint", "soft_bounces", "manual"];

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
        (status = 200, description = "One page", body = Page<SuppressionEntry>),
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
) -> Result<Json<Page<SuppressionEntry>>, ApiError> {
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
    let rows = store::list_suppressions(&state.pool, &filter, after.as_ref(), limit).await?;
    Ok(Json(Page::from_rows(rows, limit, |last| {
        encode_cursor(&format!(
            "{}|{}",
            last.suppressed_at.timestamp_micros(),
            last.address
        ))
    })))
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
    let mut conn = state.pool.acquire().await?;
    let entry = store::find_suppression(&mut conn, &address, false)
        .await?
        .ok_or(ApiError::NotFound)?;
    drop(conn);
    let history = store::decisions(&state.pool, &address).await?;
    let removals = store::removals(&state.pool, &address).await?;
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
    let (entry, removal) =
        service::unsuppress(&state.pool, &state.account, &address, user.user_id).await?;
    Ok(Json(Unsuppressed {
        address: entry.address,
        removal,
    }))
}
