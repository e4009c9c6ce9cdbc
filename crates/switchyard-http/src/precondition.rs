//! Optimistic concurrency at the edge: every versioned resource answers `ETag: "<version>"`, and a change may say
//! which version it is based on with `If-Match`.
//!
//! [`IfMatch`] accepts `"3"`, `W/"3"` (a proxy that compresses answers may weaken the ETag it passes on; the version
//! is the same), a bare `3`, and `*` (no precondition). Anything else is a 400 naming the header. The version
//! comparison itself is the handler's (it knows the current version, in its transaction).

use axum::{
    extract::FromRequestParts,
    http::{HeaderMap, HeaderValue, header, request::Parts},
};

use crate::problem::ApiError;

/// The OpenAPI `pattern` of an `If-Match` header this module accepts (documented by every handler that reads it).
pub const IF_MATCH_PATTERN: &str = r#"^((W/)?"[0-9]{1,18}"|\*)$"#;

/// `If-Match` as a version: `Some(3)` for `"3"` or `W/"3"`, `None` when absent or `*`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse_if_match(&parts.headers).map(IfMatch)
    }
}

/// The version named by `If-Match` (see the module docs); two headers or a list of tags are a 400.
pub fn parse_if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let bad = || {
        ApiError::BadRequest(
            "If-Match must be one ETag from this service, like \"3\" (or W/\"3\", or *)".into(),
        )
    };
    if values.next().is_some() {
        return Err(bad());
    }
    let text = value.to_str().map_err(|_| bad())?.trim();
    if text == "*" {
        return Ok(None);
    }
    let tag = text.strip_prefix("W/").unwrap_or(text);
    let digits = match tag.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"').ok_or_else(bad)?,
        None => tag,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse().map(Some).map_err(|_| bad())
}

/// The strong `ETag` of `version`: `"3"`.
pub fn etag(version: i64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Result<Option<i64>, ApiError> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        parse_if_match(&headers)
    }

    #[test]
    fn strong_weak_bare_and_star() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["*"]).unwrap(), None);
        assert_eq!(parse(&["\"3\""]).unwrap(), Some(3));
        assert_eq!(parse(&["W/\"3\""]).unwrap(), Some(3));
        assert_eq!(parse(&[" 42 "]).unwrap(), Some(42));
        for bad in [
            "\"x\"",
            "W/3x",
            "\"3",
            "\"\"",
            "\"1\", \"2\"",
            "-1",
            "\"1234567890123456789\"",
            "W/*",
        ] {
            assert!(
                matches!(parse(&[bad]), Err(ApiError::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(parse(&["\"1\"", "\"2\""]).is_err(), "two headers");
        assert_eq!(etag(7), "\"7\"");
    }

    #[test]
    fn the_documented_pattern_accepts_the_strong_and_weak_forms() {
        // The pattern is what schemathesis generates from; everything it allows must parse.
        assert!(IF_MATCH_PATTERN.contains("(W/)?"));
        for ok in ["\"0\"", "W/\"123456789012345678\"", "*"] {
            assert!(parse(&[ok]).is_ok(), "{ok}");
        }
    }
}
