//! Path and query extractors whose rejections are problem documents.
//!
//! axum's own `Path` and `Query` answer plain text ("Invalid URL: Cannot parse `x` to a `Uuid`"). Here:
//!
//! - [`Path`]: a segment that cannot name a resource — not valid UTF-8 once percent-decoded (`/v1/tasks/%FF`), or
//!   not of the parameter's type (a task id that is not a UUID) — is **404** problem+json: no resource lives at
//!   that URI (RFC 9110 §15.5.5), exactly as for a well-formed id that does not exist, so clients have one case to
//!   handle. The detail names the segment, never echoes its value. A route/extractor mismatch (wrong number of
//!   parameters) is a programming error: 500.
//! - [`Query`]: an unreadable query string is **422** naming the parameter (serde's path), like a body field.

use axum::{
    extract::{FromRequestParts, path::ErrorKind, rejection::PathRejection},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::problem::{ApiError, FieldError};

/// Path parameters as `T`, or a 404 problem when a segment cannot be `T`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(path_rejection)
    }
}

/// Maps axum's rejection: the client's fault -> 404 naming the segment; ours -> 500.
pub fn path_rejection(rejection: PathRejection) -> ApiError {
    let PathRejection::FailedToDeserializePathParams(failed) = rejection else {
        return ApiError::Internal(anyhow::anyhow!("path parameters: {rejection}"));
    };
    let kind = failed.into_kind();
    match &kind {
        ErrorKind::InvalidUtf8InPathParam { key } => {
            ApiError::InvalidPath(format!("the {key} segment is not valid UTF-8"))
        }
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => ApiError::InvalidPath(format!(
            "the {key} segment is not a valid {}",
            type_name(expected_type)
        )),
        ErrorKind::ParseErrorAtIndex {
            index,
            expected_type,
            ..
        } => ApiError::InvalidPath(format!(
            "path segment {index} is not a valid {}",
            type_name(expected_type)
        )),
        ErrorKind::ParseError { expected_type, .. } => ApiError::InvalidPath(format!(
            "a path segment is not a valid {}",
            type_name(expected_type)
        )),
        ErrorKind::DeserializeError { key, message, .. } => {
            ApiError::InvalidPath(format!("the {key} segment is invalid: {message}"))
        }
        ErrorKind::Message(_) => {
            ApiError::InvalidPath("a path segment does not name a resource".into())
        }
        _ => ApiError::Internal(anyhow::anyhow!("path parameters: {kind}")),
    }
}

/// `uuid::Uuid` -> `Uuid`, `alloc::string::String` -> `String`.
fn type_name(full: &str) -> &str {
    full.rsplit("::").next().unwrap_or(full)
}

/// The query string as `T`, or a 422 problem naming the offending parameter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Parses a query string (without `?`) into `T`: data errors are 422 naming the parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        let field = match (path.as_str(), field_from_message(&message)) {
            (".", Some(f)) => f.to_owned(),
            (".", None) => "(query)".to_owned(),
            (p, _) => p.to_owned(),
        };
        ApiError::Unprocessable(vec![FieldError::new(field, message)])
    })
}

fn field_from_message(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{
        Router,
        body::Body,
        http::{Request, StatusCode, header},
        routing::get,
    };
    use serde::Deserialize;
    use tower::ServiceExt;
    use uuid::Uuid;

    async fn call(app: Router, uri: &str) -> (StatusCode, String, serde_json::Value) {
        let r = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        let bytes = axum::body::to_bytes(r.into_body(), 1 << 16).await.unwrap();
        (
            status,
            ct,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    fn app() -> Router {
        Router::new()
            .route(
                "/things/{id}",
                get(|Path(id): Path<Uuid>| async move { id.to_string() }),
            )
            .route(
                "/names/{name}",
                get(|Path(name): Path<String>| async move { name }),
            )
    }

    #[tokio::test]
    async fn a_segment_that_is_not_a_uuid_or_not_utf8_is_a_404_problem_naming_it() {
        for uri in [
            "/things/not-a-uuid",
            "/things/%FF",
            "/names/%FF%FE",
            "/things/%C3%28",
        ] {
            let (status, ct, body) = call(app(), uri).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
            assert_eq!(ct, crate::problem::PROBLEM_JSON, "{uri}");
            assert_eq!(body["status"], 404, "{uri}");
            let detail = body["detail"].as_str().unwrap();
            assert!(detail.contains("segment"), "{uri}: {detail}");
        }
        let (_, _, body) = call(app(), "/things/nope").await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.starts_with("the id segment is invalid"), "{detail}");
        let (status, _, _) = call(app(), &format!("/things/{}", Uuid::nil())).await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = call(app(), "/names/caf%C3%A9").await;
        assert_eq!(status, StatusCode::OK);
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<u8>,
        done: Option<bool>,
    }

    #[test]
    fn query_errors_are_422_naming_the_parameter() {
        let field = |q: &str| match parse_query::<Page>(q) {
            Err(ApiError::Unprocessable(f)) => f[0].field.clone(),
            other => panic!("{q}: {other:?}"),
        };
        assert_eq!(field("limit=x"), "limit");
        assert_eq!(field("limit=1000"), "limit");
        assert_eq!(field("done=maybe"), "done");
        assert_eq!(field("colour=red"), "colour");
        assert!(parse_query::<Page>("limit=5&done=true").is_ok());
        assert!(parse_query::<Page>("").is_ok());
        assert!(parse_query::<Page>("%FF=%FE").is_err());
    }
}
