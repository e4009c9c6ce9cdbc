use std::process::ExitCode;

use switchyard_consumer::worker;

#[tokio::main]
async fn main() -> ExitCode {
    worker::main(mailer::SPEC, mailer::build).await
}
