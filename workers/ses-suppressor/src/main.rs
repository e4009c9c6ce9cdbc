use std::process::ExitCode;
use switchyard_alloc as _;

use switchyard_consumer::worker;

// One scheduler thread: a worker mostly waits on SQS and Postgres, and a second thread would only add wake-ups
// between threads (CPU per message, see `make bench`).
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    worker::main(ses_suppressor::SPEC, ses_suppressor::build).await
}
