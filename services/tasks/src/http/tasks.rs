//! `/v1/tasks` (list, create), `/v1/tasks/{id}` (get, patch, delete); the domain work is in `crate::service`.
//!
//! Users see only their own tasks (another user's id answers 404, not 403). Every task carries its version as a
//! strong `ETag`; `PATCH`/`DELETE` with an `If-Match` naming another version answer 412. `POST` honours
//! `Idempotency-Key`: the same request replays its first answer (even after a delete), another request with the
//! key is a 422.

use std::collections::BTreeMap;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::AuthUser;
use switchyard_http::{
    ApiError, FieldError, IfMatch, Json, Page, Path, Query, Trace, precondition::etag,
    problem::Problem,
};
use utoipa::ToSchema;
use uuid::Uuid;

use super::AppState;
use crate::{
    domain::TaskName,
    service::{self, Creation},
    store::{self, TaskRow},
};

pub const READ: &str = "tasks:read";
pub const WRITE: &str = "tasks:write";
const MAX_PAGE: i64 = 100;
const MAX_IDEMPOTENCY_KEY: usize = 200;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/tasks", get(list_tasks).post(create_task))
        .route(
            "/v1/tasks/{id}",
            get(get_task).patch(patch_task).delete(delete_task),
        )
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

fn task_response(status: StatusCode, task: Task) -> Response {
    let tag = etag(task.version);
    let mut resp = (status, Json(task)).into_response();
    resp.headers_mut().insert(header::ETAG, tag);
    resp
}

#[utoipa::path(get, path = "/v1/tasks", tag = "tasks",
    params(("done" = Option<bool>, Query),
           ("limit" = Option<i64>, Query, description = "1-100, default 50", minimum = 1, maximum = 100),
           ("cursor" = Option<Uuid>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Page<Task>), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem)))]
pub async fn list_tasks(
    State(state): State<AppState>,
    user: AuthUser,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Json<Page<Task>>, ApiError> {
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
    let page = service::list(&state.pool, user.user_id, done, cursor, limit).await?;
    Ok(Json(page.map(Task::from)))
}

/// Creates a task. With `Idempotency-Key`, the key is bound to this request (method, path and body) and to its
/// answer: the same request again replays that answer — 201, the same body, `ETag` and `Location`, and
/// `Idempotent-Replayed: true` — however often, whenever, and even after the task was changed or deleted (its
/// `Location` then shows the current state, or 404). A different request with a used key answers 422. Keys are
/// per user and kept. The owner's email comes from the users this service has learnt from identity's events: right
/// after sign-up, before that event arrived, the answer is 503 with `Retry-After`.
#[utoipa::path(post, path = "/v1/tasks", tag = "tasks", request_body = CreateTask,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 200, pattern = "^[!-~]+$",
            description = "1-200 visible ASCII characters; the same request with the same key replays the first answer, a different request with it answers 422")),
    responses((status = 201, body = Task, description = "Created (or, for a repeated Idempotency-Key, the first answer replayed)",
               headers(("ETag" = String, description = "The task's version"),
                       ("Location" = String, description = "The task's URL"),
                       ("Idempotent-Replayed" = String, description = "`true` when this is a replayed answer"))),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 422, body = Problem, description = "Invalid fields, or an Idempotency-Key used with a different request"),
              (status = 503, body = Problem, description = "The account's registration has not reached this service yet (or a dependency is down); see Retry-After")))]
pub async fn create_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    headers: HeaderMap,
    Json(body): Json<CreateTask>,
) -> Result<Response, ApiError> {
    user.require(WRITE)?;
    let name = TaskName::parse(&body.name).map_err(|m| ApiError::field("name", m))?;
    let key = idempotency_key(&headers)?;
    let hash = service::request_hash(
        "POST",
        "/v1/tasks",
        &serde_json::to_vec(&body).unwrap_or_default(),
    );
    let created = service::create(
        &state.pool,
        user.user_id,
        &name,
        key.as_deref().map(|k| (k, hash.as_slice())),
        |row| serde_json::to_value(Task::from(row.clone())).unwrap_or_default(),
        &trace,
    )
    .await?;
    match created {
        Creation::New(row) => Ok(created_response(Task::from(row), false)),
        Creation::Replayed(recorded) => {
            let task: Task = serde_json::from_value(recorded).map_err(|e| {
                ApiError::Internal(anyhow::Error::new(e).context("a recorded answer"))
            })?;
            Ok(created_response(task, true))
        }
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
pub async fn get_task(
    State(state): State<AppState>,
    user: AuthUser,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    user.require(READ)?;
    let row = store::get(&state.pool, user.user_id, id)
        .await
        .map_err(service::Error::from)?;
    Ok(task_response(StatusCode::OK, row.into()))
}

#[utoipa::path(patch, path = "/v1/tasks/{id}", tag = "tasks", request_body = PatchTask,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, pattern = r#"^((W/)?"[0-9]{1,18}"|\*)$"#,
            description = "The ETag of the version this change is based on (W/ allowed); 412 when the task moved on")),
    responses((status = 200, body = Task), (status = 404, body = Problem), (status = 412, body = Problem),
              (status = 422, body = Problem)))]
pub async fn patch_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    Path(id): Path<Uuid>,
    IfMatch(if_match): IfMatch,
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
        if_match,
        name.as_ref(),
        body.done,
        &trace,
    )
    .await
    .map_err(service::Error::from)?;
    Ok(task_response(StatusCode::OK, row.into()))
}

#[utoipa::path(delete, path = "/v1/tasks/{id}", tag = "tasks",
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, pattern = r#"^((W/)?"[0-9]{1,18}"|\*)$"#,
            description = "The ETag of the version this change is based on (W/ allowed); 412 when the task moved on")),
    responses((status = 204), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_task(
    State(state): State<AppState>,
    user: AuthUser,
    Trace(trace): Trace,
    Path(id): Path<Uuid>,
    IfMatch(if_match): IfMatch,
) -> Result<StatusCode, ApiError> {
    user.require(WRITE)?;
    store::delete(&state.pool, user.user_id, id, if_match, &trace)
        .await
        .map_err(service::Error::from)?;
    Ok(StatusCode::NO_CONTENT)
}
