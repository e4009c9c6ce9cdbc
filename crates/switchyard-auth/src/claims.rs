//! The access token's claims: what identity signs and every service checks.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `typ` of an access token. Anything else (a refresh token, an ID token from elsewhere) is refused.
pub const TOKEN_TYPE_ACCESS: &str = "access";

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
