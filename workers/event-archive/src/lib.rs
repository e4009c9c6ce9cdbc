//! The event archive: stores every domain event it receives exactly once, with its type, source, subject and time,
//! so operators can list events (`yard events list`) and replay them into one consumer's queue (`yard replay`).
//!
//! Its queue subscribes to every domain topic without a filter (see `topology.json`).

use sqlx::{PgConnection, migrate::Migrator, types::Json};
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
    /// Only rows in the archive: a received batch is archived in one transaction, one statement.
    const TRANSACTIONAL: bool = true;

    async fn handle(
        &self,
        event: &CloudEvent,
        _: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.source)
        .bind(&event.subject)
        .bind(event.time)
        .bind(Json(event))
        .execute(tx)
        .await?;
        tracing::debug!(event_id = %event.id, "event archived");
        Ok(())
    }

    async fn handle_batch(
        &self,
        events: &[(&CloudEvent, &Incoming)],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let mut ids = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut sources = Vec::with_capacity(events.len());
        let mut subjects = Vec::with_capacity(events.len());
        let mut times = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for (event, _) in events {
            ids.push(event.id);
            types.push(event.event_type.as_str());
            sources.push(event.source.as_str());
            subjects.push(event.subject.as_deref());
            times.push(event.time);
            bodies.push(event.to_json());
        }
        sqlx::query(
            "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) \
             SELECT id, t, s, subj, tm, b::jsonb \
             FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[]) \
                  AS e(id, t, s, subj, tm, b) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&types)
        .bind(&sources)
        .bind(&subjects)
        .bind(&times)
        .bind(&bodies)
        .execute(tx)
        .await?;
        tracing::debug!(events = events.len(), "events archived");
        Ok(())
    }
}
