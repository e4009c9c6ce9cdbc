//! Serving: settings from the environment, the layers every service wears, and a server that stops gracefully.
//!
//! Environment: `HTTP_ADDR` (the service's default locally, `0.0.0.0:8080` in ECS), `CORS_ALLOWED_ORIGINS`
//! (comma-separated origins such as `https://app.example.com`, or `*`; unset = no cross-origin access),
//! `HTTP_BODY_LIMIT_BYTES` (default 64 KiB).

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use switchyard_core::{
    config::{self, ConfigError, Var},
    trace::TRACEPARENT,
};
use tokio::net::TcpListener;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::problem::{ApiError, PROBLEM_JSON};

/// Default request body limit: generous for JSON APIs, small enough that nobody streams megabytes at us.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

pub const HTTP_ADDR: Var = Var::new(
    "HTTP_ADDR",
    "address to listen on; 0.0.0.0:8080 in ECS (the container port)",
)
.example("127.0.0.1:8080");
pub const CORS_ALLOWED_ORIGINS: Var = Var::new(
    "CORS_ALLOWED_ORIGINS",
    "comma-separated browser origins allowed to call (https://app.example.com), or *; unset = none",
)
.example("https://app.example.com");
pub const HTTP_BODY_LIMIT_BYTES: Var =
    Var::new("HTTP_BODY_LIMIT_BYTES", "largest request body accepted").example("65536");

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub addr: SocketAddr,
    /// Origins allowed to call from a browser; empty = no CORS headers at all.
    pub cors_allowed_origins: Vec<HeaderValue>,
    /// `*` in `CORS_ALLOWED_ORIGINS`: any origin (we use bearer tokens, never cookies, so this leaks nothing).
    pub cors_any_origin: bool,
    pub body_limit: usize,
}

impl HttpSettings {
    /// Reads `HTTP_ADDR` (default `default_addr`), `CORS_ALLOWED_ORIGINS`, `HTTP_BODY_LIMIT_BYTES`.
    pub fn from_env(default_addr: SocketAddr) -> Result<Self, ConfigError> {
        let origins = config::optional(&CORS_ALLOWED_ORIGINS)?.unwrap_or_default();
        let mut settings = Self {
            addr: config::parsed(&HTTP_ADDR, default_addr)?,
            cors_allowed_origins: Vec::new(),
            cors_any_origin: false,
            body_limit: config::parsed(&HTTP_BODY_LIMIT_BYTES, DEFAULT_BODY_LIMIT)?,
        };
        for origin in origins.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            if origin == "*" {
                settings.cors_any_origin = true;
                continue;
            }
            let valid = (origin.starts_with("https://") || origin.starts_with("http://"))
                && !origin
                    .trim_end_matches('/')
                    .contains(|c: char| c.is_whitespace())
                && !origin.ends_with('/');
            let value = HeaderValue::from_str(origin).ok().filter(|_| valid);
            match value {
                Some(v) => settings.cors_allowed_origins.push(v),
                None => {
                    return Err(ConfigError::Invalid {
                        name: CORS_ALLOWED_ORIGINS.name.into(),
                        value: origins.clone(),
                        reason: format!(
                            "{origin:?} is not an origin like https://app.example.com (scheme://host[:port], no path)"
                        ),
                    });
                }
            }
        }
        Ok(settings)
    }

    /// Settings for tests: the given address, no CORS, the default body limit.
    pub fn local(addr: SocketAddr) -> Self {
        Self {
            addr,
            cors_allowed_origins: Vec::new(),
            cors_any_origin: false,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    fn cors(&self) -> Option<CorsLayer> {
        let origin = if self.cors_any_origin {
            AllowOrigin::any()
        } else if !self.cors_allowed_origins.is_empty() {
            AllowOrigin::list(self.cors_allowed_origins.clone())
        } else {
            return None;
        };
        Some(
            CorsLayer::new()
                .allow_origin(origin)
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::PATCH,
                    Method::DELETE,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    HeaderName::from_static(TRACEPARENT),
                ])
                .expose_headers([header::RETRY_AFTER, header::ETAG, header::WWW_AUTHENTICATE])
                .max_age(Duration::from_secs(600)),
        )
    }
}

/// Adds `/healthz`, the problem+json 404 fallback, problem+json for every other error the framework answers
/// (see [`problem_for_framework_errors`]), the body limit, CORS and the per-request trace span.
pub fn with_common_layers(router: Router, settings: &HttpSettings) -> Router {
    switchyard_core::metric::declare(crate::metrics::ALL);
    let router = router
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { ApiError::NotFound })
        .layer(DefaultBodyLimit::max(settings.body_limit))
        .layer(axum::middleware::from_fn(problem_for_framework_errors))
        .layer(axum::middleware::from_fn(crate::trace::layer));
    match settings.cors() {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// Largest framework error body kept as the problem's `detail` (axum's rejection texts are one line).
const MAX_DETAIL_BYTES: usize = 1024;

/// Middleware: an error answer that is not already a problem document (or deliberate JSON) becomes one, keeping its
/// status and headers.
/// Handlers answer problems themselves ([`ApiError`]); this catches what the framework answers on its own: 405 for
/// a known path with another method (empty body; `Allow` is kept), and any plain-text rejection of an axum
/// extractor. A 4xx's plain text becomes the `detail`; a 5xx's body is dropped (it is for logs, not clients).
pub async fn problem_for_framework_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // A problem document, or a JSON error a handler chose on purpose (RFC 6749's token errors), stays as it is.
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(PROBLEM_JSON) || v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let plain = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    let detail = if status.is_client_error() && plain {
        axum::body::to_bytes(body, MAX_DETAIL_BYTES)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .filter(|s| !s.trim().is_empty())
    } else {
        None
    };
    let detail = detail.or_else(|| {
        (status == StatusCode::METHOD_NOT_ALLOWED)
            .then(|| "this path does not support the method; see Allow".to_owned())
    });
    let mut problem = ApiError::Status { status, detail }.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

/// Serves `router` on `listener` until `shutdown` completes, then lets in-flight requests finish and writes the
/// telemetry still aggregated (the last metrics interval, buffered spans).
/// Handlers can extract `ConnectInfo<SocketAddr>` (the peer address, for throttling).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    switchyard_core::telemetry::flush();
    served
}

/// The `healthcheck` subcommand of an HTTP service: GET `/healthz` on `HTTP_ADDR` (a wildcard address is probed on
/// 127.0.0.1), exit 0 only on 200.
pub async fn healthcheck(default_addr: SocketAddr) -> ExitCode {
    let addr = match config::parsed(&HTTP_ADDR, default_addr) {
        Ok(a) => a,
        Err(_) => return ExitCode::FAILURE,
    };
    let probe = if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    };
    switchyard_core::health::check(&probe.to_string()).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn healthz_and_problem_404() {
        let app = with_common_layers(
            Router::new(),
            &HttpSettings::local(([127, 0, 0, 1], 0).into()),
        );
        let ok = app
            .clone()
            .oneshot(
                axum::http::Request::get("/healthz")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        let missing = app
            .oneshot(
                axum::http::Request::get("/nope")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.headers()[header::CONTENT_TYPE],
            crate::problem::PROBLEM_JSON
        );
    }

    #[tokio::test]
    async fn framework_errors_are_problems_too() {
        use axum::routing::post;
        let app = with_common_layers(
            Router::new()
                .route("/things", post(|| async { "made" }))
                .route(
                    "/plain",
                    get(|| async { (StatusCode::BAD_REQUEST, "plain text rejection") }),
                ),
            &HttpSettings::local(([127, 0, 0, 1], 0).into()),
        );
        let call = |method: Method, uri: &'static str| {
            app.clone().oneshot(
                axum::http::Request::builder()
                    .method(method)
                    .uri(uri)
                    .body(Body::empty())
                    .unwrap(),
            )
        };
        let r = call(Method::DELETE, "/things").await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(r.headers()[header::ALLOW], "POST");
        let r = call(Method::GET, "/plain").await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(r.into_body(), 4096).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["detail"], "plain text rejection");
        assert_eq!(body["status"], 400);
        let r = call(Method::POST, "/things").await.unwrap();
        assert_eq!(r.status(), 200);
    }

    #[tokio::test]
    async fn cors_allows_configured_origins_and_the_authorization_header() {
        let mut settings = HttpSettings::local(([127, 0, 0, 1], 0).into());
        settings.cors_allowed_origins = vec![HeaderValue::from_static("https://app.example.com")];
        let app = with_common_layers(Router::new(), &settings);
        let preflight = app
            .oneshot(
                axum::http::Request::builder()
                    .method(Method::OPTIONS)
                    .uri("/healthz")
                    .header(header::ORIGIN, "https://app.example.com")
                    .header(header::ACCESS_CONTROL_REQUEST_METHOD, "GET")
                    .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(
            preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example.com"
        );
        let allowed = preflight.headers()[header::ACCESS_CONTROL_ALLOW_HEADERS]
            .to_str()
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization"), "{allowed}");
    }
}
