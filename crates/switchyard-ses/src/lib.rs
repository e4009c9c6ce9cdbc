//! The SES account-level suppression list, mirrored from ours: the ses-suppressor puts every new suppression on it
//! (`SES_ACCOUNT_SUPPRESSION`), the mail service removes an address from it when an operator unsuppresses one
//! (`SES_ACCOUNT_SUPPRESSION_SYNC`), or SES would keep dropping mail to it. One client for both, so both sides map
//! reasons and classify failures alike.
//!
//! [`AccountSuppressionList`] is a trait (object-safe) so tests can watch the calls: moto has neither
//! `PutSuppressedDestination` nor `DeleteSuppressedDestination`. Both calls are idempotent, so a caller that gets
//! a [`SyncError`] retries (the suppressor's message comes back; the mail API answers 503 and keeps the entry).

use aws_sdk_sesv2::{
    error::DisplayErrorContext,
    operation::delete_suppressed_destination::DeleteSuppressedDestinationError,
    types::SuppressionListReason,
};
use futures::future::BoxFuture;
use switchyard_mail::{EmailAddress, SuppressionReason};

/// An SES call failed; nothing was changed on our side (the caller retries: both calls are idempotent).
#[derive(Debug, thiserror::Error)]
#[error("{operation} for {address} failed: {message}")]
pub struct SyncError {
    /// `PutSuppressedDestination` or `DeleteSuppressedDestination`.
    pub operation: &'static str,
    pub address: String,
    pub message: String,
}

/// Somewhere our suppressions are mirrored to.
pub trait AccountSuppressionList: Send + Sync + 'static {
    /// Puts `address` on the list (again: a success).
    fn put<'a>(
        &'a self,
        address: &'a EmailAddress,
        reason: SuppressionReason,
    ) -> BoxFuture<'a, Result<(), SyncError>>;

    /// Removes `address`; an address that is not on the list is a success.
    fn remove<'a>(&'a self, address: &'a EmailAddress) -> BoxFuture<'a, Result<(), SyncError>>;
}

/// The SES account-level suppression list (SESv2).
#[derive(Debug, Clone)]
pub struct SesAccountSuppression {
    client: aws_sdk_sesv2::Client,
}

impl SesAccountSuppression {
    pub fn new(client: aws_sdk_sesv2::Client) -> Self {
        Self { client }
    }

    /// A client from the shared SDK config.
    pub fn from_sdk(aws: &aws_config::SdkConfig) -> Self {
        Self::new(aws_sdk_sesv2::Client::new(aws))
    }
}

/// SES knows two reasons; repeated soft bounces and manual entries go in as bounces.
pub fn ses_reason(reason: SuppressionReason) -> SuppressionListReason {
    match reason {
        SuppressionReason::Complaint => SuppressionListReason::Complaint,
        SuppressionReason::Bounce | SuppressionReason::SoftBounces | SuppressionReason::Manual => {
            SuppressionListReason::Bounce
        }
    }
}

impl AccountSuppressionList for SesAccountSuppression {
    fn put<'a>(
        &'a self,
        address: &'a EmailAddress,
        reason: SuppressionReason,
    ) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async move {
            self.client
                .put_suppressed_destination()
                .email_address(address.as_str())
                .reason(ses_reason(reason))
                .send()
                .await
                .map(|_| ())
                .map_err(|error| SyncError {
                    operation: "PutSuppressedDestination",
                    address: address.to_string(),
                    message: DisplayErrorContext(&error).to_string(),
                })
        })
    }

    fn remove<'a>(&'a self, address: &'a EmailAddress) -> BoxFuture<'a, Result<(), SyncError>> {
        Box::pin(async move {
            match self
                .client
                .delete_suppressed_destination()
                .email_address(address.as_str())
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(error) => match error.as_service_error() {
                    // Not on the account list: nothing to remove.
                    Some(DeleteSuppressedDestinationError::NotFoundException(_)) => Ok(()),
                    _ => Err(SyncError {
                        operation: "DeleteSuppressedDestination",
                        address: address.to_string(),
                        message: DisplayErrorContext(&error).to_string(),
                    }),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complaints_stay_complaints_everything_else_is_a_bounce() {
        assert_eq!(
            ses_reason(SuppressionReason::Complaint),
            SuppressionListReason::Complaint
        );
        for r in [
            SuppressionReason::Bounce,
            SuppressionReason::SoftBounces,
            SuppressionReason::Manual,
        ] {
            assert_eq!(ses_reason(r), SuppressionListReason::Bounce);
        }
    }
}
