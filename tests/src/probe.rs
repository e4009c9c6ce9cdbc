//! The probe handler: records one `effects` row per handled event, optionally slowly, and rejects events whose
//! data says `"poison": true`. The probe worker binary and in-process tests share it.

use std::time::Duration;

use sqlx::{PgConnection, PgPool, migrate::Migrator};
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
        if event
            .data
            .get("poison")
            .and_then(serde_json::Value::as_bool)
            == Some(true)
        {
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
