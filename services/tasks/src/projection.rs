//! The users projection: what tasks knows about users, fed by identity's `user.registered` events through the
//! consumer runtime and the inbox (queue `tasks`, subscribed to identity-events with a filter on that type), in
//! the same Postgres schema as the tasks. Creating a task reads the owner's email here instead of calling identity,
//! so tasks keeps working while identity is down (tokens verify with the cached JWKS, permissions come from Redis).
//!
//! A user registered before this projection existed is backfilled with `yard replay --queue tasks --since ...`
//! from the event archive; the inbox makes a replay of an event already projected a no-op. A task created before
//! the user's event arrived (sign-up and a task within the same second) answers 503 with `Retry-After`.
//!
//! Only `user.registered` is projected: identity has no way to change an email. Other types are acknowledged and
//! logged (the subscription's filter lets none through; a replay with `--type` could).

use sqlx::PgConnection;
use switchyard_consumer::{EventHandler, HandlerError, Incoming};
use switchyard_events::{CloudEvent, DomainEvent, identity::UserRegistered};
use uuid::Uuid;

/// The consumer's handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserProjection;

impl EventHandler for UserProjection {
    /// Only rows in this schema: a received batch is projected in one transaction.
    const TRANSACTIONAL: bool = true;

    async fn handle(
        &self,
        event: &CloudEvent,
        _: &Incoming,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        if event.event_type != UserRegistered::TYPE {
            tracing::info!(event_id = %event.id, event_type = %event.event_type, "not projected; acknowledged");
            return Ok(());
        }
        // A registration without a readable payload can never be projected: dead-letter it.
        let user: UserRegistered = event
            .decode()
            .map_err(|e| HandlerError::Reject(e.to_string()))?;
        // The first registration wins: an id is registered once, and a replay must not move it back in time.
        sqlx::query(
            "INSERT INTO users (id, email, registered_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(user.user_id)
        .bind(&user.email)
        .bind(event.time)
        .execute(tx)
        .await?;
        tracing::debug!(user_id = %user.user_id, "user projected");
        Ok(())
    }
}

/// The email of a user this service knows, `None` before its `user.registered` arrived.
pub async fn email(
    conn: impl sqlx::PgExecutor<'_>,
    user: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user)
        .fetch_optional(conn)
        .await
}
