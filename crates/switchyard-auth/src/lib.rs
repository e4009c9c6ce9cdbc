//! Authentication and authorization for every Switchyard HTTP service.
//!
//! A handler takes [`AuthUser`] and calls `user.require("tasks:write")?`:
//!
//! - [`verify`]: the bearer token (header only; query-string tokens are refused) must be at most 8 KiB, three
//!   segments, `alg` EdDSA (pinned: `none`, HS256 & co. never reach a key), a `kid` known from identity's JWKS
//!   ([`jwks`]: cached, refreshed on an unknown `kid` at most every `JWKS_MIN_REFRESH_SECONDS`), and `iss`, `aud`,
//!   `exp`, `nbf` and `typ` = `access` ([`claims`]); exactly one `Authorization` header. Every failure is the same
//!   401 (`WWW-Authenticate: Bearer realm="switchyard", error="invalid_token"` + problem+json); the reason is
//!   logged at debug level only. A request with no credentials at all gets the bare challenge
//!   `Bearer realm="switchyard"` (RFC 6750 §3.1: no error code).
//! - [`permissions`]: the user's permissions and their version come from Redis (`{REDIS_KEY_PREFIX}perms:{user}`).
//!   On a miss, or when the token carries a newer version than the cache, the [`permissions::PermissionSource`]
//!   (identity's internal endpoint, or identity's own database inside identity) answers and refills Redis. When
//!   Redis fails, nothing is granted from anything but the source of truth: the request goes to the source under a
//!   rate limit, or gets 503 with `Retry-After`. The connection ([`redis`]) reconnects by itself.
//! - [`local`]: the permissions in process memory, kept true by Redis's client-side caching (`CLIENT TRACKING`
//!   invalidations on a dedicated RESP3 connection), so a request is authorised without a Redis round trip and a
//!   revocation still takes effect on the next one.
//! - [`extract`]: [`Auth`] (the shared state: verifier + permission resolver), the [`AuthUser`] extractor (a
//!   user's access token) and the [`ServiceCaller`] extractor (a service's token, `typ` = `service`, with scopes).
//!   Neither ever accepts the other's token.
//! - [`client`]: a service's own token from identity (OAuth 2.0 client credentials), cached, refreshed before it
//!   expires, fetched once however many requests need it; the remote permission source presents it.
//!
//! Environment (see [`AuthConfig::from_env`]): `IDENTITY_URL`, `IDENTITY_CLIENT_ID`, `IDENTITY_CLIENT_SECRET`,
//! `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`, `REDIS_KEY_PREFIX`, `PERMISSIONS_LOCAL_CACHE`.

pub mod claims;
pub mod client;
pub mod extract;
pub mod jwks;
pub mod local;
pub mod permissions;
pub mod redis;
pub mod verify;

pub use claims::{
    AccessClaims, MAX_TOKEN_BYTES, SCOPE_PERMISSIONS_READ, ServiceClaims, TOKEN_TYPE_ACCESS,
    TOKEN_TYPE_SERVICE,
};
pub use client::ClientCredentials;
pub use extract::{Auth, AuthConfig, AuthUser, ServiceCaller};
pub use permissions::{PermissionSource, Permissions};
