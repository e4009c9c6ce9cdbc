//! The optional sync to the SES account-level suppression list (SESv2 `PutSuppressedDestination`).

use std::future::Future;

use aws_sdk_sesv2::{error::DisplayErrorContext, types::SuppressionListReason};
use switchyard_mail::{EmailAddress, SuppressionReason};

/// The SES call failed; the message is retried (the call is an idempotent put).
#[derive(Debug, thiserror::Error)]
#[error("PutSuppressedDestination for {address} failed: {message}")]
pub struct SyncError {
    pub address: String,
    pub message: String,
}

/// Somewhere suppressions are mirrored to. A trait so tests can watch the calls without SES (moto has no
/// PutSuppressedDestination).
pub trait AccountSuppressionList: Send + Sync + 'static {
    fn put(
        &self,
        address: &EmailAddress,
        reason: SuppressionReason,
    ) -> impl Future<Output = Result<(), SyncError>> + Send;
}

/// The SES account-level suppression list.
#[derive(Debug, Clone)]
pub struct SesAccountSuppression {
    client: aws_sdk_sesv2::Client,
}

impl SesAccountSuppression {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }
}

impl AccountSuppressionList for SesAccountSuppression {
    async fn put(
        &self,
        address: &EmailAddress,
        reason: SuppressionReason,
    ) -> Result<(), SyncError> {
        // SES knows two reasons; repeated soft bounces and manual entries go in as bounces.
        let ses_reason = match reason {
            SuppressionReason::Complaint => SuppressionListReason::Complaint,
            SuppressionReason::Bounce
            | SuppressionReason::SoftBounces
            | SuppressionReason::Manual => SuppressionListReason::Bounce,
        };
        self.client
            .put_suppressed_destination()
            .email_address(address.as_str())
            .reason(ses_reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|error| SyncError {
                address: address.to_string(),
                message: DisplayErrorContext(&error).to_string(),
            })
    }
}
