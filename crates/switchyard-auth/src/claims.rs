//! The access token's claims: what identity signs and every service checks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `typ` of a user's access token. Anything else (a refresh token, a service token, an ID token from elsewhere)
/// is refused where a user is expected.
pub const TOKEN_TYPE_ACCESS: &str = "access";

/// `typ` of a service's access token (OAuth 2.0 client credentials, RFC 6749 §4.4). Refused where a user is
/// expected, and the only type accepted where a service is.
pub const TOKEN_TYPE_SERVICE: &str = "service";

/// The scope that lets a service read any user's permissions (identity's internal endpoint).
pub const SCOPE_PERMISSIONS_READ: &str = "permissions:read";

/// Tokens longer than this are refused before any parsing (nobody needs a bigger one; parsing costs memory).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    /// Unique token id.
    pub jti: Uuid,
    /// Must be [`TOKEN_TYPE_ACCESS`].
    pub typ: String,
    /// The user's permissions version when the token was issued: a cache entry older than this is stale.
    pub pv: i64,
    /// The session (refresh-token family) this token belongs to; logout revokes it.
    pub sid: Uuid,
}

/// A service token's claims: who the client is (`sub`, its client id) and what it may do (`scope`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceClaims {
    pub iss: String,
    pub aud: String,
    /// The client id (`identity create-client --name ...`).
    pub sub: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    pub jti: Uuid,
    /// Must be [`TOKEN_TYPE_SERVICE`].
    pub typ: String,
    /// Space-separated scopes (RFC 6749 §3.3), e.g. `permissions:read`.
    pub scope: String,
}

impl ServiceClaims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.split(' ').filter(|s| !s.is_empty())
    }
}
