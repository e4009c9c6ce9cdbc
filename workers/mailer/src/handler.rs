//! The message handler: event -> email -> claim -> send -> record.

use std::time::Duration;

use sqlx::PgPool;
use switchyard_consumer::{Incoming, MessageHandler, Outcome};
use switchyard_events::CloudEvent;

use crate::{
    compose::Templates,
    outbound::{self, Claim, Recorded},
    ses::{Outgoing, SendError, Sender, SesSender},
};

/// Sends one email per event and recipient, never twice.
pub struct Mailer<S = SesSender> {
    pool: PgPool,
    sender: S,
    templates: Templates,
    /// How long a `sending` claim is presumed alive (longer than any send can take).
    send_lease: Duration,
}

impl<S: Sender> Mailer<S> {
    pub fn new(pool: PgPool, sender: S, templates: Templates, send_lease: Duration) -> Self {
        Self {
            pool,
            sender,
            templates,
            send_lease,
        }
    }
}

impl<S: Sender> MessageHandler for Mailer<S> {
    async fn handle(&self, message: &Incoming) -> Outcome {
        let event = match CloudEvent::from_json(&message.body) {
            Ok(event) => event,
            Err(error) => return Outcome::reject(format!("unreadable event: {error}")),
        };
        let email = match self.templates.compose(&event) {
            Ok(Some(email)) => email,
            Ok(None) => {
                tracing::warn!(event_type = %event.event_type, "no email for this event type (check the queue's filter policy)");
                return Outcome::Done;
            }
            Err(error) => return Outcome::reject(format!("cannot compose the email: {error}")),
        };
        let api = self.sender.api().as_str();
        let claim = outbound::claim(
            &self.pool,
            event.id,
            &event.event_type,
            &email,
            api,
            self.send_lease,
        )
        .await;
        let id = match claim {
            Err(error) => return Outcome::retry(format!("claiming the send failed: {error}")),
            Ok(Claim::Send { id }) => id,
            Ok(Claim::Skipped { reason }) => {
                tracing::info!(recipient = %email.recipient, template = email.template, %reason, "not sent: recipient suppressed");
                return Outcome::Done;
            }
            Ok(Claim::Finished { status }) => {
                tracing::info!(recipient = %email.recipient, %status, "already handled; duplicate delivery skipped");
                return Outcome::Done;
            }
            Ok(Claim::Busy { after }) => {
                return Outcome::Retry {
                    after: Some(after),
                    reason: "another delivery of this event is sending it now".into(),
                };
            }
            Ok(Claim::Abandoned { id }) => {
                tracing::error!(
                    outbound_id = id, recipient = %email.recipient,
                    "a previous send attempt stopped between claim and record; marked unknown, not resent"
                );
                return Outcome::Done;
            }
        };

        let outgoing = Outgoing {
            email: &email,
            event_id: event.id.to_string(),
        };
        let (recorded, outcome) = match self.sender.send(&outgoing).await {
            Ok(ses_message_id) => {
                tracing::info!(outbound_id = id, recipient = %email.recipient, template = email.template, %ses_message_id, api, "email sent");
                let r = outbound::record(
                    &self.pool,
                    id,
                    Recorded::Sent {
                        ses_message_id: &ses_message_id,
                    },
                )
                .await;
                (r, Outcome::Done)
            }
            Err(SendError::NotSent(detail)) => {
                let r =
                    outbound::record(&self.pool, id, Recorded::NotSent { detail: &detail }).await;
                (
                    r,
                    Outcome::retry(format!(
                        "SES did not send (throttling, quota or no connection): {detail}"
                    )),
                )
            }
            Err(SendError::Rejected(detail)) => {
                tracing::error!(outbound_id = id, recipient = %email.recipient, %detail, "SES rejected the email; recorded as failed");
                let r =
                    outbound::record(&self.pool, id, Recorded::Failed { detail: &detail }).await;
                (r, Outcome::Done)
            }
            Err(SendError::Unknown(detail)) => {
                tracing::error!(outbound_id = id, recipient = %email.recipient, %detail, "SES send outcome unknown; recorded as unknown, not resent");
                let r =
                    outbound::record(&self.pool, id, Recorded::Unknown { detail: &detail }).await;
                (r, Outcome::Done)
            }
        };
        match recorded {
            Ok(()) => outcome,
            // The row stays `sending`; a redelivery after the lease marks it `unknown` (crash window 3).
            Err(error) => Outcome::retry(format!("recording the send result failed: {error}")),
        }
    }
}
