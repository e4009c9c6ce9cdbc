//! Logging: JSON lines on stdout through `tracing`, filtered by `RUST_LOG` (default `info`).
//! Span fields (event id, queue, trace id...) appear on every line logged inside the span.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Installs the global subscriber. `LOG_FORMAT=pretty` gives human-readable lines for local work.
/// Safe to call twice (the second call is a no-op), so tests can call it freely.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let pretty = std::env::var("LOG_FORMAT").is_ok_and(|v| v == "pretty");
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
}

/// For command-line tools: human-readable warnings and errors on stderr, so stdout stays for results.
pub fn init_cli() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(fmt::layer().compact().with_writer(std::io::stderr))
        .try_init();
}
