//! One span per request, carrying the W3C trace context, and the request metrics.
//!
//! The middleware continues an incoming `traceparent` (or starts a trace), records `trace_id` on the request's span
//! (so every log line of the request carries it) and stores the server-side context in the request's extensions.
//! Handlers take it with the [`Trace`] extractor and hand it to `switchyard_outbox::enqueue`, so the events a
//! request causes stay in its trace. When traces are exported (`switchyard_core::otel`) the span is an OpenTelemetry
//! server span named `<METHOD> <route template>` and the context handlers get is that span's own. Every request but
//! `/healthz` counts in [`crate::metrics`].

use std::{convert::Infallible, time::Instant};

use axum::{
    extract::{FromRequestParts, MatchedPath, Request},
    http::request::Parts,
    middleware::Next,
    response::Response,
};
use switchyard_core::{
    otel,
    trace::{TRACEPARENT, TraceContext},
};
use tracing::{Instrument, field};

use crate::metrics;

/// The trace context of the current request (this server's span; its parent is the caller's, if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace(pub TraceContext);

impl<S: Send + Sync> FromRequestParts<S> for Trace {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Trace>()
            .copied()
            // Outside the middleware (a router built without the layers): a new trace rather than none.
            .unwrap_or_else(|| Trace(TraceContext::new_root())))
    }
}

/// Context for a request: the incoming `traceparent`'s child, or a new root when absent or malformed.
pub fn context_of(headers: &axum::http::HeaderMap) -> TraceContext {
    parent_of(headers)
        .map(|parent| parent.child())
        .unwrap_or_else(TraceContext::new_root)
}

/// The caller's context: a well-formed incoming `traceparent`.
pub fn parent_of(headers: &axum::http::HeaderMap) -> Option<TraceContext> {
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
}

/// Health checks (ECS, the ALB) get a span of this name, which is neither exported nor counted.
pub const HEALTH_SPAN: &str = "health_check";

/// Middleware (`axum::middleware::from_fn(trace::layer)`): span, context, one log line per finished request, metrics.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let parent = parent_of(request.headers());
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let health = template.as_deref() == Some("/healthz");
    let route = template.as_deref().unwrap_or_else(|| request.uri().path());
    let span = if health {
        tracing::info_span!(
            HEALTH_SPAN,
            method = %request.method(),
            route,
            trace_id = field::Empty,
            span_id = field::Empty,
        )
    } else {
        tracing::info_span!(
            "http_request",
            method = %request.method(),
            route,
            trace_id = field::Empty,
            span_id = field::Empty,
            otel.kind = "server",
            otel.name = field::Empty,
            otel.status_code = field::Empty,
            http.response.status_code = field::Empty,
        )
    };
    // Only when something uses it: without metrics and traces a request costs what it did before.
    let label = (!health && (switchyard_core::metric::enabled() || otel::enabled()))
        .then(|| metrics::route_label(request.method(), template.as_deref()));
    if otel::enabled()
        && let Some(label) = &label
    {
        span.record("otel.name", label.as_str());
    }
    let ctx = otel::continue_trace(&span, parent.as_ref());
    span.record("trace_id", ctx.trace_id_hex());
    span.record("span_id", ctx.span_id_hex());
    request.extensions_mut().insert(Trace(ctx));
    let started = Instant::now();
    async move {
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let elapsed = started.elapsed();
        let latency_us = elapsed.as_micros() as u64;
        if response.status().is_server_error() {
            tracing::warn!(status, latency_us, "request finished");
        } else {
            tracing::info!(status, latency_us, "request finished");
        }
        if let Some(label) = label {
            let span = tracing::Span::current();
            span.record("http.response.status_code", status);
            let labels = [label.as_str()];
            metrics::REQUEST_COUNT.add(1, &labels);
            metrics::REQUEST_LATENCY.record(elapsed.as_secs_f64() * 1000.0, &labels);
            if response.status().is_server_error() {
                span.record("otel.status_code", "error");
                metrics::HTTP_5XX_COUNT.add(1, &labels);
            } else if response.status().is_client_error() {
                metrics::HTTP_4XX_COUNT.add(1, &labels);
            }
        }
        response
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continues_an_incoming_trace_or_starts_one() {
        let mut headers = axum::http::HeaderMap::new();
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        headers.insert(TRACEPARENT, parent.parse().unwrap());
        let ctx = context_of(&headers);
        assert_eq!(ctx.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        assert_ne!(ctx.span_id_hex(), "b7ad6b7169203331");
        headers.insert(TRACEPARENT, "garbage".parse().unwrap());
        assert_ne!(
            context_of(&headers).trace_id_hex(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }
}
