//! RFC 9457 problem details: the body of every error answer.
//!
//! Handlers return `Result<_, ApiError>`. Each variant knows its status and headers; [`ApiError::Internal`]
//! logs the whole error chain once, here, and answers an opaque 500 so no SQL or stack detail reaches a client.

use std::time::Duration;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The challenge for a request without credentials (RFC 6750 §3.1: no `error` attribute).
pub const CHALLENGE: &str = r#"Bearer realm="switchyard""#;

/// The challenge for a request whose bearer token was refused.
pub const INVALID_TOKEN: &str = r#"Bearer realm="switchyard", error="invalid_token""#;

/// One offending input field of a 422 answer (`field` is a JSON path such as `permissions[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The problem document (for OpenAPI; the wire format is produced by [`ApiError::into_response`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`: the status code says it all (RFC 9457 §4.2.1).
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For 422: which fields are wrong and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (bad JSON syntax, bad header).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Credentials were sent but are not valid (bad, expired or revoked token, a token in the query string, two
    /// `Authorization` headers). Always the same answer whatever the reason (the reason is logged at debug level by
    /// whoever rejects the token), with `WWW-Authenticate: Bearer realm="switchyard", error="invalid_token"`
    /// (RFC 6750 §3).
    #[error("unauthorized")]
    Unauthorized,
    /// No credentials at all (no `Authorization` header, or another scheme than Bearer): 401 with a bare
    /// `WWW-Authenticate: Bearer realm="switchyard"` challenge and no `error` (RFC 6750 §3.1: a request without
    /// authentication information gets no error code).
    #[error("no credentials")]
    MissingCredentials,
    /// Login or refresh failed: one generic 401 whatever was wrong (unknown user, bad password, used token).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Authenticated, but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    /// A path segment cannot name a resource (not valid UTF-8, not a UUID): 404 like any unknown resource, with a
    /// detail naming the segment (see [`crate::Path`]).
    #[error("not found: {0}")]
    InvalidPath(String),
    /// Any other status, for answers the framework produced (405, 413, ...): see [`crate::server`].
    #[error("{status}: {detail:?}")]
    Status {
        status: StatusCode,
        detail: Option<String>,
    },
    #[error("conflict: {0}")]
    Conflict(String),
    /// An `If-Match` precondition did not hold.
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Well-formed but invalid input; names every offending field.
    #[error("unprocessable: {0:?}")]
    Unprocessable(Vec<FieldError>),
    /// Throttled; the client may retry after the given time.
    #[error("too many requests (retry after {0:?})")]
    TooManyRequests(Duration),
    /// A dependency (Redis, identity) is unavailable and answering would be unsafe; retry later.
    #[error("service unavailable: {reason} (retry after {retry_after:?})")]
    Unavailable {
        reason: String,
        retry_after: Duration,
    },
    /// Anything else: logged with its chain, answered as an opaque 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 422 for one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![FieldError::new(field, message)])
    }

    pub fn unavailable(reason: impl Into<String>, retry_after: Duration) -> Self {
        Self::Unavailable {
            reason: reason.into(),
            retry_after,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized | Self::MissingCredentials | Self::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound | Self::InvalidPath(_) => StatusCode::NOT_FOUND,
            Self::Status { status, .. } => *status,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            Self::BadRequest(d)
            | Self::Forbidden(d)
            | Self::Conflict(d)
            | Self::PreconditionFailed(d)
            | Self::InvalidPath(d)
            | Self::UnsupportedMediaType(d) => Some(d.clone()),
            Self::Status { detail, .. } => detail.clone(),
            Self::Unauthorized => Some("invalid access token".into()),
            Self::MissingCredentials => {
                Some("an access token is required: Authorization: Bearer <token>".into())
            }
            Self::InvalidCredentials => Some("invalid credentials".into()),
            Self::Unprocessable(_) => Some("the request has invalid fields".into()),
            Self::TooManyRequests(_) => Some("too many attempts; retry later".into()),
            Self::Unavailable { .. } => Some("temporarily unavailable; retry later".into()),
            Self::NotFound | Self::PayloadTooLarge | Self::Internal(_) => None,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// A database that cannot be reached (pool timeout, closed pool, connection I/O or TLS) is a 503 with
    /// `Retry-After`: the request may succeed in a moment. Anything else (a broken query, a constraint nobody
    /// mapped) is a logged, opaque 500. Constraint violations a handler expects are mapped by that handler first.
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => Self::unavailable(
                format!("database unavailable: {error}"),
                Duration::from_secs(2),
            ),
            other => Self::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

/// Seconds for `Retry-After`, at least 1.
fn retry_after(d: &Duration) -> HeaderValue {
    HeaderValue::from(d.as_secs_f64().ceil().max(1.0) as u64)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "request failed")
            }
            Self::Unavailable { reason, .. } => tracing::warn!(%reason, "answering 503"),
            _ => tracing::debug!(error = %self, "request rejected"),
        }
        let problem = Problem {
            problem_type: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: self.detail(),
            errors: match &self {
                Self::Unprocessable(errors) => errors.clone(),
                _ => Vec::new(),
            },
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        match &self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(INVALID_TOKEN),
                );
            }
            Self::MissingCredentials => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
            }
            Self::TooManyRequests(after)
            | Self::Unavailable {
                retry_after: after, ..
            } => {
                headers.insert(header::RETRY_AFTER, retry_after(after));
            }
            Self::InvalidCredentials => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(CHALLENGE),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(r: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn unauthorized_carries_the_bearer_challenge() {
        let r = ApiError::MissingCredentials.into_response();
        assert_eq!(r.status(), 401);
        let challenge = r.headers()[header::WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(!challenge.contains("error="), "RFC 6750 §3.1: {challenge}");
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), 401);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="switchyard", error="invalid_token""#
        );
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let b = body(r).await;
        assert_eq!(b["status"], 401);
        assert_eq!(b["title"], "Unauthorized");
    }

    #[tokio::test]
    async fn throttling_and_unavailability_say_when_to_retry() {
        let r = ApiError::TooManyRequests(Duration::from_millis(1500)).into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = ApiError::unavailable("redis down", Duration::ZERO).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        // The reason is for logs, not for clients.
        assert!(!body(r).await.to_string().contains("redis"));
    }

    #[tokio::test]
    async fn unprocessable_names_fields_and_internal_is_opaque() {
        let b = body(ApiError::field("email", "not an email address").into_response()).await;
        assert_eq!(b["errors"][0]["field"], "email");
        let r =
            ApiError::Internal(anyhow::anyhow!("relation users does not exist")).into_response();
        assert_eq!(r.status(), 500);
        assert!(!body(r).await.to_string().contains("relation"));
    }

    #[test]
    fn database_errors_are_503_when_unreachable_and_500_otherwise() {
        assert_eq!(
            ApiError::from(sqlx::Error::PoolTimedOut).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            ApiError::from(sqlx::Error::RowNotFound).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
