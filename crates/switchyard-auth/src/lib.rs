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
//! - [`extract`]: [`Auth`] (the shared state: verifier + permission resolver) and the [`AuthUser`] extractor.
//!
//! Environment (see [`AuthConfig::from_env`]): `IDENTITY_URL`, `JWT_ISSUER`, `JWT_AUDIENCE`, `REDIS_URL`,
//! `REDIS_KEY_PREFIX`.

pub mod claims;
pub mod extract;
pub mod jwks;
pub mod permissions;
pub mod redis;
pub mod verify;

pub use claims::{AccessClaims, MAX_TOKEN_BYTES, TOKEN_TYPE_ACCESS};
pub use extract::{Auth, AuthConfig, AuthUser};
pub use permissions::{PermissionSource, Permissions};
