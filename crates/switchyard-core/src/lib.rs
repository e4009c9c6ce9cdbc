//! What every Switchyard binary shares, each in its own room:
//!
//! - [`config`]: reading declared environment variables ([`config::Var`]) with errors that name the variable to set.
//! - [`contract`]: every variable each binary reads, discovered from those readers (`env-contract.json`).
//! - [`telemetry`]: JSON `tracing` logs (one line per event, span fields included), and the metrics and traces below,
//!   set up by one `init`.
//! - [`metric`]: every metric declared once ([`metric::Metric`]: name, kind, unit, dimensions) and recorded through
//!   the `metrics` facade; `metrics-contract.json` is generated from the declarations.
//! - [`emf`]: the facade's recorder: CloudWatch Embedded Metric Format lines on stdout, aggregated per interval.
//! - [`otel`]: OpenTelemetry spans exported over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, linked across
//!   processes through the `traceparent` the platform carries.
//! - [`trace`]: W3C trace context (`traceparent`), carried from an HTTP request through the outbox and SNS into
//!   the consumer's spans, so one trace id follows an event across processes.
//! - [`shutdown`]: one `CancellationToken` cancelled on SIGTERM/SIGINT (ECS sends SIGTERM on every deploy).
//! - [`db`]: a Postgres pool pinned to one schema (each service owns a schema), and migrations.
//! - [`aws`]: the one `SdkConfig`; endpoints (moto, LocalStack) are configuration, never code.
//! - [`health`]: the `/healthz` server workers expose and the `healthcheck` subcommand ECS calls.

pub mod aws;
pub mod config;
pub mod contract;
pub mod db;
pub mod emf;
pub mod health;
pub mod metric;
pub mod otel;
pub mod shutdown;
pub mod telemetry;
pub mod trace;
