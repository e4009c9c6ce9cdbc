//! The mail service's domain operation behind `DELETE /v1/suppressions/{email}`: unsuppressing an address, in the
//! SES account-level list first (when the sync is on) and then in ours, audited, all or nothing.

use std::time::Duration;

use sqlx::PgPool;
use switchyard_http::ApiError;
use switchyard_mail::EmailAddress;
use uuid::Uuid;

use crate::{
    http::AccountSync,
    store::{self, Removal, SuppressionEntry},
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not suppressed")]
    NotSuppressed,
    /// SES refused or failed; our entry stays (retry: both steps are idempotent).
    #[error(transparent)]
    Ses(#[from] switchyard_ses::SyncError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotSuppressed => ApiError::NotFound,
            Error::Ses(e) => ApiError::unavailable(e.to_string(), Duration::from_secs(5)),
            Error::Database(e) => e.into(),
        }
    }
}

/// Removes `address` from the suppression list (and the SES account list with `account`), recording who did it.
/// The entry is locked until commit: a suppressor decision for the address waits, then re-suppresses if it must.
pub async fn unsuppress(
    pool: &PgPool,
    account: &AccountSync,
    address: &EmailAddress,
    by: Uuid,
) -> Result<(SuppressionEntry, Removal), Error> {
    let mut tx = pool.begin().await?;
    let entry = store::find_suppression(&mut tx, address, true)
        .await?
        .ok_or(Error::NotSuppressed)?;
    if let Some(account) = account {
        account.remove(address).await.inspect_err(|error| {
            tracing::warn!(%error, "SES account suppression list not updated; the entry stays");
        })?;
    }
    let removal = store::remove_suppression(&mut tx, &entry, by, account.is_some()).await?;
    tx.commit().await?;
    tracing::info!(
        address = %address, reason = %removal.reason, ses = account.is_some(),
        "address unsuppressed"
    );
    Ok((entry, removal))
}
