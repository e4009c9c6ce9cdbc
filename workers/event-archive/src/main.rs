use std::process::ExitCode;

use event_archive::{Archive, SPEC};
use switchyard_consumer::{Inbox, worker};

#[tokio::main]
async fn main() -> ExitCode {
    worker::main(SPEC, |pool, _aws| Ok(Inbox::new(pool.clone(), Archive))).await
}
