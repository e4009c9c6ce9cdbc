//! Query strings, parsed at the edge: every problem (unknown or repeated parameter, bad address, date, limit or
//! cursor) becomes one 422 naming each offending parameter, instead of axum's plain-text 400.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use chrono::{DateTime, NaiveDate, Utc};
use switchyard_http::{ApiError, FieldError};
use switchyard_mail::EmailAddress;

/// Page size when `limit` is not given.
pub const DEFAULT_LIMIT: i64 = 50;
/// Largest page a client may ask for.
pub const MAX_LIMIT: i64 = 200;
/// Longest substring search (`q`): an address is at most 254 characters.
pub const MAX_SEARCH_CHARS: usize = 254;

/// Timestamps a client may filter on or carry in a cursor: RFC 3339's four-digit years. Postgres stores 4713 BC to
/// 294276 AD and chrono reaches further both ways, so the bounds are checked here rather than failing in the query.
pub fn in_range(t: DateTime<Utc>) -> bool {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0));
    let last = NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_micro_opt(23, 59, 59, 999_999));
    match (first, last) {
        (Some(first), Some(last)) => (first.and_utc()..=last.and_utc()).contains(&t),
        _ => false,
    }
}

/// The raw `name=value` pairs of a query string (percent-decoded). An undecodable query string is a 400.
#[derive(Debug, Clone, Default)]
pub struct RawParams(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for RawParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(pairs) = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(format!("unreadable query string: {e}")))?;
        Ok(Self(pairs))
    }
}

/// Typed access to the parameters, collecting every error; [`Params::finish`] turns them into one 422.
#[derive(Debug)]
pub struct Params {
    pairs: Vec<(String, String)>,
    errors: Vec<FieldError>,
}

impl Params {
    /// Parameters other than `allowed`, and repeated ones, are errors (a misspelt filter must not silently
    /// widen a search), and so is a value with a NUL character (Postgres text cannot hold one). Empty values count
    /// as absent.
    pub fn new(RawParams(pairs): RawParams, allowed: &[&str]) -> Self {
        let mut errors = Vec::new();
        for (i, (name, value)) in pairs.iter().enumerate() {
            if value.contains('\0') {
                errors.push(FieldError::new(
                    name.clone(),
                    "must not contain NUL characters",
                ));
            } else if !allowed.contains(&name.as_str()) {
                errors.push(FieldError::new(
                    name.clone(),
                    format!("unknown parameter; expected one of: {}", allowed.join(", ")),
                ));
            } else if pairs[..i].iter().any(|(n, _)| n == name) {
                errors.push(FieldError::new(name.clone(), "given more than once"));
            }
        }
        Self { pairs, errors }
    }

    /// The value of `name`; a value with a NUL is already an error and reads as absent.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, v)| n == name && !v.trim().is_empty() && !v.contains('\0'))
            .map(|(_, v)| v.trim())
    }

    /// Free text of at most `max` characters.
    pub fn text(&mut self, name: &str, max: usize) -> Option<String> {
        let raw = self.str(name)?.to_owned();
        if raw.chars().count() > max {
            self.error(name, format!("must be at most {max} characters"));
            return None;
        }
        Some(raw)
    }

    fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(name, message));
    }

    /// An email address (normalised like every stored address).
    pub fn address(&mut self, name: &str) -> Option<EmailAddress> {
        let raw = self.str(name)?.to_owned();
        EmailAddress::parse(&raw)
            .map_err(|e| self.error(name, format!("not an email address: {e}")))
            .ok()
    }

    /// One of `choices`.
    pub fn choice(&mut self, name: &str, choices: &[&'static str]) -> Option<&'static str> {
        let raw = self.str(name)?.to_owned();
        let found = choices.iter().find(|c| **c == raw).copied();
        if found.is_none() {
            self.error(name, format!("must be one of: {}", choices.join(", ")));
        }
        found
    }

    /// An RFC 3339 timestamp (`2026-12-01T10:00:00Z`) or a date (`2026-12-01`, midnight UTC), years 1 to 9999.
    pub fn since(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let raw = self.str(name)?.to_owned();
        let parsed = DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(&raw, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
            })
            .filter(|t| in_range(*t));
        if parsed.is_none() {
            self.error(
                name,
                "must be an RFC 3339 timestamp (2026-12-01T10:00:00Z) or a date (2026-12-01), years 0001 to 9999",
            );
        }
        parsed
    }

    /// An integer in `min..=max`, `default` when absent.
    pub fn int(&mut self, name: &str, default: i64, min: i64, max: i64) -> i64 {
        let Some(raw) = self.str(name).map(str::to_owned) else {
            return default;
        };
        match raw.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.error(name, format!("must be an integer from {min} to {max}"));
                default
            }
        }
    }

    /// The page size: `limit`, 1..=[`MAX_LIMIT`].
    pub fn limit(&mut self) -> i64 {
        self.int("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    }

    /// A `cursor` from a previous page's `next_cursor`, decoded by `decode` (never given a NUL character).
    pub fn cursor<T>(&mut self, decode: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let raw = self.str("cursor")?.to_owned();
        let value = B64
            .decode(raw.as_bytes())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| !s.contains('\0'))
            .and_then(|s| decode(&s));
        if value.is_none() {
            self.error(
                "cursor",
                "not a cursor from this API (use next_cursor as given)",
            );
        }
        value
    }

    /// `Ok` when every parameter was fine, else a 422 naming each bad one.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Unprocessable(self.errors))
        }
    }
}

/// Encodes a cursor (opaque to clients: base64url of `text`).
pub fn encode_cursor(text: &str) -> String {
    B64.encode(text.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)], allowed: &[&str]) -> Params {
        Params::new(
            RawParams(
                q.iter()
                    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                    .collect(),
            ),
            allowed,
        )
    }

    fn fields(p: Params) -> Vec<String> {
        match p.finish() {
            Err(ApiError::Unprocessable(f)) => f.into_iter().map(|f| f.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn names_every_bad_parameter() {
        let mut p = params(
            &[
                ("since", "yesterday"),
                ("limit", "0"),
                ("nope", "1"),
                ("email", "x"),
            ],
            &["since", "limit", "email"],
        );
        assert!(p.since("since").is_none());
        assert_eq!(p.limit(), DEFAULT_LIMIT);
        assert!(p.address("email").is_none());
        assert_eq!(fields(p), ["nope", "since", "limit", "email"]);
    }

    #[test]
    fn nul_characters_and_unstorable_timestamps_are_errors() {
        let mut p = params(
            &[
                ("q", "a\0b"),
                ("since", "-4714-01-01"),
                ("cursor", &encode_cursor("1|\0")),
            ],
            &["q", "since", "cursor"],
        );
        assert_eq!(p.str("q"), None);
        assert!(p.since("since").is_none());
        assert!(p.cursor(|s| Some(s.to_owned())).is_none());
        assert_eq!(fields(p), ["q", "since", "cursor"]);
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(in_range(at("0001-01-01T00:00:00Z")));
        assert!(in_range(at("9999-12-31T23:59:59.999999Z")));
        assert!(!in_range(at("0000-12-31T23:59:59Z")));
        assert!(!in_range(DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn parses_dates_limits_cursors() {
        let mut p = params(
            &[
                ("since", "2026-12-01"),
                ("limit", "200"),
                ("cursor", &encode_cursor("42")),
            ],
            &["since", "limit", "cursor"],
        );
        assert_eq!(
            p.since("since").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(p.limit(), 200);
        assert_eq!(p.cursor(|s| s.parse::<i64>().ok()), Some(42));
        p.finish().unwrap();
        let mut p = params(&[("limit", "201"), ("limit", "3")], &["limit"]);
        p.limit();
        assert_eq!(fields(p), ["limit", "limit"]);
        let mut p = params(&[("cursor", "!!")], &["cursor"]);
        assert!(p.cursor(|s| s.parse::<i64>().ok()).is_none());
        assert_eq!(fields(p), ["cursor"]);
    }
}
