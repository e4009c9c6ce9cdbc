//! The probe handler: records one `effects` row per handled event, optionally slowly, and rejects events whose
//! data says `"poison": true`. The probe worker binary and in-process tests share it.

use std::time::Duration;

use sqlx::{
    Arguments, PgConnection, PgPool, error::BoxDynError, migrate::Migrator, postgres::PgArguments,
};
use switchyard_consumer::{EventHandler, HandlerError, Incoming};
use switchyard_events::CloudEvent;
use uuid::Uuid;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

pub const TEST_EVENT_TYPE: &str = "switchyard.test.probe.v1";

#[derive(Debug, Clone, Copy, Default)]
pub struct Probe {
    /// Time spent inside the transaction after writing the effect (a slow handler; a crash window).
    pub delay: Duration,
}

impl EventHandler for Probe {
    /// Its only effect is the `effects` row: the inbox runs received batches in one transaction, so the process
    /// and fault tests exercise that path (and its per-message fallback when a poison event is in the batch).
    const TRANSACTIONAL: bool = true;

    async fn handle(
        &self,
        event: &CloudEvent,
        _: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        if is_poison(event) {
            return Err(HandlerError::Reject("poison event".into()));
        }
        sqlx::query("INSERT INTO effects (event_id, pid) VALUES ($1, $2)")
            .bind(event.id)
            .bind(std::process::id() as i32)
            .execute(&mut *tx)
            .await?;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(())
    }
}

/// The probe with its batch effect in the inbox's statement ([`EventHandler::BATCH_STATEMENT`]): a batch holding a
/// poison event makes the statement fail (a NULL `event_id`), so the batch falls back to one transaction per
/// message, where [`Probe::handle`] rejects the poison.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProbeStatement;

impl EventHandler for ProbeStatement {
    const TRANSACTIONAL: bool = true;
    const BATCH_STATEMENT: Option<&'static str> = Some(
        "INSERT INTO effects (event_id, pid) \
         SELECT CASE WHEN e.poison THEN NULL ELSE e.id END, $5 \
         FROM UNNEST($3::uuid[], $4::bool[]) AS e(id, poison) \
         JOIN claimed c ON c.message_key = e.id::text",
    );

    fn bind_batch(
        &self,
        events: &[(&CloudEvent, &Incoming)],
        args: &mut PgArguments,
    ) -> Result<(), BoxDynError> {
        let ids: Vec<Uuid> = events.iter().map(|(e, _)| e.id).collect();
        let poison: Vec<bool> = events.iter().map(|(e, _)| is_poison(e)).collect();
        args.add(ids)?;
        args.add(poison)?;
        args.add(std::process::id() as i32)?;
        Ok(())
    }

    async fn handle(
        &self,
        event: &CloudEvent,
        message: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        Probe::default().handle(event, message, tx).await
    }
}

fn is_poison(event: &CloudEvent) -> bool {
    event
        .data
        .get("poison")
        .and_then(serde_json::Value::as_bool)
        == Some(true)
}

/// A probe event; `poison` makes the handler reject it.
pub fn event(n: usize, poison: bool) -> CloudEvent {
    CloudEvent::untyped(
        TEST_EVENT_TYPE,
        "/switchyard/tests",
        Some(n.to_string()),
        serde_json::json!({ "n": n, "poison": poison }),
    )
}

/// Effect rows per event id.
pub async fn effect_counts(pool: &PgPool) -> std::collections::HashMap<Uuid, i64> {
    sqlx::query_as::<_, (Uuid, i64)>("SELECT event_id, count(*) FROM effects GROUP BY event_id")
        .fetch_all(pool)
        .await
        .expect("effects")
        .into_iter()
        .collect()
}
