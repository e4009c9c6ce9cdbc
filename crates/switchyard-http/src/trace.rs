//! One span per request, carrying the W3C trace context.
//!
//! The middleware continues an incoming `traceparent` (or starts a trace), records `trace_id` on the request's span
//! (so every log line of the request carries it) and stores the server-side context in the request's extensions.
//! Handlers take it with the [`Trace`] extractor and hand it to `switchyard_outbox::enqueue`, so the events a
//! request causes stay in its trace.

use std::{convert::Infallible, time::Instant};

use axum::{
    extract::{FromRequestParts, MatchedPath, Request},
    http::request::Parts,
    middleware::Next,
    response::Response,
};
use switchyard_core::trace::{TRACEPARENT, TraceContext};
use tracing::Instrument;

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
    headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|parent| parent.child())
        .unwrap_or_else(TraceContext::new_root)
}

/// Middleware (`axum::middleware::from_fn(trace::layer)`): span, context, one log line per finished request.
pub async fn layer(mut request: Request, next: Next) -> Response {
    let ctx = context_of(request.headers());
    request.extensions_mut().insert(Trace(ctx));
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "http_request",
        method = %request.method(),
        route = route.as_deref().unwrap_or_else(|| request.uri().path()),
        trace_id = %ctx.trace_id_hex(),
        span_id = %ctx.span_id_hex(),
    );
    let started = Instant::now();
    async move {
        let response = next.run(request).await;
        let status = response.status().as_u16();
        let latency_us = started.elapsed().as_micros() as u64;
        if response.status().is_server_error() {
            tracing::warn!(status, latency_us, "request finished");
        } else {
            tracing::info!(status, latency_us, "request finished");
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
