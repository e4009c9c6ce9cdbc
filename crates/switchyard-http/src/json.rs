//! A JSON body extractor whose rejections are problem documents naming the field.
//!
//! axum's own `Json` answers plain text ("Failed to deserialize..."). Here: no/other content type -> 415,
//! body over the limit -> 413, broken JSON syntax -> 400, valid JSON of the wrong shape (unknown field with
//! `deny_unknown_fields`, missing field, wrong type) -> 422 with `errors[].field` set to the JSON path.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::header,
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::problem::{ApiError, FieldError};

/// Request body as `T`, or a problem+json rejection. As a response, serialises `T` as `application/json`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::UnsupportedMediaType(
                "expected Content-Type: application/json".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest("cannot read the request body".into())
            }
        })?;
        parse(&bytes).map(Json)
    }
}

fn is_json(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Deserialises `bytes`, mapping errors to 400 (syntax) or 422 (shape, naming the field).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        // Trailing characters after the value are a syntax error too.
        de.end().map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is not valid JSON: {}",
                strip_position(&e.to_string())
            ))
        })?;
    }
    value.map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = strip_position(&inner.to_string());
                // serde reports a missing field at the parent's path (an unknown one at its own); name the field.
                let field = match field_from_message(&message) {
                    Some(f) if path == "." => f.to_owned(),
                    Some(f) if !path.ends_with(f) => format!("{path}.{f}"),
                    _ if path == "." => "(body)".to_owned(),
                    _ => path,
                };
                ApiError::Unprocessable(vec![FieldError::new(field, message)])
            }
            _ => ApiError::BadRequest(format!(
                "the body is not valid JSON: {}",
                strip_position(&inner.to_string())
            )),
        }
    })
}

/// serde's messages end with " at line 1 column 17"; clients get the field path instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The field named in "unknown field `x`" / "missing field `x`".
fn field_from_message(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("missing field `"))?;
    rest.split('`').next()
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Signup {
        email: String,
        age: u8,
        tags: Vec<String>,
    }

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Unprocessable(f) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn names_the_offending_field() {
        let e = parse::<Signup>(br#"{"email":"a","age":"x","tags":[]}"#).unwrap_err();
        assert_eq!(fields(e), ["age"]);
        let e = parse::<Signup>(br#"{"email":"a","age":1,"tags":[1]}"#).unwrap_err();
        assert_eq!(fields(e), ["tags[0]"]);
        let e = parse::<Signup>(br#"{"email":"a","age":1,"tags":[],"admin":true}"#).unwrap_err();
        assert_eq!(fields(e), ["admin"]);
        let e = parse::<Signup>(br#"{"email":"a","tags":[]}"#).unwrap_err();
        assert_eq!(fields(e), ["age"]);
    }

    #[test]
    fn broken_json_is_a_bad_request() {
        for bad in [
            &b"{"[..],
            b"",
            b"{\"email\":",
            b"{\"email\":\"a\",\"age\":1,\"tags\":[]} x",
        ] {
            assert!(
                matches!(parse::<Signup>(bad), Err(ApiError::BadRequest(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
