//! The SQL of the service, over the shared `mail` schema (tables owned by `switchyard_mail::MIGRATOR`).

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use switchyard_mail::EmailAddress;
use utoipa::ToSchema;
use uuid::Uuid;

/// An entry of the suppression list.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct SuppressionEntry {
    #[schema(example = "jane@example.com")]
    pub address: String,
    /// bounce | complaint | soft_bounces | manual
    pub reason: String,
    pub suppressed_at: DateTime<Utc>,
    /// The feedback decision that suppressed it last (see `history`).
    pub last_decision_id: Option<i64>,
    /// When it was also put on the SES account-level suppression list.
    pub ses_synced_at: Option<DateTime<Utc>>,
}

/// Search filters of the suppression list (all optional, combined with AND).
#[derive(Debug, Clone, Default)]
pub struct SuppressionFilter {
    pub exact: Option<EmailAddress>,
    /// Lower-cased substring of the address.
    pub contains: Option<String>,
    pub reason: Option<&'static str>,
    pub since: Option<DateTime<Utc>>,
}

/// Keyset position: the last entry of the previous page (newest first).
pub type SuppressionCursor = (DateTime<Utc>, String);

/// One page of the list, newest first; `limit + 1` rows are read to know whether another page follows.
pub async fn list_suppressions(
    pool: &PgPool,
    filter: &SuppressionFilter,
    after: Option<&SuppressionCursor>,
    limit: i64,
) -> sqlx::Result<Vec<SuppressionEntry>> {
    let pattern = filter
        .contains
        .as_deref()
        .map(|s| format!("%{}%", escape_like(s)));
    sqlx::query_as(
        "SELECT address, reason, suppressed_at, last_decision_id, ses_synced_at FROM suppressions \
         WHERE ($1::text IS NULL OR address = $1) \
           AND ($2::text IS NULL OR address LIKE $2 ESCAPE '\\') \
           AND ($3::text IS NULL OR reason = $3) \
           AND ($4::timestamptz IS NULL OR suppressed_at >= $4) \
           AND ($5::timestamptz IS NULL OR (suppressed_at, address) < ($5, $6::text)) \
         ORDER BY suppressed_at DESC, address DESC LIMIT $7",
    )
    .bind(filter.exact.as_ref().map(EmailAddress::as_str))
    .bind(pattern)
    .bind(filter.reason)
    .bind(filter.since)
    .bind(after.map(|(t, _)| *t))
    .bind(after.map(|(_, a)| a.as_str()))
    .bind(limit + 1)
    .fetch_all(pool)
    .await
}

/// `%`, `_` and `\` match themselves in a LIKE pattern.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub async fn find_suppression(
    conn: &mut PgConnection,
    address: &EmailAddress,
    for_update: bool,
) -> sqlx::Result<Option<SuppressionEntry>> {
    let sql = if for_update {
        "SELECT address, reason, suppressed_at, last_decision_id, ses_synced_at FROM suppressions \
         WHERE address = $1 FOR UPDATE"
    } else {
        "SELECT address, reason, suppressed_at, last_decision_id, ses_synced_at FROM suppressions \
         WHERE address = $1"
    };
    sqlx::query_as(sql)
        .bind(address.as_str())
        .fetch_optional(conn)
        .await
}

/// A decision the ses-suppressor took about an address (`feedback_decisions`).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Decision {
    pub id: i64,
    /// bounce | complaint
    pub feedback_type: String,
    /// Permanent | Transient | Undetermined (bounces)
    pub bounce_type: Option<String>,
    pub bounce_sub_type: Option<String>,
    /// complaintFeedbackType (complaints, often absent)
    pub complaint_type: Option<String>,
    /// suppressed | counted | recorded
    pub decision: String,
    pub reason: String,
    pub ses_message_id: Option<String>,
    /// When SES says the bounce or complaint happened.
    pub occurred_at: DateTime<Utc>,
    pub decided_at: DateTime<Utc>,
}

/// An earlier entry an operator removed (`suppression_removals`).
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Removal {
    pub reason: String,
    pub suppressed_at: DateTime<Utc>,
    pub last_decision_id: Option<i64>,
    /// The identity user who removed it.
    pub removed_by: Uuid,
    pub removed_at: DateTime<Utc>,
    /// When it was removed from the SES account-level list too (null: sync off).
    pub ses_removed_at: Option<DateTime<Utc>>,
}

/// Every decision about `address`, oldest first.
pub async fn decisions(pool: &PgPool, address: &EmailAddress) -> sqlx::Result<Vec<Decision>> {
    sqlx::query_as(
        "SELECT id, feedback_type, bounce_type, bounce_sub_type, complaint_type, decision, reason, \
                ses_message_id, occurred_at, decided_at \
         FROM feedback_decisions WHERE address = $1 ORDER BY occurred_at, id",
    )
    .bind(address.as_str())
    .fetch_all(pool)
    .await
}

/// Every earlier removal of `address`, oldest first.
pub async fn removals(pool: &PgPool, address: &EmailAddress) -> sqlx::Result<Vec<Removal>> {
    sqlx::query_as(
        "SELECT reason, suppressed_at, last_decision_id, removed_by, removed_at, ses_removed_at \
         FROM suppression_removals WHERE address = $1 ORDER BY removed_at, id",
    )
    .bind(address.as_str())
    .fetch_all(pool)
    .await
}

/// Deletes the (locked) entry and records who removed it, in the caller's transaction.
pub async fn remove_suppression(
    conn: &mut PgConnection,
    entry: &SuppressionEntry,
    removed_by: Uuid,
    ses_removed: bool,
) -> sqlx::Result<Removal> {
    sqlx::query("DELETE FROM suppressions WHERE address = $1")
        .bind(&entry.address)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(
        "INSERT INTO suppression_removals \
             (address, reason, suppressed_at, last_decision_id, ses_synced_at, removed_by, ses_removed_at) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN now() END) \
         RETURNING reason, suppressed_at, last_decision_id, removed_by, removed_at, ses_removed_at",
    )
    .bind(&entry.address)
    .bind(&entry.reason)
    .bind(entry.suppressed_at)
    .bind(entry.last_decision_id)
    .bind(entry.ses_synced_at)
    .bind(removed_by)
    .bind(ses_removed)
    .fetch_one(conn)
    .await
}

/// A row of the mailer's outbound log.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct OutboundMessage {
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub recipient: String,
    pub template: String,
    /// pending | sending | sent | skipped | failed | unknown
    pub status: String,
    pub ses_message_id: Option<String>,
    /// v2 (SESv2 SendEmail) or v1 (SES SendEmail)
    pub ses_api: Option<String>,
    pub attempts: i32,
    /// Why it was skipped or failed, or what left it unknown.
    pub detail: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The outbound statuses (the table's CHECK constraint).
pub const STATUSES: &[&str] = &["pending", "sending", "sent", "skipped", "failed", "unknown"];

/// One page of the outbound log, newest first (`limit + 1` rows, like [`list_suppressions`]).
pub async fn list_messages(
    pool: &PgPool,
    recipient: Option<&EmailAddress>,
    status: Option<&str>,
    before_id: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<OutboundMessage>> {
    sqlx::query_as(
        "SELECT id, event_id, event_type, recipient, template, status, ses_message_id, ses_api, attempts, \
                detail, created_at, updated_at \
         FROM outbound_messages \
         WHERE ($1::text IS NULL OR recipient = $1) AND ($2::text IS NULL OR status = $2) \
           AND ($3::bigint IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(recipient.map(EmailAddress::as_str))
    .bind(status)
    .bind(before_id)
    .bind(limit + 1)
    .fetch_all(pool)
    .await
}

/// Feedback counts of one UTC day (by when SES says it happened), one per recipient named in the feedback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct DailyCounts {
    pub day: NaiveDate,
    pub bounces: i64,
    pub permanent_bounces: i64,
    pub transient_bounces: i64,
    pub complaints: i64,
    /// Decisions that suppressed the recipient.
    pub suppressed: i64,
}

/// The last `days` UTC days, today included, oldest first; days without feedback are zeros.
pub async fn daily_counts(pool: &PgPool, days: i64) -> sqlx::Result<Vec<DailyCounts>> {
    sqlx::query_as(
        "WITH days AS ( \
             SELECT generate_series(0, $1::int - 1) AS n, (now() AT TIME ZONE 'UTC')::date AS today \
         ) \
         SELECT (d.today - d.n) AS day, \
                count(f.id) FILTER (WHERE f.feedback_type = 'bounce') AS bounces, \
                count(f.id) FILTER (WHERE f.bounce_type = 'Permanent') AS permanent_bounces, \
                count(f.id) FILTER (WHERE f.bounce_type = 'Transient') AS transient_bounces, \
                count(f.id) FILTER (WHERE f.feedback_type = 'complaint') AS complaints, \
                count(f.id) FILTER (WHERE f.decision = 'suppressed') AS suppressed \
         FROM days d \
         LEFT JOIN feedback_decisions f \
                ON f.occurred_at >= ((d.today - d.n)::timestamp AT TIME ZONE 'UTC') \
               AND f.occurred_at < ((d.today - d.n + 1)::timestamp AT TIME ZONE 'UTC') \
         GROUP BY d.today, d.n ORDER BY day",
    )
    .bind(days)
    .fetch_all(pool)
    .await
}
