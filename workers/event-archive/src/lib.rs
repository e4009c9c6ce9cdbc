//! The event archive: stores every domain event it receives exactly once, with its type, source, subject and time,
//! so operators can list events (`yard events list`) and replay them into one consumer's queue (`yard replay`).
//!
//! Its queue subscribes to every domain topic without a filter (see `topology.json`).

use sqlx::{Arguments, PgConnection, error::BoxDynError, migrate::Migrator, postgres::PgArguments};
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

/// Archives each event in the inbox's transaction. The archived `body` is the payload as it arrived (the message
/// body, or an SNS envelope's `Message`, from which the event was parsed), so a replay re-publishes what the producer
/// wrote, attribute for attribute, and nothing is serialised again per message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Archive;

impl EventHandler for Archive {
    /// Only rows in the archive: a received batch is archived together with its inbox claim (`BATCH_STATEMENT`).
    const TRANSACTIONAL: bool = true;

    async fn handle(
        &self,
        event: &CloudEvent,
        message: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) \
             VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id)
        .bind(&event.event_type)
        .bind(&event.source)
        .bind(&event.subject)
        .bind(event.time)
        .bind(&message.body)
        .execute(tx)
        .await?;
        tracing::debug!(event_id = %event.id, "event archived");
        Ok(())
    }

    /// A received batch is archived in the inbox's own statement: one round trip to the database for the batch.
    const BATCH_STATEMENT: Option<&'static str> = Some(
        "INSERT INTO archived_events (event_id, event_type, source, subject, time, body) \
         SELECT e.id, e.t, e.s, e.subj, e.tm, e.b::jsonb \
         FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::text[]) \
              AS e(id, t, s, subj, tm, b) \
         JOIN claimed c ON c.message_key = e.id::text \
         ON CONFLICT (event_id) DO NOTHING",
    );

    fn bind_batch(
        &self,
        events: &[(&CloudEvent, &Incoming)],
        args: &mut PgArguments,
    ) -> Result<(), BoxDynError> {
        let mut ids = Vec::with_capacity(events.len());
        let mut types = Vec::with_capacity(events.len());
        let mut sources = Vec::with_capacity(events.len());
        let mut subjects = Vec::with_capacity(events.len());
        let mut times = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for (event, message) in events {
            ids.push(event.id);
            types.push(event.event_type.as_str());
            sources.push(event.source.as_str());
            subjects.push(event.subject.as_deref());
            times.push(event.time);
            bodies.push(message.body.as_str());
        }
        args.add(ids)?;
        args.add(types)?;
        args.add(sources)?;
        args.add(subjects)?;
        args.add(times)?;
        args.add(bodies)?;
        Ok(())
    }
}
