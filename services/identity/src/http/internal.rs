//! `GET /internal/v1/users/{id}/permissions`: the permission source of every other service on a cache miss or
//! while Redis is down. Reads Postgres and refills Redis. Needs a service token (client credentials, `typ` =
//! `service`) with the `permissions:read` scope: no token or a user's token is a 401, a service without the scope a
//! 403. Not in the public OpenAPI document and not routed by the ALB either.

use axum::{Json, Router, extract::State, routing::get};
use switchyard_auth::{Permissions, SCOPE_PERMISSIONS_READ, ServiceCaller};
use switchyard_http::{ApiError, Path};
use uuid::Uuid;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/internal/v1/users/{id}/permissions", get(permissions))
}

#[tracing::instrument(skip_all, fields(user_id = %id, client_id = %caller.client_id))]
async fn permissions(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    caller: ServiceCaller,
) -> Result<Json<Permissions>, ApiError> {
    caller.require_scope(SCOPE_PERMISSIONS_READ)?;
    state
        .permissions
        .load(id)
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound)
}
