//! Daily bounce and complaint counts.

use axum::{Router, extract::State, routing::get};
use serde::Serialize;
use switchyard_auth::AuthUser;
use switchyard_http::{ApiError, Json, problem::Problem};
use utoipa::ToSchema;

use super::AppState;
use crate::{
    MAIL_ADMIN,
    query::{Params, RawParams},
    store::{self, DailyCounts},
};

/// Days when `days` is not given.
pub const DEFAULT_DAYS: i64 = 30;
/// The longest window a client may ask for.
pub const MAX_DAYS: i64 = 366;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/mail-stats", get(daily))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MailStats {
    pub days: Vec<DailyCounts>,
}

/// Bounces and complaints per UTC day (when SES says they happened), one count per recipient, for the last
/// `days` days including today, oldest first; days without feedback are zeros.
#[utoipa::path(
    get,
    path = "/v1/mail-stats",
    tag = "stats",
    security(("bearer" = [])),
    params(("days" = Option<i64>, Query, minimum = 1, maximum = 366, description = "Number of days, 1-366 (default 30)")),
    responses(
        (status = 200, description = "Counts per day", body = MailStats),
        (status = 401, description = "No valid access token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Missing mail:admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid parameters (each named)", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user_id = %user.user_id))]
pub async fn daily(
    user: AuthUser,
    State(state): State<AppState>,
    raw: RawParams,
) -> Result<Json<MailStats>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let mut p = Params::new(raw, &["days"]);
    let days = p.int("days", DEFAULT_DAYS, 1, MAX_DAYS);
    p.finish()?;
    let days = store::daily_counts(&state.pool, days).await?;
    Ok(Json(MailStats { days }))
}
