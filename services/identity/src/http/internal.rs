//! `GET /internal/v1/users/{id}/permissions`: the permission source of every other service on a cache miss or
//! while Redis is down. Reads Postgres and refills Redis. Not in the public OpenAPI document and not routed by the
//! ALB: only reachable inside the service network.

use axum::{Json, Router, extract::State, routing::get};
use switchyard_auth::Permissions;
use switchyard_http::{ApiError, Path};
use uuid::Uuid;

use super::internal;
use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/internal/v1/users/{id}/permissions", get(permissions))
}

#[tracing::instrument(skip_all, fields(user_id = %id))]
async fn permissions(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> Result<Json<Permissions>, ApiError> {
    state
        .permissions
        .load(id)
        .await
        .map_err(internal)?
        .map(Json)
        .ok_or(ApiError::NotFound)
}
