//! A worker process around the probe handler, for tests that must kill or signal a real process.
//! `PROBE_DELAY_MS` makes each message slow.

use std::{process::ExitCode, time::Duration};

use switchyard_consumer::{Inbox, worker};
use switchyard_tests::probe::{MIGRATOR, Probe};

const SPEC: worker::WorkerSpec = worker::WorkerSpec {
    name: "probe-worker",
    schema: "probe",
    migrations: &[&MIGRATOR],
};

// One scheduler thread: a worker mostly waits on SQS and Postgres, and a second thread would only add wake-ups
// between threads (CPU per message, see `make bench`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let delay = std::env::var("PROBE_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or_default();
    worker::main(SPEC, move |pool, _| {
        Ok(Inbox::new(pool.clone(), Probe { delay }))
    })
    .await
}
