//! The HTTP API: one module per resource, each exposing its routes; [`router`] merges them with the common layers.
//! Every `/v1` route needs the `mail:admin` permission. [`AppState`] lives here, beside the router that hands it
//! to the handlers; `app` builds it.

mod messages;
mod stats;
mod suppressions;

use std::sync::Arc;

use axum::{Router, extract::FromRef};
use sqlx::PgPool;
use switchyard_auth::Auth;
use switchyard_http::{
    FieldError, HttpSettings, Page,
    openapi::{BearerAuth, ProblemResponses},
    problem::Problem,
};
use switchyard_ses::AccountSuppressionList;
use utoipa::OpenApi;

use crate::store::{OutboundMessage, SuppressionEntry};

/// The SES account-level list unsuppressions are mirrored to: `None` when `SES_ACCOUNT_SUPPRESSION_SYNC` is off.
pub type AccountSync = Option<Arc<dyn AccountSuppressionList>>;

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    /// The SES account-level list unsuppressions are mirrored to.
    pub account: AccountSync,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

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
    components(schemas(Problem, FieldError, Page<SuppressionEntry>, Page<OutboundMessage>)),
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
        .merge(switchyard_http::openapi::routes(openapi));
    switchyard_http::with_common_layers(api, settings)
}
