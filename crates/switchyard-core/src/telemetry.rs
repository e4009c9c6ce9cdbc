//! Telemetry, set up once per binary by [`init`]:
//!
//! - logs: JSON lines on stdout through `tracing`, filtered by `RUST_LOG` (default `info`). Span fields (event id,
//!   queue, trace id...) appear on every line logged inside the span.
//! - metrics: CloudWatch EMF lines on stdout, aggregated per interval ([`crate::emf`], on unless `METRICS_EMF=false`).
//! - traces: OpenTelemetry spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set ([`crate::otel`]).
//!
//! [`flush`] writes what is still aggregated or buffered; the servers call it when they stop.

use tracing_subscriber::{
    EnvFilter, Layer, filter::LevelFilter, filter::Targets, fmt, prelude::*, registry::LookupSpan,
};

use crate::{
    config::{self, ConfigError, Var},
    emf, otel,
};

pub const RUST_LOG: Var = Var::new(
    "RUST_LOG",
    "log filter (tracing EnvFilter syntax), default info",
)
.example("info");
pub const LOG_FORMAT: Var = Var::new(
    "LOG_FORMAT",
    "json (default: one JSON object per line) or pretty (human-readable, for local work)",
)
.example("json");

/// Reads every telemetry variable (logs, metrics, traces: what the environment contract's readers call) and returns
/// whether logs are human-readable (`LOG_FORMAT=pretty`) rather than JSON.
pub fn pretty_from_env() -> Result<bool, ConfigError> {
    let pretty = log_format()?;
    emf::EmfSettings::from_env()?;
    otel::endpoint_from_env()?;
    Ok(pretty)
}

fn log_format() -> Result<bool, ConfigError> {
    config::external(&RUST_LOG);
    match config::string(&LOG_FORMAT, "json")?.trim() {
        "json" => Ok(false),
        "pretty" => Ok(true),
        other => Err(ConfigError::Invalid {
            name: LOG_FORMAT.name.to_owned(),
            value: other.to_owned(),
            reason: "expected json or pretty".into(),
        }),
    }
}

/// Installs the global subscriber, and the EMF recorder and the OTLP exporter when configured. `LOG_FORMAT=pretty`
/// gives human-readable lines for local work (an invalid value logs JSON and says so). An invalid metrics or tracing
/// variable stops the process with an error naming it (better than running without the metrics the alarms watch).
/// Safe to call twice (the second call is a no-op), so tests can call it freely.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = log_format();
    let pretty = format.as_ref().is_ok_and(|p| *p);
    let (metrics, traces) = match (emf::EmfSettings::from_env(), otel::endpoint_from_env()) {
        (Ok(m), Ok(t)) => (m, t),
        (Err(error), _) | (_, Err(error)) => {
            eprintln!("error: {error}");
            std::process::exit(2);
        }
    };
    let otel_layer = match traces {
        None => None,
        Some(_) => match otel::layer(service) {
            Ok(layer) => Some(layer),
            Err(error) => {
                eprintln!("error: {error}");
                std::process::exit(2);
            }
        },
    };
    let result = match otel_layer {
        // No exporter: the subscriber exactly as without tracing (one global filter, no span bookkeeping).
        None => tracing_subscriber::registry()
            .with(filter)
            .with(log_layer(pretty))
            .try_init(),
        // RUST_LOG filters the log lines only; spans are exported at info and above whatever it says.
        Some(layer) => tracing_subscriber::registry()
            .with(layer.with_filter(span_filter()))
            .with(log_layer(pretty).with_filter(filter))
            .try_init(),
    };
    if result.is_ok() {
        if metrics.enabled {
            emf::install(service, &metrics);
        }
        tracing::debug!(
            service,
            metrics = metrics.enabled,
            traces = otel::enabled(),
            "telemetry initialised"
        );
    }
    if let Err(error) = format {
        tracing::warn!(%error, "logging JSON");
    }
}

/// JSON lines, or compact human-readable ones.
fn log_layer<S>(pretty: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    if pretty {
        fmt::layer().compact().boxed()
    } else {
        fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed()
    }
}

/// Spans exported: the platform's at info and above; the libraries' internals (the AWS SDK's per-call spans, the
/// HTTP client, the database driver) are not part of the story an operator reads.
fn span_filter() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("aws_config", LevelFilter::OFF)
        .with_target("aws_smithy_runtime", LevelFilter::OFF)
        .with_target("aws_smithy_http_client", LevelFilter::OFF)
        .with_target("aws_sdk_sns", LevelFilter::OFF)
        .with_target("aws_sdk_sqs", LevelFilter::OFF)
        .with_target("aws_sdk_sesv2", LevelFilter::OFF)
        .with_target("aws_sdk_ses", LevelFilter::OFF)
        .with_target("hyper", LevelFilter::OFF)
        .with_target("hyper_util", LevelFilter::OFF)
        .with_target("h2", LevelFilter::OFF)
        .with_target("reqwest", LevelFilter::OFF)
        .with_target("rustls", LevelFilter::OFF)
        .with_target("sqlx", LevelFilter::OFF)
        .with_target("tower", LevelFilter::OFF)
}

/// Writes the metrics aggregated since the last interval and exports the spans still buffered. The servers call it
/// when they stop ([`switchyard_http`'s `serve`, the outbox relay, the worker runtime); a no-op without telemetry.
pub fn flush() {
    emf::flush();
    otel::flush();
}

/// For command-line tools: human-readable warnings and errors on stderr, so stdout stays for results.
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().compact().with_writer(std::io::stderr))
        .try_init();
}
