//! `GET /.well-known/jwks.json`: every public key that still verifies (the signing key and retired ones).

use axum::{Json, Router, extract::State, http::header, response::IntoResponse, routing::get};

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route("/.well-known/jwks.json", get(jwks))
}

/// The JSON Web Key Set (RFC 7517; Ed25519 keys as OKP, RFC 8037).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    responses((status = 200, description = "The key set", content_type = "application/json", body = Object))
)]
pub async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        // Short: services refetch on an unknown kid anyway; a removed key should disappear soon.
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(state.keys.jwks().clone()),
    )
}
