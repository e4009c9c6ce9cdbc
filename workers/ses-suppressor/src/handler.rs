//! The message handler: intake -> decisions in one transaction -> optional SES sync -> commit.

use sqlx::PgPool;
use switchyard_consumer::{Incoming, MessageHandler, Outcome};
use switchyard_mail::{EmailAddress, suppression};
use switchyard_ses::{AccountSuppressionList, SesAccountSuppression};

use crate::{
    Settings,
    feedback::{Actionable, Feedback},
    intake::{self, Intake},
    store,
};

/// Consumes SES feedback into the suppression list.
pub struct Suppressor<S = SesAccountSuppression> {
    pool: PgPool,
    settings: Settings,
    /// Set when `SES_ACCOUNT_SUPPRESSION` is on.
    account: Option<S>,
}

impl<S: AccountSuppressionList> Suppressor<S> {
    pub fn new(pool: PgPool, settings: Settings, account: Option<S>) -> Self {
        Self {
            pool,
            settings,
            account,
        }
    }

    async fn apply(&self, feedback: &Feedback) -> Outcome {
        let kind = feedback.kind.label();
        if feedback.inferred {
            tracing::warn!(
                kind,
                "notification type missing or unknown; inferred from its detail object"
            );
        }
        let recipients = match &feedback.action {
            Actionable::Bounce { recipients, .. } | Actionable::Complaint { recipients, .. } => {
                recipients
            }
            Actionable::Nothing => {
                tracing::info!(kind, ses_message_id = ?feedback.ses_message_id, "no bounced or complained recipients; nothing to do");
                return Outcome::Done;
            }
        };
        let mut tx = match self.pool.begin().await {
            Ok(tx) => tx,
            Err(error) => return Outcome::retry(format!("database unavailable: {error}")),
        };
        // Feedback nobody can be suppressed for is kept (unattributed_feedback) and logged as a warning: it may be
        // a real bounce whose recipient SES could not name, and an operator must be able to find it.
        let mut unattributed = Vec::new();
        if recipients.is_empty() {
            unattributed.push((
                String::new(),
                format!("{kind} names no recipient; nothing to suppress"),
            ));
        }
        let mut newly = Vec::new();
        for raw in recipients {
            let address = match EmailAddress::parse(raw) {
                Ok(a) => a,
                Err(error) => {
                    unattributed
                        .push((raw.clone(), format!("recipient is not an address: {error}")));
                    continue;
                }
            };
            match store::decide(&mut tx, &self.settings.policy, feedback, &address).await {
                Ok(Some(applied)) => {
                    tracing::info!(
                        kind, %address, decision = applied.decision.outcome.as_str(),
                        reason = %applied.decision.reason, decision_id = applied.decision_id,
                        "feedback decided"
                    );
                    if let Some(reason) = applied.newly_suppressed {
                        newly.push((address, reason));
                    }
                }
                Ok(None) => {
                    tracing::info!(kind, %address, key = %feedback.key, "feedback already decided for this recipient; skipping")
                }
                Err(error) => {
                    return Outcome::retry(format!("storing the decision failed: {error}"));
                }
            }
        }
        for (recipient, reason) in &unattributed {
            match store::record_unattributed(&mut tx, feedback, recipient, reason).await {
                Ok(first) => tracing::warn!(
                    kind, recipient = %recipient, key = %feedback.key, %reason, redelivery = !first,
                    "feedback not attributable to an address; kept in unattributed_feedback"
                ),
                Err(error) => {
                    return Outcome::retry(format!(
                        "storing unattributed feedback failed: {error}"
                    ));
                }
            }
        }
        // The SES call happens inside the transaction: if it fails nothing is committed and the whole message comes
        // back; if the commit fails after it, the redelivery repeats an idempotent put.
        if let Some(account) = &self.account {
            for (address, reason) in &newly {
                if let Err(error) = account.put(address, *reason).await {
                    return Outcome::retry(error.to_string());
                }
                if let Err(error) = suppression::mark_ses_synced(&mut tx, address).await {
                    return Outcome::retry(format!("recording the SES sync failed: {error}"));
                }
                tracing::info!(%address, "added to the SES account-level suppression list");
            }
        }
        match tx.commit().await {
            Ok(()) => Outcome::Done,
            Err(error) => Outcome::retry(format!("commit failed: {error}")),
        }
    }
}

impl<S: AccountSuppressionList> MessageHandler for Suppressor<S> {
    async fn handle(&self, message: &Incoming) -> Outcome {
        match intake::read(message, &self.settings.topic_allowlist) {
            Intake::Skip(reason) => {
                tracing::info!(%reason, "message skipped");
                Outcome::Done
            }
            // The runtime logs the reason and the body at error level, once.
            Intake::Reject(reason) => Outcome::reject(reason),
            Intake::Feedback(feedback) => self.apply(&feedback).await,
        }
    }
}
