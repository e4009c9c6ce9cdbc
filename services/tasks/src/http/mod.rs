//! The HTTP API: [`tasks`] (`/v1/tasks`, `/v1/tasks/{id}`), the OpenAPI document and [`router`] with the common
//! layers. [`AppState`] lives here, beside the router that hands it to the handlers; `app` builds it.

pub mod tasks;

use axum::{Router, extract::FromRef};
use sqlx::PgPool;
use switchyard_auth::Auth;
use switchyard_http::{
    HttpSettings, Page,
    openapi::{BearerAuth, ProblemResponses},
    problem::Problem,
};
use utoipa::OpenApi;

use self::tasks::{CreateTask, PatchTask, Task};

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard tasks", version = "1", description = "Each user's tasks."),
    paths(
        tasks::list_tasks,
        tasks::create_task,
        tasks::get_task,
        tasks::patch_task,
        tasks::delete_task
    ),
    components(schemas(Task, Page<Task>, CreateTask, PatchTask, Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// The OpenAPI document (also printed by `tasks openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let api = tasks::routes()
        .with_state(state)
        .merge(switchyard_http::openapi::routes(openapi));
    switchyard_http::with_common_layers(api, settings)
}
