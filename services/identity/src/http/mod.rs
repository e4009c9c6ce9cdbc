//! The HTTP API: one module per resource, each exposing its routes; [`router`] merges them with the common layers.
//!
//! Public (route through the ALB): `/v1/*`, `/.well-known/jwks.json`, `/openapi.json`, `/docs`, `/healthz`.
//! Internal (never route publicly; services reach it inside the VPC): `/internal/*`.

mod internal;
mod keys;
mod sessions;
mod users;

pub use users::create_user;

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts},
    http::request::Parts,
};
use switchyard_http::{ApiError, HttpSettings, openapi::BearerAuth, problem::Problem};
use utoipa::OpenApi;

use crate::app::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard identity",
        version = "1",
        description = "Users, sessions (EdDSA access tokens + rotating refresh tokens), permissions, JWKS."
    ),
    paths(
        users::signup,
        users::me,
        users::put_permissions,
        sessions::login,
        sessions::refresh,
        sessions::logout,
        keys::jwks,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Sign-up, profile, permissions"),
        (name = "sessions", description = "Login, refresh, logout"),
        (name = "keys", description = "Public keys for verifying access tokens"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document (also printed by `identity openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let api = Router::new()
        .merge(users::routes())
        .merge(sessions::routes())
        .merge(keys::routes())
        .merge(internal::routes())
        .with_state(state)
        .merge(switchyard_http::openapi::routes(openapi()));
    switchyard_http::with_common_layers(api, settings)
}

/// Logs the error chain (through `ApiError::Internal`) and answers an opaque 500.
pub(crate) fn internal(error: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(error.into())
}

/// The client's address, for throttling: the TCP peer, or (with `TRUST_X_FORWARDED_FOR`, behind the ALB) the last
/// `X-Forwarded-For` entry — the one the ALB appended; entries before it are client-controlled.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if state.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|v| v.trim().parse().ok())
        {
            return Ok(Self(ip));
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| Self(addr.ip()))
            .ok_or_else(|| {
                internal(anyhow::anyhow!(
                    "no peer address (serve without connect info?)"
                ))
            })
    }
}
