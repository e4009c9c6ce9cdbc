#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! Black-box tests of the event bus against real moto and Postgres. One binary, one module per concern
//! (zero2prod style); every test builds its own `World` and runs in parallel with the others.

mod archive;
mod auth;
mod bus;
mod consumer;
mod contract;
mod deploy;
mod http_errors;
mod identity;
mod mail_api;
mod mailer;
mod observability;
mod outage;
mod processes;
mod provision;
mod status;
mod suppressor;
mod tasks;
