use std::process::ExitCode;

use switchyard_consumer::worker;

#[tokio::main]
async fn main() -> ExitCode {
    worker::main(ses_suppressor::SPEC, ses_suppressor::build).await
}
