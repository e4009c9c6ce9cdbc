//! The event archive: stores every domain event it receives exactly once, with its type, source, subject and time,
//! so operators can list events (`yard events list`) and replay them into one consumer's queue (`yard replay`).
//!
//! Its queue subscribes to every domain topic without a filter (see `topology.json`).

use sqlx::{PgConnection, migrate::Migrator};
use switchyard_consumer::{EventHandler, HandlerError, Incoming, worker::WorkerSpec};
use switchyard_events::CloudEvent;

/// The `archived_events` table.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const SPEC: WorkerSpec = WorkerSpec {
    name: "event-archive",
    schema: "event_archive",
    migrations: &[&MIGRATOR],
};

/// What the event archive reads (the deploy contract, `env-contract.json`): the worker runtime's variables only.
pub const ENV_CONTRACT: switchyard_core::contract::Binary = switchyard_core::contract::Binary {
    name: "event-archive",
    read: || switchyard_consumer::worker::read_env(&SPEC, || Ok(())),
};

/// Archives each event in the inbox's transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Archive;

impl EventHandler for Archive {
    async fn handle(
        &self,
        event: &CloudEvent,
        _: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let body = serde_json::to_value(event).map_err(|e| HandlerError::Reject(e.to_string()))?;
        sqlx::query(
            "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.source)
        .bind(&event.subject)
        .bind(event.time)
        .bind(body)
        .execute(tx)
        .await?;
        tracing::info!("event archived");
        Ok(())
    }
}
