//! Sending through SES: SESv2 `SendEmail`, or SES (v1) `SendEmail` for emulators without SESv2, and what each
//! failure means for the state machine.
//!
//! SendEmail has no idempotency token, so the SDK's own retries are turned off for these clients: a retried request
//! after a lost response could deliver twice. Every failure is classified instead ([`SendError`]): definitely not
//! sent (throttling, quota, paused sending, connection never opened) -> retry the message later; rejected -> failed;
//! anything else (timeout, lost or unreadable response, 5xx) -> unknown, never resent automatically.

use std::{future::Future, time::Duration};

use aws_config::SdkConfig;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_types::{retry::RetryConfig, timeout::TimeoutConfig};
use switchyard_core::config::ConfigError;

use crate::compose::Email;

/// Which SES API sends (`SES_API`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SesApi {
    V2,
    V1,
}

impl SesApi {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2 => "v2",
            Self::V1 => "v1",
        }
    }
}

impl std::fmt::Display for SesApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SesApi {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v2" | "sesv2" => Ok(Self::V2),
            "v1" | "ses" => Ok(Self::V1),
            other => Err(ConfigError::Invalid {
                name: "SES_API".into(),
                value: other.into(),
                reason: "expected v2 (SESv2 SendEmail) or v1 (SES SendEmail)".into(),
            }),
        }
    }
}

/// One send request.
#[derive(Debug, Clone)]
pub struct Outgoing<'a> {
    pub email: &'a Email,
    /// Tagged on the message (`event_id`), so feedback and event publishing name the event.
    pub event_id: String,
}

/// Why a send did not succeed, and what that means.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// SES certainly did not send (throttling, quota, paused sending, no connection): try again later.
    #[error("not sent, retry later: {0}")]
    NotSent(String),
    /// SES refused the message for good (bad address, unverified sender, missing configuration set...).
    #[error("rejected: {0}")]
    Rejected(String),
    /// SES may or may not have sent it (timeout, lost or unreadable response, server error).
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// Something that sends email. A trait so tests can count and fail sends.
pub trait Sender: Send + Sync + 'static {
    fn api(&self) -> SesApi;
    /// Sends one email; `Ok` carries the SES message id.
    fn send(
        &self,
        outgoing: &Outgoing<'_>,
    ) -> impl Future<Output = Result<String, SendError>> + Send;
}

/// SES, through the API `SES_API` chose.
#[derive(Debug, Clone)]
pub struct SesSender {
    api: SesApi,
    v2: aws_sdk_sesv2::Client,
    v1: aws_sdk_ses::Client,
    from: String,
    configuration_set: Option<String>,
}

/// Longest a send may take; the claim lease must be longer (see `Settings::send_lease`).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);

impl SesSender {
    pub fn new(
        aws: &SdkConfig,
        api: SesApi,
        from: String,
        configuration_set: Option<String>,
    ) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(5))
            .operation_timeout(SEND_TIMEOUT)
            .build();
        let v2 = aws_sdk_sesv2::config::Builder::from(aws)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts.clone())
            .build();
        let v1 = aws_sdk_ses::config::Builder::from(aws)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        Self {
            api,
            v2: aws_sdk_sesv2::Client::from_conf(v2),
            v1: aws_sdk_ses::Client::from_conf(v1),
            from,
            configuration_set,
        }
    }

    async fn send_v2(&self, o: &Outgoing<'_>) -> Result<String, SendError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageTag};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Rejected(format!("building the request: {e}")))
        };
        let tag = MessageTag::builder()
            .name("event_id")
            .value(&o.event_id)
            .build()
            .map_err(|e| SendError::Rejected(format!("building the request: {e}")))?;
        let message = Message::builder()
            .subject(content(&o.email.subject)?)
            .body(
                Body::builder()
                    .text(content(&o.email.text)?)
                    .html(content(&o.email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .v2
            .send_email()
            .from_email_address(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(o.email.recipient.as_str())
                    .build(),
            )
            .content(EmailContent::builder().simple(message).build())
            .set_configuration_set_name(self.configuration_set.clone())
            .email_tags(tag)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        out.message_id.ok_or_else(|| {
            SendError::Unknown("SESv2 SendEmail answered without a MessageId".into())
        })
    }

    async fn send_v1(&self, o: &Outgoing<'_>) -> Result<String, SendError> {
        use aws_sdk_ses::types::{Body, Content, Destination, Message, MessageTag};
        let content = |data: &str| {
            Content::builder()
                .data(data)
                .charset("UTF-8")
                .build()
                .map_err(|e| SendError::Rejected(format!("building the request: {e}")))
        };
        let tag = MessageTag::builder()
            .name("event_id")
            .value(&o.event_id)
            .build()
            .map_err(|e| SendError::Rejected(format!("building the request: {e}")))?;
        let message = Message::builder()
            .subject(content(&o.email.subject)?)
            .body(
                Body::builder()
                    .text(content(&o.email.text)?)
                    .html(content(&o.email.html)?)
                    .build(),
            )
            .build();
        let out = self
            .v1
            .send_email()
            .source(&self.from)
            .destination(
                Destination::builder()
                    .to_addresses(o.email.recipient.as_str())
                    .build(),
            )
            .message(message)
            .set_configuration_set_name(self.configuration_set.clone())
            .tags(tag)
            .send()
            .await
            .map_err(|e| classify(&e))?;
        Ok(out.message_id)
    }
}

impl Sender for SesSender {
    fn api(&self) -> SesApi {
        self.api
    }

    async fn send(&self, outgoing: &Outgoing<'_>) -> Result<String, SendError> {
        match self.api {
            SesApi::V2 => self.send_v2(outgoing).await,
            SesApi::V1 => self.send_v1(outgoing).await,
        }
    }
}

/// Error codes that mean "not sent, try later", for both APIs: throttling and sending quotas, paused sending.
const NOT_SENT_CODES: &[&str] = &[
    // SESv2
    "TooManyRequestsException",
    "LimitExceededException",
    "SendingPausedException",
    "AccountSuspendedException",
    // SES v1 ("Maximum sending rate exceeded." / "Daily message quota exceeded." are both Throttling)
    "Throttling",
    "ThrottlingException",
    "AccountSendingPausedException",
    "ConfigurationSetSendingPausedException",
    // generic
    "ServiceUnavailable",
    "RequestLimitExceeded",
];

/// Classifies an SDK error of either API.
pub fn classify<E, R>(error: &SdkError<E, R>) -> SendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = DisplayErrorContext(error).to_string();
    match error {
        SdkError::ConstructionFailure(_) => SendError::Rejected(text),
        SdkError::DispatchFailure(failure)
            if never_connected(
                failure
                    .as_connector_error()
                    .map(|e| e as &(dyn std::error::Error + 'static)),
            ) =>
        {
            SendError::NotSent(text)
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            classify_code(code, text)
        }
        // Timeout, a request written but no response, an unreadable response: SES may have sent it.
        _ => SendError::Unknown(text),
    }
}

fn classify_code(code: &str, text: String) -> SendError {
    if NOT_SENT_CODES.contains(&code) {
        SendError::NotSent(text)
    } else if code.is_empty() || code.starts_with("Internal") {
        // No code (an unexpected answer) or a server-side failure: not provably unsent.
        SendError::Unknown(text)
    } else {
        SendError::Rejected(text)
    }
}

/// The connection to SES was never established (refused, DNS failure, connect timeout): nothing was sent.
fn never_connected(connector: Option<&(dyn std::error::Error + 'static)>) -> bool {
    let mut source = connector;
    while let Some(error) = source {
        if let Some(client) = error.downcast_ref::<hyper_util::client::legacy::Error>() {
            return client.is_connect();
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        for code in [
            "TooManyRequestsException",
            "LimitExceededException",
            "Throttling",
            "SendingPausedException",
        ] {
            assert!(
                matches!(classify_code(code, code.into()), SendError::NotSent(_)),
                "{code}"
            );
        }
        for code in [
            "MessageRejected",
            "MailFromDomainNotVerifiedException",
            "NotFoundException",
            "BadRequestException",
        ] {
            assert!(
                matches!(classify_code(code, code.into()), SendError::Rejected(_)),
                "{code}"
            );
        }
        for code in ["", "InternalFailure", "InternalServerError"] {
            assert!(
                matches!(classify_code(code, code.into()), SendError::Unknown(_)),
                "{code:?}"
            );
        }
    }

    #[test]
    fn ses_api_parses() {
        assert_eq!("v2".parse::<SesApi>().unwrap_or(SesApi::V1), SesApi::V2);
        assert_eq!(" V1 ".parse::<SesApi>().unwrap_or(SesApi::V2), SesApi::V1);
        assert!("v3".parse::<SesApi>().is_err());
    }
}
