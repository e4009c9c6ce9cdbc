//! OpenAPI 3.1 documents generated from the code (utoipa) and Swagger UI to try them.
//!
//! Swagger UI is the `vendored` build of utoipa-swagger-ui: its assets come from the `utoipa-swagger-ui-vendored`
//! crate on crates.io, so the build downloads nothing from GitHub and the UI is served from the service's own
//! origin (no CDN at run time either). The "Authorize" button takes an access token (security scheme `bearer`).
//! [`ProblemResponses`] documents the error answers every operation can get (all `application/problem+json`), so a
//! fuzzer holding the document to it (`make test` runs schemathesis) finds only real deviations.

use axum::Router;
use utoipa::{
    Modify,
    openapi::{
        ContentBuilder, OpenApi, Ref, RefOr, Response,
        path::{Operation, Parameter, ParameterIn},
        security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme},
    },
};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::problem::{PROBLEM_JSON, Problem};

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

/// `GET /openapi.json` and Swagger UI under `/docs`, which reads it.
///
/// The document is built by `spec` on each request rather than once at start-up and kept: it is asked for by people
/// and fuzzers, not by clients, and building it at start-up kept the generated builder code (~380 KiB in identity)
/// and the document itself resident in every idle process (issue #12's idle RSS).
pub fn routes(spec: fn() -> OpenApi) -> Router {
    let config = Config::from("/openapi.json").persist_authorization(true);
    Router::new()
        .route(
            "/openapi.json",
            axum::routing::get(move || async move { axum::Json(spec()) }),
        )
        .merge(SwaggerUi::new("/docs").config(config))
}

/// Documents the error answers every operation can get, so the document describes what clients (and fuzzers) see:
/// use with `#[openapi(modifiers(&BearerAuth, &ProblemResponses))]`.
///
/// - every 4xx/5xx response is `application/problem+json` with the [`Problem`] schema (handlers annotate their
///   own errors with a description; the media type and schema are set here, once);
/// - each operation also lists what the platform answers before its handler runs: 400 (an unreadable query string,
///   header or body), 404 with path parameters (a segment that names nothing, see [`crate::Path`]), 413/415/422
///   with a request body, 422 with query parameters, 401/403 when it needs a token, and 503 (a dependency such as
///   Redis is unavailable; `Retry-After` says when to try again).
#[derive(Debug, Clone, Copy)]
pub struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut schemas = vec![(
            "Problem".to_owned(),
            <Problem as utoipa::PartialSchema>::schema(),
        )];
        <Problem as utoipa::ToSchema>::schemas(&mut schemas);
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        for item in openapi.paths.paths.values_mut() {
            let shared = item.parameters.clone().unwrap_or_default();
            for op in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
                item.head.as_mut(),
                item.options.as_mut(),
                item.trace.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                document_errors(op, &shared, secured_by_default);
            }
        }
    }
}

fn document_errors(op: &mut Operation, shared: &[Parameter], secured_by_default: bool) {
    let params: Vec<&Parameter> = shared
        .iter()
        .chain(op.parameters.iter().flatten())
        .collect();
    let has = |place: ParameterIn| params.iter().any(|p| p.parameter_in == place);
    let secured = match &op.security {
        None => secured_by_default,
        // `security(())` (an empty requirement) makes a token optional.
        Some(requirements) => requirements
            .iter()
            .any(|r| *r != SecurityRequirement::default()),
    };
    // 413/415/422 come from the JSON extractor; a form body (the OAuth token endpoint) documents its own errors.
    let body = op
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.keys().any(|media| media.contains("json")));
    let mut add = vec![(
        "400",
        "Malformed request: an unreadable query string, header or JSON body",
    )];
    if has(ParameterIn::Path) {
        add.push((
            "404",
            "Not found (also: a path segment that cannot name one)",
        ));
    }
    if body {
        add.push(("413", "The body is larger than the limit"));
        add.push(("415", "The body is not application/json"));
    }
    if body || has(ParameterIn::Query) {
        add.push(("422", "Invalid input; `errors` names each offending field"));
    }
    if secured {
        add.push((
            "401",
            "No access token (bare `WWW-Authenticate: Bearer` challenge) or an invalid one",
        ));
        add.push(("403", "The token's user lacks the permission"));
    }
    add.push((
        "503",
        "A dependency is unavailable; retry after `Retry-After` seconds",
    ));
    let responses = &mut op.responses.responses;
    for (status, description) in add {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(Response::new(description)));
    }
    for (status, response) in responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response)
            && documents_a_problem(response)
        {
            response.content = [(
                PROBLEM_JSON.to_owned(),
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )]
            .into_iter()
            .collect();
        }
    }
}

/// Whether an error response is (or should become) a problem document: anything but a reference to another
/// component. An operation whose errors have a format of their own (RFC 6749's `{"error": ...}`, the `OAuthError`
/// component) keeps them.
fn documents_a_problem(response: &Response) -> bool {
    response
        .content
        .values()
        .all(|content| match &content.schema {
            Some(RefOr::Ref(r)) => r.ref_location.ends_with("/Problem"),
            _ => true,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[test]
    fn problem_responses_document_every_error_as_problem_json() {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(get_thing, put_thing), modifiers(&BearerAuth, &ProblemResponses))]
        struct Doc;
        /// A read.
        #[utoipa::path(get, path = "/things/{id}", params(("id" = String, Path)),
            security(("bearer" = [])), responses((status = 200, description = "The thing")))]
        #[allow(dead_code)]
        fn get_thing() {}
        /// A write.
        #[utoipa::path(put, path = "/things", request_body(content = String, content_type = "application/json"),
            responses((status = 200, description = "Put"), (status = 409, body = String, description = "Taken")))]
        #[allow(dead_code)]
        fn put_thing() {}

        let doc = serde_json::to_value(<Doc as utoipa::OpenApi>::openapi()).unwrap();
        let statuses = |path: &str, method: &str| -> Vec<String> {
            doc["paths"][path][method]["responses"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(
            statuses("/things/{id}", "get"),
            ["200", "400", "401", "403", "404", "503"]
        );
        assert_eq!(
            statuses("/things", "put"),
            ["200", "400", "409", "413", "415", "422", "503"]
        );
        let taken = &doc["paths"]["/things"]["put"]["responses"]["409"];
        assert_eq!(taken["description"], "Taken");
        assert_eq!(
            taken["content"][PROBLEM_JSON]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert!(taken["content"].get("application/json").is_none());
        assert!(doc["components"]["schemas"]["Problem"].is_object());
        assert!(doc["components"]["schemas"]["FieldError"].is_object());
    }

    /// An operation whose errors have their own format (RFC 6749's token endpoint: a form body, `OAuthError`)
    /// keeps them: no problem+json over them, no 413/415/422 of the JSON extractor it does not use.
    #[test]
    fn errors_of_another_format_are_kept() {
        #[derive(utoipa::ToSchema)]
        #[allow(dead_code)]
        struct OAuthError {
            error: String,
        }
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(token), modifiers(&BearerAuth, &ProblemResponses))]
        struct Doc;
        #[utoipa::path(post, path = "/token",
            request_body(content = String, content_type = "application/x-www-form-urlencoded"),
            responses((status = 200, description = "A token"),
                      (status = 400, description = "invalid_request", body = OAuthError, content_type = "application/json")))]
        #[allow(dead_code)]
        fn token() {}

        let doc = serde_json::to_value(<Doc as utoipa::OpenApi>::openapi()).unwrap();
        let responses = &doc["paths"]["/token"]["post"]["responses"];
        let statuses: Vec<&String> = responses.as_object().unwrap().keys().collect();
        assert_eq!(statuses, ["200", "400", "503"]);
        assert_eq!(
            responses["400"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/OAuthError"
        );
        assert!(responses["400"]["content"].get(PROBLEM_JSON).is_none());
        assert!(responses["503"]["content"].get(PROBLEM_JSON).is_some());
    }

    #[tokio::test]
    async fn swagger_ui_is_served_under_docs() {
        let app = crate::with_common_layers(
            routes(OpenApi::default),
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
