//! Logging: JSON lines on stdout through `tracing`, filtered by `RUST_LOG` (default `info`).
//! Span fields (event id, queue, trace id...) appear on every line logged inside the span.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::config::{self, ConfigError, Var};

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

/// Whether logs are human-readable (`LOG_FORMAT=pretty`) rather than JSON.
pub fn pretty_from_env() -> Result<bool, ConfigError> {
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

/// Installs the global subscriber. `LOG_FORMAT=pretty` gives human-readable lines for local work (an invalid
/// value logs JSON and says so). Safe to call twice (the second call is a no-op), so tests can call it freely.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = pretty_from_env();
    let pretty = format.as_ref().is_ok_and(|p| *p);
    let result = if pretty {
        tracing_subscriber::registry()
            .with(filter)
            .with(fmt::layer().compact())
            .try_init()
    } else {
        tracing_subscriber::registry()
            .with(filter)
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
    if let Err(error) = format {
        tracing::warn!(%error, "logging JSON");
    }
}

/// For command-line tools: human-readable warnings and errors on stderr, so stdout stays for results.
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().compact().with_writer(std::io::stderr))
        .try_init();
}
