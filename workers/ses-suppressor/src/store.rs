//! The suppressor's writes: one decision per (feedback, recipient), and the suppression it may cause.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use switchyard_mail::{EmailAddress, SuppressionReason, suppression};

use crate::{
    feedback::{Actionable, BounceType, Feedback},
    policy::{Decision, DecisionKind, Policy},
};

/// A decision taken and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub decision_id: i64,
    pub decision: Decision,
    /// The address was not on the list before this decision.
    pub newly_suppressed: Option<SuppressionReason>,
}

/// Decides for one recipient and stores the decision (and the suppression) in `conn`'s transaction. `None`: this
/// feedback was already decided for this recipient (a redelivery), or names nobody to act on.
///
/// Decisions for one address are serialised with a transaction-scoped advisory lock, so two soft bounces handled at
/// once both count each other, and a duplicate delivery waits and then finds the first one's row.
pub async fn decide(
    conn: &mut PgConnection,
    policy: &Policy,
    feedback: &Feedback,
    address: &EmailAddress,
) -> sqlx::Result<Option<Applied>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7021))")
        .bind(address.as_str())
        .execute(&mut *conn)
        .await?;
    let (seen,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM feedback_decisions WHERE feedback_key = $1 AND address = $2)",
    )
    .bind(&feedback.key)
    .bind(address.as_str())
    .fetch_one(&mut *conn)
    .await?;
    if seen {
        return Ok(None);
    }
    let occurred_at = feedback.occurred_at.unwrap_or_else(Utc::now);
    let (decision, feedback_type, bounce_type, sub_type, complaint_type) = match &feedback.action {
        Actionable::Bounce {
            bounce_type,
            sub_type,
            ..
        } => {
            let soft = if *bounce_type == BounceType::Transient {
                let others = other_soft_bounces_near(conn, address, occurred_at, policy).await?;
                policy.soft_bounces_in_window(&others, occurred_at)
            } else {
                0
            };
            (
                policy.bounce(bounce_type, soft),
                "bounce",
                Some(bounce_type.as_str().to_owned()),
                sub_type.clone(),
                None,
            )
        }
        Actionable::Complaint { feedback_type, .. } => (
            policy.complaint(feedback_type.as_deref()),
            "complaint",
            None,
            None,
            feedback_type.clone(),
        ),
        Actionable::Nothing => return Ok(None),
    };
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO feedback_decisions (feedback_key, address, feedback_type, bounce_type, bounce_sub_type, \
             complaint_type, decision, reason, ses_message_id, occurred_at, feedback) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (feedback_key, address) DO NOTHING RETURNING id",
    )
    .bind(&feedback.key)
    .bind(address.as_str())
    .bind(feedback_type)
    .bind(bounce_type)
    .bind(sub_type)
    .bind(complaint_type)
    .bind(decision.outcome.as_str())
    .bind(&decision.reason)
    .bind(&feedback.ses_message_id)
    .bind(occurred_at)
    .bind(&feedback.json)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((decision_id,)) = inserted else {
        return Ok(None);
    };
    let newly_suppressed = match decision.outcome {
        DecisionKind::Suppressed(reason) => {
            suppression::suppress(conn, address, reason, Some(decision_id))
                .await?
                .then_some(reason)
        }
        DecisionKind::Counted | DecisionKind::Recorded => None,
    };
    Ok(Some(Applied {
        decision_id,
        decision,
        newly_suppressed,
    }))
}

/// When the other transient bounces of `address` happened, those less than one window before or after `at` (SES's
/// timestamps, not arrival: SQS does not keep order, and a late redelivery counts the same as a prompt one).
async fn other_soft_bounces_near(
    conn: &mut PgConnection,
    address: &EmailAddress,
    at: DateTime<Utc>,
    policy: &Policy,
) -> sqlx::Result<Vec<DateTime<Utc>>> {
    let rows: Vec<(DateTime<Utc>,)> = sqlx::query_as(
        "SELECT occurred_at FROM feedback_decisions \
         WHERE address = $1 AND feedback_type = 'bounce' AND bounce_type = 'Transient' \
           AND occurred_at > $2 AND occurred_at < $3",
    )
    .bind(address.as_str())
    .bind(at - policy.soft_bounce_window)
    .bind(at + policy.soft_bounce_window)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(t,)| t).collect())
}

/// Keeps bounce or complaint feedback that names nobody to decide for (`recipient` as SES wrote it, `""` when it
/// names no recipient), with `reason`. `false`: already recorded (a redelivery).
pub async fn record_unattributed(
    conn: &mut PgConnection,
    feedback: &Feedback,
    recipient: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let (feedback_type, bounce_type) = match &feedback.action {
        Actionable::Bounce { bounce_type, .. } => ("bounce", Some(bounce_type.as_str())),
        Actionable::Complaint { .. } => ("complaint", None),
        Actionable::Nothing => return Ok(false),
    };
    let inserted = sqlx::query(
        "INSERT INTO unattributed_feedback (feedback_key, recipient, feedback_type, bounce_type, reason, \
             ses_message_id, occurred_at, feedback) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (feedback_key, recipient) DO NOTHING",
    )
    .bind(&feedback.key)
    .bind(recipient)
    .bind(feedback_type)
    .bind(bounce_type)
    .bind(reason)
    .bind(&feedback.ses_message_id)
    .bind(feedback.occurred_at.unwrap_or_else(Utc::now))
    .bind(&feedback.json)
    .execute(conn)
    .await?
    .rows_affected();
    Ok(inserted == 1)
}
