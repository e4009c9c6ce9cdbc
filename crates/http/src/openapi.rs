//! OpenAPI 3.1 documents generated from the code (utoipa) and Swagger UI to try them.
//!
//! Swagger UI is the `vendored` build of utoipa-swagger-ui: its assets come from the `utoipa-swagger-ui-vendored`
//! crate on crates.io, so the build downloads nothing from GitHub and the UI is served from the service's own
//! origin (no CDN at run time either). The "Authorize" button takes an access token (security scheme `bearer`).

use axum::Router;
use utoipa::{
    Modify,
    openapi::{
        OpenApi,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Name of the security scheme that operations reference (`security(("bearer" = []))`).
pub const BEARER: &str = "bearer";

/// Adds the `bearer` (JWT) security scheme; use with `#[openapi(modifiers(&BearerAuth))]`.
#[derive(Debug, Clone, Copy)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from POST /v1/sessions (identity service)",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /openapi.json` and Swagger UI under `/docs`.
pub fn routes(spec: OpenApi) -> Router {
    let config = Config::from("/openapi.json").persist_authorization(true);
    Router::new().merge(
        SwaggerUi::new("/docs")
            .url("/openapi.json", spec)
            .config(config),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn swagger_ui_is_served_under_docs() {
        let app = crate::with_common_layers(
            routes(OpenApi::default()),
            &crate::HttpSettings::local(([127, 0, 0, 1], 0).into()),
        );
        for (uri, status) in [("/docs/", 200), ("/openapi.json", 200)] {
            let r = app
                .clone()
                .oneshot(axum::http::Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let s = r.status();
            let b = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            assert_eq!(
                s,
                status,
                "{uri}: {}",
                String::from_utf8_lossy(&b[..b.len().min(300)])
            );
        }
    }
}
