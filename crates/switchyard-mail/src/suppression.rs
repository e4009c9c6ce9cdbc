//! The suppression list (`suppressions`): an address on it is never mailed.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::EmailAddress;

/// Why an address is suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SuppressionReason {
    /// A permanent (hard) bounce, or an undetermined one when the policy says so.
    Bounce,
    /// The recipient marked a message as spam.
    Complaint,
    /// Too many transient (soft) bounces within the policy's window.
    SoftBounces,
    /// An operator put it there.
    Manual,
}

impl SuppressionReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bounce => "bounce",
            Self::Complaint => "complaint",
            Self::SoftBounces => "soft_bounces",
            Self::Manual => "manual",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "bounce" => Self::Bounce,
            "complaint" => Self::Complaint,
            "soft_bounces" => Self::SoftBounces,
            "manual" => Self::Manual,
            _ => return None,
        })
    }
}

/// One entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Suppression {
    pub address: String,
    pub reason: String,
    pub suppressed_at: DateTime<Utc>,
    pub last_decision_id: Option<i64>,
    pub ses_synced_at: Option<DateTime<Utc>>,
}

/// The entry for `address`, if it is suppressed.
pub async fn find(
    conn: &mut PgConnection,
    address: &EmailAddress,
) -> sqlx::Result<Option<Suppression>> {
    sqlx::query_as(
        "SELECT address, reason, suppressed_at, last_decision_id, ses_synced_at \
         FROM suppressions WHERE address = $1",
    )
    .bind(address.as_str())
    .fetch_optional(conn)
    .await
}

/// Puts `address` on the list (or points an existing entry at the newer decision; its first reason and time stay).
/// Returns whether the address was newly suppressed.
pub async fn suppress(
    conn: &mut PgConnection,
    address: &EmailAddress,
    reason: SuppressionReason,
    decision_id: Option<i64>,
) -> sqlx::Result<bool> {
    let (inserted,): (bool,) = sqlx::query_as(
        "INSERT INTO suppressions (address, reason, last_decision_id) VALUES ($1, $2, $3) \
         ON CONFLICT (address) DO UPDATE \
             SET last_decision_id = COALESCE(EXCLUDED.last_decision_id, suppressions.last_decision_id) \
         RETURNING (xmax = 0)",
    )
    .bind(address.as_str())
    .bind(reason.as_str())
    .bind(decision_id)
    .fetch_one(conn)
    .await?;
    Ok(inserted)
}

/// Records that `address` is on the SES account-level suppression list too.
pub async fn mark_ses_synced(conn: &mut PgConnection, address: &EmailAddress) -> sqlx::Result<()> {
    sqlx::query("UPDATE suppressions SET ses_synced_at = now() WHERE address = $1")
        .bind(address.as_str())
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::SuppressionReason;

    #[test]
    fn reasons_round_trip() {
        for r in [
            SuppressionReason::Bounce,
            SuppressionReason::Complaint,
            SuppressionReason::SoftBounces,
            SuppressionReason::Manual,
        ] {
            assert_eq!(SuppressionReason::parse(r.as_str()), Some(r));
        }
        assert_eq!(SuppressionReason::parse("nope"), None);
    }
}
