//! The mailer's outbound log.

use axum::{Router, extract::State, routing::get};
use serde::Serialize;
use switchyard_auth::AuthUser;
use switchyard_http::{ApiError, Json, problem::Problem};
use utoipa::ToSchema;

use super::{internal, suppressions::page_end};
use crate::{
    MAIL_ADMIN,
    app::AppState,
    query::{Params, RawParams, encode_cursor},
    store::{self, OutboundMessage, STATUSES},
};

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/messages", get(list))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagePage {
    pub items: Vec<OutboundMessage>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
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
        (status = 200, description = "One page", body = MessagePage),
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
) -> Result<Json<MessagePage>, ApiError> {
    user.require(MAIL_ADMIN)?;
    let mut p = Params::new(raw, &["recipient", "status", "limit", "cursor"]);
    let recipient = p.address("recipient");
    let status = p.choice("status", STATUSES);
    let limit = p.limit();
    let before = p.cursor(|s| s.strip_prefix("m|")?.parse::<i64>().ok());
    p.finish()?;
    let mut items = store::list_messages(&state.pool, recipient.as_ref(), status, before, limit)
        .await
        .map_err(internal)?;
    let next_cursor =
        page_end(&mut items, limit).map(|last| encode_cursor(&format!("m|{}", last.id)));
    Ok(Json(MessagePage { items, next_cursor }))
}
