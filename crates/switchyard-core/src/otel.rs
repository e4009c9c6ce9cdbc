//! Traces: OpenTelemetry spans over OTLP/HTTP (protobuf), exported only when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the ADOT collector sidecar in ECS, a local Jaeger or collector). Unset, no
//! exporter, no OpenTelemetry layer and no span bookkeeping exist: [`enabled`] is false and [`continue_trace`] is the
//! platform's own W3C context handling ([`crate::trace`]) as before.
//!
//! The spans are the platform's `tracing` spans (`tracing-opentelemetry` turns them into OpenTelemetry spans); what
//! links them across processes is the `traceparent` the platform already carries: [`continue_trace`] makes a span
//! the child of an incoming context and returns the span's own context, which the code then propagates (the HTTP
//! request's context goes into the outbox row, the publish span's into the SNS message attribute). So the spans of
//! one request form one trace: HTTP request -> outbox enqueue -> relay publish -> each consumer's processing and
//! handler.
//!
//! The batch span processor exports from a thread of its own; the HTTP client it uses (the workspace's reqwest) runs
//! on a small runtime owned by that client, so exporting never depends on, or blocks, the application's runtime.

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use opentelemetry::{
    Context,
    trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
    },
};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::{Resource, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::{
    config::{self, ConfigError, Var},
    trace::TraceContext,
};

pub const OTEL_EXPORTER_OTLP_ENDPOINT: Var = Var::new(
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTLP/HTTP collector base URL; spans go to <it>/v1/traces (the ADOT sidecar: http://localhost:4318). Unset: no traces are exported",
)
.example("http://127.0.0.1:4318");
/// Read by the OpenTelemetry SDK.
pub const OTEL_TRACES_SAMPLER: Var = Var::new(
    "OTEL_TRACES_SAMPLER",
    "OpenTelemetry sampler (parentbased_always_on by default; parentbased_traceidratio with OTEL_TRACES_SAMPLER_ARG)",
)
.example("parentbased_traceidratio");
pub const OTEL_TRACES_SAMPLER_ARG: Var = Var::new(
    "OTEL_TRACES_SAMPLER_ARG",
    "the sampler's argument (the sampled fraction for traceidratio, e.g. 0.1)",
)
.example("0.1");

/// Deadline of one export request (the SDK retries within the batch processor's own timeout).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// `OTEL_EXPORTER_OTLP_ENDPOINT`, checked: `None` when unset.
pub fn endpoint_from_env() -> Result<Option<String>, ConfigError> {
    config::external(&OTEL_TRACES_SAMPLER);
    config::external(&OTEL_TRACES_SAMPLER_ARG);
    let Some(endpoint) = config::optional(&OTEL_EXPORTER_OTLP_ENDPOINT)? else {
        return Ok(None);
    };
    let endpoint = endpoint.trim().to_owned();
    let valid = (endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        && endpoint.parse::<http::Uri>().is_ok();
    if !valid {
        return Err(ConfigError::Invalid {
            name: OTEL_EXPORTER_OTLP_ENDPOINT.name.to_owned(),
            value: endpoint,
            reason: "expected a base URL like http://localhost:4318".into(),
        });
    }
    Ok(Some(endpoint))
}

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are exported (the OpenTelemetry layer is installed).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    #[error("cannot build the OTLP exporter: {0}")]
    Exporter(String),
    #[error("cannot start the exporter's runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// The `tracing` layer exporting spans to the OTLP endpoint for `service` (`service.name`). Called once, by
/// [`crate::telemetry::init`], when the endpoint is set; the exporter reads the endpoint (and the SDK its other
/// standard `OTEL_*` variables) itself.
pub(crate) fn layer<S>(
    service: &'static str,
) -> Result<tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>, OtelError>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let client = OwnRuntimeClient::new()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(EXPORT_TIMEOUT)
        .with_http_client(client)
        .build()
        .map_err(|e| OtelError::Exporter(e.to_string()))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("switchyard");
    let _ = PROVIDER.set(provider);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false))
}

/// Exports every finished span now (at shutdown; bounded by the export timeout).
pub fn flush() {
    if let Some(provider) = PROVIDER.get()
        && let Err(error) = provider.force_flush()
    {
        tracing::warn!(%error, "exporting the last spans failed");
    }
}

/// Makes `span` the child of `parent` (the caller's context: an incoming `traceparent`, an outbox row's) and returns
/// the context to propagate from here: the span's own when spans are exported, otherwise a child of `parent` (or a
/// new root), exactly as [`TraceContext::child`] gives. Call it before the span is entered.
pub fn continue_trace(span: &tracing::Span, parent: Option<&TraceContext>) -> TraceContext {
    let fallback = || {
        parent
            .map(TraceContext::child)
            .unwrap_or_else(TraceContext::new_root)
    };
    if !enabled() {
        return fallback();
    }
    if let Some(parent) = parent {
        let _ = span.set_parent(Context::new().with_remote_span_context(to_otel(parent)));
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    if own.is_valid() {
        from_otel(&own)
    } else {
        // A span this subscriber does not record (filtered out): keep the chain going without it.
        fallback()
    }
}

fn to_otel(ctx: &TraceContext) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(ctx.trace_id),
        SpanId::from_bytes(ctx.span_id),
        if ctx.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::default(),
    )
}

fn from_otel(ctx: &SpanContext) -> TraceContext {
    TraceContext {
        trace_id: ctx.trace_id().to_bytes(),
        span_id: ctx.span_id().to_bytes(),
        sampled: ctx.is_sampled(),
    }
}

/// The exporter's HTTP client: the workspace's reqwest on a current-thread runtime of its own. The batch span
/// processor calls it from its own thread (through `futures::executor::block_on`, where no Tokio runtime runs), so
/// the request is driven to completion on this runtime.
#[derive(Debug)]
struct OwnRuntimeClient {
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl OwnRuntimeClient {
    fn new() -> Result<Self, OtelError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("otlp-export")
            .build()?;
        let client = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| OtelError::Exporter(e.to_string()))?;
        Ok(Self { client, runtime })
    }
}

#[async_trait::async_trait]
impl HttpClient for OwnRuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        self.runtime.block_on(async move {
            let response = client.execute(request).await?;
            let mut builder = Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            let body = response.bytes().await?;
            Ok(builder.body(body)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_export_the_context_is_the_platforms_own() {
        let parent =
            TraceContext::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        let span = tracing::info_span!("x");
        let ctx = continue_trace(&span, Some(&parent));
        assert_eq!(ctx.trace_id, parent.trace_id);
        assert_ne!(ctx.span_id, parent.span_id);
        let root = continue_trace(&span, None);
        assert_ne!(root.trace_id, parent.trace_id);
    }

    #[test]
    fn contexts_convert_both_ways() {
        let ctx = TraceContext::new_root();
        assert_eq!(from_otel(&to_otel(&ctx)), ctx);
        let unsampled = TraceContext {
            sampled: false,
            ..ctx
        };
        assert!(!to_otel(&unsampled).is_sampled());
    }
}
