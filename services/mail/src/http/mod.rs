//! The HTTP API: one module per resource, each exposing its routes; [`router`] merges them with the common layers.
//! Every `/v1` route needs the `mail:admin` permission.

mod messages;
mod stats;
mod suppressions;

use axum::Router;
use switchyard_http::{
    ApiError, FieldError, HttpSettings,
    openapi::{BearerAuth, ProblemResponses},
    problem::Problem,
};
use utoipa::OpenApi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard mail",
        version = "1",
        description = "Mail administration (permission mail:admin): the suppression list with its history, \
                       unsuppression, the outbound message log, daily bounce and complaint counts."
    ),
    paths(
        suppressions::list,
        suppressions::detail,
        suppressions::remove,
        messages::list,
        stats::daily,
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "suppressions", description = "Addresses the mailer never mails"),
        (name = "messages", description = "The mailer's outbound log"),
        (name = "stats", description = "Bounce and complaint counts"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document (also printed by `mail openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let api = Router::new()
        .merge(suppressions::routes())
        .merge(messages::routes())
        .merge(stats::routes())
        .with_state(state)
        .merge(switchyard_http::openapi::routes(openapi()));
    switchyard_http::with_common_layers(api, settings)
}

/// Logs the error chain (through `ApiError::Internal`) and answers an opaque 500.
pub(crate) fn internal(error: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(error.into())
}
