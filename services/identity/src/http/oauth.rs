//! `POST /v1/oauth/token`: service tokens by the OAuth 2.0 client credentials grant (RFC 6749 §4.4).
//!
//! The request is `application/x-www-form-urlencoded` (§4.4.2): `grant_type=client_credentials`, optionally
//! `scope` (space-separated; default: every scope of the client). The client authenticates with HTTP Basic
//! (`client_id:client_secret`, each form-encoded, §2.3.1) or with `client_id` and `client_secret` in the body, never
//! both. The answer is a short-lived EdDSA JWT with `typ` = `service`, `sub` = the client id and `scope` (§5.1,
//! `Cache-Control: no-store`). Errors are RFC 6749 §5.2 JSON (`{"error": "invalid_client", ...}`), not problem+json,
//! because OAuth clients parse that format: 400 `invalid_request` (malformed body, repeated parameter, two
//! authentication methods), `unsupported_grant_type`, `invalid_scope`; 401 `invalid_client` (unknown client, wrong
//! secret, no or unusable credentials) with `WWW-Authenticate: Basic realm="switchyard"`.
//!
//! Not routed by the ALB (its identity paths are `/v1/users*`, `/v1/sessions*` and the JWKS): only services inside
//! the VPC ask for tokens.

use std::collections::BTreeMap;

use axum::{
    Router,
    body::to_bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Serialize;
use switchyard_http::{ApiError, Json};
use utoipa::ToSchema;

use super::AppState;
use crate::tokens;

pub fn routes() -> Router<AppState> {
    Router::new().route("/v1/oauth/token", post(token))
}

/// The largest token request read (three short parameters and a secret fit many times).
const MAX_BODY: usize = 4096;

/// The token request (`application/x-www-form-urlencoded`).
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // documents the form; the handler parses the body itself (RFC 6749 errors, not problems)
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(example = "client_credentials")]
    grant_type: String,
    /// Space-separated scopes; default: every scope of the client.
    #[schema(example = "permissions:read")]
    scope: Option<String>,
    /// With `client_secret`, instead of HTTP Basic.
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceToken {
    /// EdDSA JWT (`typ` = `service`); send as `Authorization: Bearer <access_token>` to internal endpoints.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
}

/// RFC 6749 §5.2 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    UnsupportedGrantType,
    InvalidScope,
}

/// An RFC 6749 §5.2 error.
#[derive(Debug, Serialize, ToSchema)]
pub struct OAuthError {
    pub error: OAuthErrorCode,
    pub error_description: String,
}

impl OAuthError {
    fn new(error: OAuthErrorCode, description: impl Into<String>) -> Self {
        Self {
            error,
            error_description: description.into(),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let status = match self.error {
            OAuthErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        tracing::info!(error = ?self.error, description = %self.error_description, "token request refused");
        let mut response = (status, no_store(), Json(self)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="switchyard""#),
            );
        }
        response
    }
}

/// §5.1: tokens and errors must not be cached.
fn no_store() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

fn invalid_request(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidRequest, description)
}

fn invalid_client(description: impl Into<String>) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidClient, description)
}

/// What went wrong: an OAuth error for the client, or ours (an opaque problem+json 500/503).
enum Failure {
    OAuth(OAuthError),
    Internal(ApiError),
}

impl From<OAuthError> for Failure {
    fn from(e: OAuthError) -> Self {
        Self::OAuth(e)
    }
}

/// Issues a service token (client credentials).
#[utoipa::path(
    post,
    path = "/v1/oauth/token",
    tag = "oauth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded",
                 description = "Client authentication: HTTP Basic (client_id:client_secret) or client_id + client_secret in the body"),
    responses(
        (status = 200, description = "A service token", body = ServiceToken, content_type = "application/json"),
        (status = 400, description = "invalid_request, unsupported_grant_type or invalid_scope (RFC 6749 §5.2)", body = OAuthError, content_type = "application/json"),
        (status = 401, description = "invalid_client (RFC 6749 §5.2)", body = OAuthError, content_type = "application/json"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn token(State(state): State<AppState>, request: Request) -> Response {
    match issue(&state, request).await {
        Ok(token) => (StatusCode::OK, no_store(), Json(token)).into_response(),
        Err(Failure::OAuth(error)) => error.into_response(),
        Err(Failure::Internal(error)) => error.into_response(),
    }
}

async fn issue(state: &AppState, request: Request) -> Result<ServiceToken, Failure> {
    let (parts, body) = request.into_parts();
    let form_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(invalid_request("the body must be application/x-www-form-urlencoded").into());
    }
    let bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| invalid_request(format!("the body is unreadable or over {MAX_BODY} bytes")))?;
    let mut form = BTreeMap::new();
    for (name, value) in form_urlencoded::parse(&bytes) {
        if form.insert(name.to_string(), value.to_string()).is_some() {
            return Err(invalid_request(format!("{name} is given more than once")).into());
        }
    }
    match form.get("grant_type").map(String::as_str) {
        None => return Err(invalid_request("grant_type is missing").into()),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "only client_credentials is supported",
            )
            .into());
        }
    }
    let (client_id, secret) = credentials(&parts.headers, &form)?;
    let granted = state
        .clients
        .authenticate(&state.hasher, &client_id, &secret)
        .await
        .map_err(|e| Failure::Internal(ApiError::Internal(e.into())))?
        .ok_or_else(|| invalid_client("unknown client or wrong secret"))?
        .to_vec();
    let scope = match form
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()))
    {
        None => granted.clone(),
        Some(requested) => {
            let mut scopes: Vec<String> = requested.map(str::to_owned).collect();
            scopes.sort();
            scopes.dedup();
            if let Some(extra) = scopes.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    format!(
                        "this client may not ask for {:?}",
                        extra.chars().take(64).collect::<String>()
                    ),
                )
                .into());
            }
            if scopes.is_empty() {
                granted.clone()
            } else {
                scopes
            }
        }
    }
    .join(" ");
    let access_token = tokens::service_token(&state.keys, &state.tokens, &client_id, &scope)
        .map_err(|e| Failure::Internal(ApiError::Internal(e.into())))?;
    tracing::info!(%client_id, %scope, "service token issued");
    Ok(ServiceToken {
        access_token,
        token_type: "Bearer",
        expires_in: state.tokens.service_ttl.as_secs(),
        scope,
    })
}

/// The client's id and secret: HTTP Basic, or the body's `client_id` + `client_secret` (exactly one of the two).
fn credentials(
    headers: &HeaderMap,
    form: &BTreeMap<String, String>,
) -> Result<(String, String), OAuthError> {
    let in_body = form.contains_key("client_secret");
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
            _ => Err(invalid_client(
                "authenticate with HTTP Basic or client_id and client_secret",
            )),
        };
    };
    if values.next().is_some() {
        return Err(invalid_request("more than one Authorization header"));
    }
    if in_body {
        return Err(invalid_request(
            "use HTTP Basic or client_secret in the body, not both",
        ));
    }
    let unusable =
        || invalid_client("the Authorization header is not usable HTTP Basic credentials");
    let text = value.to_str().map_err(|_| unusable())?.trim();
    let (scheme, encoded) = text.split_once(' ').ok_or_else(unusable)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(unusable());
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| unusable())?;
    let decoded = String::from_utf8(decoded).map_err(|_| unusable())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(unusable)?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let id = decode(id);
    if let Some(body_id) = form.get("client_id")
        && *body_id != id
    {
        return Err(invalid_request(
            "client_id does not match the Basic credentials",
        ));
    }
    Ok((id, decode(secret)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn basic(raw: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(raw))).unwrap(),
        );
        h
    }

    #[test]
    fn client_authentication_by_basic_or_body_never_both() {
        assert_eq!(
            credentials(&basic("tasks:s%3Acret"), &form(&[])).unwrap(),
            ("tasks".into(), "s:cret".into())
        );
        assert_eq!(
            credentials(
                &HeaderMap::new(),
                &form(&[("client_id", "tasks"), ("client_secret", "x")])
            )
            .unwrap(),
            ("tasks".into(), "x".into())
        );
        let code = |r: Result<(String, String), OAuthError>| r.unwrap_err().error;
        assert_eq!(
            code(credentials(
                &basic("tasks:x"),
                &form(&[("client_secret", "y")])
            )),
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            code(credentials(
                &HeaderMap::new(),
                &form(&[("client_id", "tasks")])
            )),
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(
            code(credentials(&basic("no-colon"), &form(&[]))),
            OAuthErrorCode::InvalidClient
        );
        let mut bearer = HeaderMap::new();
        bearer.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(
            code(credentials(&bearer, &form(&[]))),
            OAuthErrorCode::InvalidClient
        );
        assert_eq!(
            code(credentials(
                &basic("tasks:x"),
                &form(&[("client_id", "mail")])
            )),
            OAuthErrorCode::InvalidRequest
        );
    }
}
