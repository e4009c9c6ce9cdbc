//! The mailer's outbound log.

use axum::{Router, extract::State, routing::get};
use switchyard_auth::AuthUser;
use switchyard_http::{ApiError, Json, Page, problem::Problem};

use super::AppState;
use crate::{
    MAIL_ADMIN,
    query::{Params, RawParams, encode_cursor},
    store::{self, OutboundMessage, STATUSES},
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/messages", get(list))
}

/// The outbound log (one row per event and recipient, with its send status), newest first.
#[utoipa::path(
    get,
    path = "/v1/messages",
    tag = "messages",
    security(("bearer" = [])),
    params(
        ("recipient" = Option<String>, Query, max_length = 320, description = "Only mail to this address (normalised)"),
        ("status" = Option<String>, Query, pattern = "^(pending|sending|sent|skipped|failed|unknown)$", description = "pending | sending | sent | skipped | failed | unknown"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 200, description = "Page size, 1-200 (default 50)"),
        ("cursor" = Option<String>, Query, max_length = 1024, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "One page", body = Page<OutboundMessage>),
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
) -> Result<Json<Page<OutboundMessage>>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let mut p = Params::new(raw, &["recipient", "status", "limit", "cursor"]);
    let recipient = p.address("recipient");
    let status = p.choice("status", STATUSES);
    let limit = p.limit();
    let before = p.cursor(|s| s.strip_prefix("m|")?.parse::<i64>().ok());
    p.finish()?;
    let rows = store::list_messages(&state.pool, recipient.as_ref(), status, before, limit).await?;
    Ok(Json(Page::from_rows(rows, limit, |last| {
        encode_cursor(&format!("m|{}", last.id))
    })))
}
