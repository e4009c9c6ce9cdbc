//! The HTTP API: `/v1/tasks` (list, create), `/v1/tasks/{id}` (get, patch, delete).
//!
//! Users see only their own tasks (another user's id answers 404, not 403). Every task carries its version as a
//! strong `ETag`; `PATCH`/`DELETE` with an `If-Match` naming another version answer 412. `POST` honours
//! `Idempotency-Key`: the same request replays its first answer (even after a delete), another request with the
//! key is a 422.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Router,
    extract::{FromRef, State},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use switchyard_auth::{Auth, AuthUser};
use switchyard_http::{
    ApiError, FieldError, HttpSettings, Json, Path, Query, Trace,
    openapi::{BearerAuth, ProblemResponses},
    problem::Problem,
};
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use crate::{
    domain::TaskName,
    store::{self, StoreError, TaskRow},
};

pub const READ: &str = "tasks:read";
pub const WRITE: &str = "tasks:write";
const MAX_PAGE: i64 = 100;
const MAX_IDEMPOTENCY_KEY: usize = 200;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub auth: Auth,
    pub identity: IdentityClient,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Reads the caller's own profile from identity (with the caller's token), for the owner's email on new tasks.
#[derive(Clone)]
pub struct IdentityClient {
    http: reqwest::Client,
    me_url: String,
}

impl IdentityClient {
    pub fn new(identity_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(3))
                .build()?,
            me_url: format!("{}/v1/users/me", identity_url.trim_end_matches('/')),
        })
    }

    async fn email_of_caller(&self, authorization: &HeaderValue) -> Result<String, ApiError> {
        #[derive(Deserialize)]
        struct Me {
            email: String,
        }
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::warn!(error = %e, "identity unavailable for the caller's profile");
            ApiError::unavailable("identity is unavailable", Duration::from_secs(2))
        };
        let resp = self
            .http
            .get(&self.me_url)
            .header(header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| unavailable(&e))?;
        match resp.status() {
            s if s.is_success() => Ok(resp.json::<Me>().await.map_err(|e| unavailable(&e))?.email),
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized),
            s => Err(unavailable(&s)),
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchyard tasks", version = "1", description = "Each user's tasks."),
    paths(list_tasks, create_task, get_task, patch_task, delete_task),
    components(schemas(Task, TaskPage, CreateTask, PatchTask, Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let api = Router::new()
        .route("/v1/tasks", get(list_tasks).post(create_task))
        .route(
            "/v1/tasks/{id}",
            get(get_task).patch(patch_task).delete(delete_task),
        )
        .with_state(state)
        .merge(switchyard_http::openapi::routes(openapi()));
    switchyard_http::with_common_layers(api, settings)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Task {
    pub id: Uuid,
    pub name: String,
    pub done: bool,
    /// Also the `ETag`; send it back in `If-Match`.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<TaskRow> for Task {
    fn from(r: TaskRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            done: r.done,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TaskPage {
    pub items: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// 1-200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTask {
    /// 1-200 characters after trimming.
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub done: Option<bool>,
}

fn with_etag(status: StatusCode, row: TaskRow) -> Response {
    task_response(status, Task::from(row))
}

fn task_response(status: StatusCode, task: Task) -> Response {
    let etag = format!("\"{}\"", task.version);
    let mut resp = (status, axum::Json(task)).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound,
        StoreError::Stale { current } => ApiError::PreconditionFailed(format!(
            "If-Match does not match the current version \"{current}\""
        )),
        other => ApiError::Internal(other.into()),
    }
}

/// `If-Match: "3"` -> Some(3); `*` or absent -> None (no precondition).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_matches('"').parse().map(Some).map_err(|_| {
        ApiError::BadRequest("If-Match must be an ETag from this service, like \"3\"".into())
    })
}

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks",
    params(("done" = Option<bool>, Query),
           ("limit" = Option<i64>, Query, description = "1-100, default 50", minimum = 1, maximum = 100),
           ("cursor" = Option<Uuid>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = TaskPage), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
async fn list_tasks(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Response, ApiError> {
    user.require(READ)?;
    let mut errors = Vec::new();
    let mut done = None;
    let mut limit = 50;
    let mut cursor = None;
    for (key, value) in &params {
        match key.as_str() {
            "done" => match value.as_str() {
                "true" => done = Some(true),
                "false" => done = Some(false),
                _ => errors.push(FieldError::new("done", "must be true or false")),
            },
            "limit" => match value.parse::<i64>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => limit = n,
                _ => errors.push(FieldError::new(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_PAGE}"),
                )),
            },
            "cursor" => match Uuid::parse_str(value) {
                Ok(c) => cursor = Some(c),
                Err(_) => errors.push(FieldError::new(
                    "cursor",
                    "is not a cursor this service returned",
                )),
            },
            other => errors.push(FieldError::new(other, "unknown query parameter")),
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable(errors));
    }
    let rows = store::list(&state.pool, user.user_id, done, cursor, limit + 1)
        .await
        .map_err(store_error)?;
    let more = rows.len() as i64 > limit;
    let items: Vec<Task> = rows
        .into_iter()
        .take(limit as usize)
        .map(Task::from)
        .collect();
    let next_cursor = more
        .then(|| items.last().map(|t| t.id.to_string()))
        .flatten();
    Ok(axum::Json(TaskPage { items, next_cursor }).into_response())
}

/// Creates a task. With `Idempotency-Key`, the key is bound to this request (method, path and body) and to its
/// answer: the same request again replays that answer — 201, the same body, `ETag` and `Location`, and
/// `Idempotent-Replayed: true` — however often, whenever, and even after the task was changed or deleted (its
/// `Location` then shows the current state, or 404). A different request with a used key answers 422. Keys are
/// per user and kept.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = CreateTask,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200, pattern = "^[!-~]+$",
            description = "1-200 visible ASCII characters; the same request with the same key replays the first answer, a different request with it answers 422")),
    responses((status = 201, body = Task, description = "Created (or, for a repeated Idempotency-Key, the first answer replayed)",
               headers(("ETag" = String, description = "The task's version"),
                       ("Location" = String, description = "The task's URL"),
                       ("Idempotent-Replayed" = String, description = "`true` when this is a replayed answer"))),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem, description = "Invalid fields, or an Idempotency-Key used with a different request")))]
async fn create_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    headers: HeaderMap,
    Json(body): Json<CreateTask>,
) -> Result<Response, ApiError> {
    user.require(WRITE)?;
    let name = TaskName::parse(&body.name).map_err(|m| ApiError::field("name", m))?;
    let key = idempotency_key(&headers)?;
    let hash = request_hash("POST", "/v1/tasks", &body);
    if let Some(key) = &key
        && let Some(recorded) = store::recorded(&state.pool, user.user_id, key)
            .await
            .map_err(store_error)?
    {
        return replay(recorded, &hash);
    }
    let authorization = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized)?;
    let email = state.identity.email_of_caller(authorization).await?;
    let idempotency = key.as_deref().map(|key| store::Idempotency {
        key,
        request_hash: &hash,
    });
    let created = store::create(
        &state.pool,
        user.user_id,
        &email,
        &name,
        idempotency,
        |row| serde_json::to_value(Task::from(row.clone())).unwrap_or_default(),
        &trace,
    )
    .await
    .map_err(store_error)?;
    match created {
        store::Created::New(row) => Ok(created_response(Task::from(row), false)),
        store::Created::Recorded(recorded) => replay(recorded, &hash),
    }
}

/// `Idempotency-Key`: absent, or 1-200 visible ASCII characters (400 otherwise).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(k.to_owned())),
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))),
    }
}

/// The fingerprint a key is bound to: SHA-256 over the method, the path and the canonical body (the parsed body
/// serialised again: key order and whitespace do not matter, any value does).
fn request_hash(method: &str, path: &str, body: &CreateTask) -> Vec<u8> {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update(b"\n");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(serde_json::to_vec(body).unwrap_or_default());
    hasher.finalize().to_vec()
}

/// The recorded answer again, or 422 when the key came with another request.
fn replay(recorded: store::Recorded, hash: &[u8]) -> Result<Response, ApiError> {
    if !recorded.matches(hash) {
        return Err(ApiError::field(
            "Idempotency-Key",
            "this key was already used with a different request; use a new key for a new request",
        ));
    }
    let task: Task = serde_json::from_value(recorded.response)
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("a recorded answer")))?;
    Ok(created_response(task, true))
}

fn created_response(task: Task, replayed: bool) -> Response {
    let location = format!("/v1/tasks/{}", task.id);
    let mut resp = task_response(StatusCode::CREATED, task);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        resp.headers_mut().insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    resp
}

#[utoipa::path(get, path = "/v1/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem)))]
async fn get_task(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    user.require(READ)?;
    let row = store::get(&state.pool, user.user_id, id)
        .await
        .map_err(store_error)?;
    Ok(with_etag(StatusCode::OK, row))
}

#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", request_body = PatchTask,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, pattern = r#"^("[0-9]{1,18}"|\*)$"#,
            description = "The ETag of the version this change is based on; 412 when the task moved on")),
    responses((status = 200, body = Task), (status = 404, body = Problem), (status = 412, body = Problem),
              (status = 422, body = Problem)))]
async fn patch_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<PatchTask>,
) -> Result<Response, ApiError> {
    user.require(WRITE)?;
    let name = body
        .name
        .as_deref()
        .map(TaskName::parse)
        .transpose()
        .map_err(|m| ApiError::field("name", m))?;
    if name.is_none() && body.done.is_none() {
        return Err(ApiError::Unprocessable(vec![FieldError::new(
            "name",
            "give name and/or done",
        )]));
    }
    let row = store::update(
        &state.pool,
        user.user_id,
        id,
        if_match(&headers)?,
        name.as_ref(),
        body.done,
        &trace,
    )
    .await
    .map_err(store_error)?;
    Ok(with_etag(StatusCode::OK, row))
}

#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, pattern = r#"^("[0-9]{1,18}"|\*)$"#,
            description = "The ETag of the version this change is based on; 412 when the task moved on")),
    responses((status = 204), (status = 404, body = Problem), (status = 412, body = Problem)))]
async fn delete_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    user.require(WRITE)?;
    store::delete(&state.pool, user.user_id, id, if_match(&headers)?, &trace)
        .await
        .map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}
