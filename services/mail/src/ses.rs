//! The optional sync to the SES account-level suppression list: unsuppressing an address here also removes it
//! there (SESv2 `DeleteSuppressedDestination`), or SES would keep dropping mail to it. The ses-suppressor adds to
//! that list (`SES_ACCOUNT_SUPPRESSION`); this service only removes.

use std::sync::Arc;

use aws_sdk_sesv2::{
    error::DisplayErrorContext,
    operation::delete_suppressed_destination::DeleteSuppressedDestinationError,
};
use futures::future::BoxFuture;
use switchyard_mail::EmailAddress;

/// The SES call failed; the suppression stays (the caller may retry: the removal is idempotent).
#[derive(Debug, thiserror::Error)]
#[error("DeleteSuppressedDestination for {address} failed: {message}")]
pub struct SyncError {
    pub address: String,
    pub message: String,
}

/// Somewhere unsuppressions are mirrored to. A trait object so tests can watch the calls (moto has no
/// DeleteSuppressedDestination).
pub trait AccountSuppressionList: Send + Sync + 'static {
    /// Removes `address`; an address that is not on the list is a success.
    fn remove<'a>(&'a self, address: &'a EmailAddress) -> BoxFuture<'a, Result<(), SyncError>>;
}

/// The account list the service uses: `None` when `SES_ACCOUNT_SUPPRESSION_SYNC` is off.
pub type AccountSync = Option<Arc<dyn AccountSuppressionList>>;

/// The SES account-level suppression list.
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

impl AccountSuppressionList for SesAccountSuppression {
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
                        address: address.to_string(),
                        message: DisplayErrorContext(&error).to_string(),
                    }),
                },
            }
        })
    }
}
