//! The HTTP API: one module per resource, each exposing its routes; [`router`] merges them with the common layers.
//!
//! Public (route through the ALB): `/v1/users*`, `/v1/sessions*`, `/.well-known/jwks.json`, `/openapi.json`,
//! `/docs`, `/healthz`. Service to service (inside the VPC; the ALB routes neither): `POST /v1/oauth/token` (client
//! credentials) and `/internal/*` (needs a service token).
//!
//! [`AppState`] lives here, beside the router that hands it to the handlers; `app` builds it.

mod internal;
mod keys;
mod oauth;
mod sessions;
mod users;

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use axum::{
    Router,
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{HeaderMap, request::Parts},
};
use sqlx::PgPool;
use switchyard_auth::Auth;
use switchyard_http::{
    ApiError, HttpSettings,
    openapi::{BearerAuth, ProblemResponses},
    problem::Problem,
};
use utoipa::OpenApi;

use crate::{
    app::DbPermissions, clients::ClientRegistry, keys::SigningKeys, password::Hasher,
    profiles::ProfileCache, throttle::LoginThrottle, tokens::TokenSettings,
};

/// Shared by every handler (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub keys: Arc<SigningKeys>,
    pub auth: Auth,
    pub permissions: DbPermissions,
    pub hasher: Hasher,
    /// Immutable user fields for `/v1/users/me` (see [`crate::profiles`]).
    pub profiles: Arc<ProfileCache>,
    pub throttle: LoginThrottle,
    pub tokens: Arc<TokenSettings>,
    /// The service accounts of the token endpoint.
    pub clients: Arc<ClientRegistry>,
    /// Proxies in front that append the client address to `X-Forwarded-For` (see [`ClientAddr`]).
    pub trusted_proxy_hops: usize,
}

impl FromRef<AppState> for Auth {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

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
        oauth::token,
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "users", description = "Sign-up, profile, permissions"),
        (name = "sessions", description = "Login, refresh, logout"),
        (name = "keys", description = "Public keys for verifying access tokens"),
        (name = "oauth", description = "Service tokens (OAuth 2.0 client credentials; errors as RFC 6749 §5.2, not problem+json)"),
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
        .merge(oauth::routes())
        .merge(internal::routes())
        .with_state(state)
        .merge(switchyard_http::openapi::routes(openapi));
    switchyard_http::with_common_layers(api, settings)
}

/// The client's address, for throttling: the TCP peer, or, behind `TRUSTED_PROXY_HOPS` proxies, the address the
/// outermost trusted proxy saw (see [`forwarded_client`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if state.trusted_proxy_hops > 0 {
            match forwarded_client(&parts.headers, state.trusted_proxy_hops) {
                Some(ip) => return Ok(Self(ip)),
                // A trusted proxy always appends: without the header this request did not come through it.
                None => tracing::warn!(
                    ?peer,
                    "no usable X-Forwarded-For entry from a trusted proxy; throttling by the peer address"
                ),
            }
        }
        peer.map(Self).ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "no peer address (serve without connect info?)"
            ))
        })
    }
}

/// The client's address from `X-Forwarded-For` behind `hops` trusted proxies (the ALB is one).
///
/// Each proxy appends the address of the peer it received the request from, so the right-most `hops` entries were
/// written by trusted proxies and the `hops`-th from the right is the address the outermost one saw: the client.
/// Everything left of it came from the client and proves nothing (an attacker can put any address there, to blame
/// someone else or to look like a new client each time). With fewer entries than `hops` every entry came from a
/// proxy and the left-most is taken. Several header lines count as one comma-separated list. `None` when `hops` is
/// 0, the header is absent, or the chosen entry is not an address (`ip` or `ip:port`).
pub fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return None;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let chosen = entries.get(entries.len().saturating_sub(hops))?;
    chosen
        .parse::<IpAddr>()
        .ok()
        .or_else(|| chosen.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::forwarded_client;

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    fn client(lines: &[&str], hops: usize) -> Option<String> {
        forwarded_client(&xff(lines), hops).map(|ip| ip.to_string())
    }

    #[test]
    fn behind_the_alb_the_last_entry_is_the_client() {
        assert_eq!(client(&["203.0.113.7"], 1).as_deref(), Some("203.0.113.7"));
        // Whatever the client sent comes first; the ALB's entry is the last.
        assert_eq!(
            client(&["10.0.0.1, 198.51.100.2, 203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&["10.0.0.1", "203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7"),
            "several header lines are one list"
        );
    }

    #[test]
    fn with_two_proxies_the_second_entry_from_the_right() {
        // client -> CloudFront (appends the client) -> ALB (appends CloudFront's edge address)
        assert_eq!(
            client(&["6.6.6.6, 203.0.113.7, 130.176.0.1"], 2).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            client(&["203.0.113.7"], 2).as_deref(),
            Some("203.0.113.7"),
            "fewer entries than hops: all came from proxies"
        );
    }

    #[test]
    fn ports_ipv6_and_garbage() {
        assert_eq!(
            client(&["203.0.113.7:4711"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(client(&["2001:db8::1"], 1).as_deref(), Some("2001:db8::1"));
        assert_eq!(
            client(&["[2001:db8::1]:443"], 1).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(client(&["203.0.113.7, not-an-ip"], 1), None);
        // A garbage entry on the client's side is irrelevant.
        assert_eq!(
            client(&["not-an-ip, 203.0.113.7"], 1).as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(client(&[], 1), None);
        assert_eq!(
            client(&["203.0.113.7"], 0),
            None,
            "no trusted proxy: never trust the header"
        );
    }
}
