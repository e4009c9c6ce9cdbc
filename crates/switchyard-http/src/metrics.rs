//! The request metrics every HTTP service emits (recorded by the [`crate::trace`] layer), by route: the method and
//! the matched route template (`PATCH /v1/tasks/{id}`), never the raw path, so one series per endpoint; requests
//! that match no route are `unmatched`. `/healthz` is not counted (health checks would drown the traffic).

use switchyard_core::metric::{Metric, Unit};

/// Each metric by route, and rolled up per service.
const BY_ROUTE: &[&[&str]] = &[&["Route"], &[]];

pub const REQUEST_COUNT: Metric = Metric::counter(
    "RequestCount",
    "HTTP requests answered (any status), by route",
)
.dimensions(BY_ROUTE);
pub const REQUEST_LATENCY: Metric = Metric::histogram(
    "RequestLatency",
    Unit::Milliseconds,
    "time from a request's arrival to its response, by route (p50/p99 on the dashboard)",
)
.dimensions(BY_ROUTE);
pub const HTTP_5XX_COUNT: Metric = Metric::counter(
    "Http5xxCount",
    "responses with a 5xx status (the service failed), by route",
)
.dimensions(BY_ROUTE);
pub const HTTP_4XX_COUNT: Metric = Metric::counter(
    "Http4xxCount",
    "responses with a 4xx status (the caller's request was refused), by route",
)
.dimensions(BY_ROUTE);

/// Every metric of this crate.
pub const ALL: &[Metric] = &[
    REQUEST_COUNT,
    REQUEST_LATENCY,
    HTTP_5XX_COUNT,
    HTTP_4XX_COUNT,
];

/// The route label of a request: `<METHOD> <template>`, `unmatched` without a template; a method outside the
/// standard ones is `OTHER` (methods are client-chosen tokens: an unbounded label otherwise).
pub fn route_label(method: &http::Method, template: Option<&str>) -> String {
    let Some(template) = template else {
        return "unmatched".to_owned();
    };
    let method = match *method {
        http::Method::GET
        | http::Method::HEAD
        | http::Method::POST
        | http::Method::PUT
        | http::Method::PATCH
        | http::Method::DELETE
        | http::Method::OPTIONS => method.as_str(),
        _ => "OTHER",
    };
    format!("{method} {template}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_with_bounded_methods() {
        assert_eq!(
            route_label(&http::Method::PATCH, Some("/v1/tasks/{id}")),
            "PATCH /v1/tasks/{id}"
        );
        let odd = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(route_label(&odd, Some("/v1/tasks")), "OTHER /v1/tasks");
        assert_eq!(route_label(&http::Method::GET, None), "unmatched");
    }
}
