//! `outbound_messages`: the send state machine's rows (see the crate docs for the states and crash windows).

use std::time::Duration;

use sqlx::{PgConnection, PgPool};
use switchyard_mail::suppression;
use uuid::Uuid;

use crate::compose::Email;

/// What the claim step found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This worker owns the send now (`sending` committed): send, then [`record`].
    Send { id: i64 },
    /// The recipient is suppressed: recorded as `skipped`.
    Skipped { reason: String },
    /// Already finished (`sent`, `skipped`, `failed`, `unknown`): a duplicate delivery.
    Finished { status: String },
    /// Another delivery of the same event is sending right now: look again after `after`.
    Busy { after: Duration },
    /// A `sending` claim older than the lease: its worker died between claim and record. The mail may or may not
    /// have gone out; it is marked `unknown` and not resent.
    Abandoned { id: i64 },
}

/// Step 1, one transaction: create or lock the row, check the suppression list, take the claim.
pub async fn claim(
    pool: &PgPool,
    event_id: Uuid,
    event_type: &str,
    email: &Email,
    api: &str,
    lease: Duration,
) -> sqlx::Result<Claim> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO outbound_messages (event_id, event_type, recipient, template, status) \
         VALUES ($1, $2, $3, $4, 'pending') ON CONFLICT (event_id, recipient) DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(email.recipient.as_str())
    .bind(email.template)
    .execute(&mut *tx)
    .await?;
    let (id, status, held_secs): (i64, String, Option<f64>) = sqlx::query_as(
        "SELECT id, status, EXTRACT(EPOCH FROM now() - sending_since)::float8 \
         FROM outbound_messages WHERE event_id = $1 AND recipient = $2 FOR UPDATE",
    )
    .bind(event_id)
    .bind(email.recipient.as_str())
    .fetch_one(&mut *tx)
    .await?;
    let claim = match status.as_str() {
        "pending" => match suppression::find(&mut tx, &email.recipient).await? {
            Some(s) => {
                let reason = format!(
                    "recipient suppressed ({}) since {}",
                    s.reason, s.suppressed_at
                );
                set_status(&mut tx, id, "skipped", Some(&reason), None).await?;
                Claim::Skipped { reason }
            }
            None => {
                sqlx::query(
                    "UPDATE outbound_messages SET status = 'sending', sending_since = now(), \
                     attempts = attempts + 1, ses_api = $2, updated_at = now() WHERE id = $1",
                )
                .bind(id)
                .bind(api)
                .execute(&mut *tx)
                .await?;
                Claim::Send { id }
            }
        },
        "sending" => {
            let held = Duration::from_secs_f64(held_secs.unwrap_or(0.0).max(0.0));
            if held < lease {
                Claim::Busy {
                    after: lease - held + Duration::from_secs(1),
                }
            } else {
                let detail = format!(
                    "claimed for sending {}s ago and never recorded: the worker stopped between claim and record; \
                     SES may or may not have sent it, so it is not resent automatically",
                    held.as_secs()
                );
                set_status(&mut tx, id, "unknown", Some(&detail), None).await?;
                Claim::Abandoned { id }
            }
        }
        _ => Claim::Finished { status },
    };
    tx.commit().await?;
    Ok(claim)
}

/// Step 3: the send's result. `sent` may overwrite `unknown` (a slow send whose claim was declared abandoned).
pub async fn record(pool: &PgPool, id: i64, status: Recorded<'_>) -> sqlx::Result<()> {
    let mut conn = pool.acquire().await?;
    match status {
        Recorded::Sent { ses_message_id } => {
            sqlx::query(
                "UPDATE outbound_messages SET status = 'sent', ses_message_id = $2, detail = NULL, \
                 updated_at = now() WHERE id = $1 AND status IN ('sending', 'unknown')",
            )
            .bind(id)
            .bind(ses_message_id)
            .execute(&mut *conn)
            .await?;
        }
        Recorded::Failed { detail } => {
            set_status(&mut conn, id, "failed", Some(detail), Some("sending")).await?
        }
        Recorded::Unknown { detail } => {
            set_status(&mut conn, id, "unknown", Some(detail), Some("sending")).await?
        }
        Recorded::NotSent { detail } => {
            // Back to pending: the retry takes a fresh claim (and checks the suppression list again).
            sqlx::query(
                "UPDATE outbound_messages SET status = 'pending', sending_since = NULL, detail = $2, \
                 updated_at = now() WHERE id = $1 AND status = 'sending'",
            )
            .bind(id)
            .bind(detail)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// The outcome written by [`record`].
#[derive(Debug, Clone, Copy)]
pub enum Recorded<'a> {
    Sent { ses_message_id: &'a str },
    Failed { detail: &'a str },
    Unknown { detail: &'a str },
    NotSent { detail: &'a str },
}

async fn set_status(
    conn: &mut PgConnection,
    id: i64,
    status: &str,
    detail: Option<&str>,
    only_from: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE outbound_messages SET status = $2, detail = $3, updated_at = now() \
         WHERE id = $1 AND ($4::text IS NULL OR status = $4)",
    )
    .bind(id)
    .bind(status)
    .bind(detail)
    .bind(only_from)
    .execute(conn)
    .await?;
    Ok(())
}
