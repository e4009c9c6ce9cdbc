//! The runtime's own SQS client: the four calls a consumer makes (`ReceiveMessage`, `DeleteMessageBatch`,
//! `ChangeMessageVisibility`, `ChangeMessageVisibilityBatch`) over SQS's AWS JSON 1.0 protocol, SigV4-signed
//! ([`crate::sigv4`], checked against the SDK's signer), on one kept-alive HTTP/1.1 connection pool.
//!
//! Why not the AWS SDK's client: it is the worker's largest cost per message (issue #12: 77 µs of CPU per message
//! for a plain SDK receive + delete loop against LocalStack, more than the inbox transaction). Its orchestrator runs
//! interceptors, identity and endpoint resolution, retry classification and response deserialisation through
//! generic layers on every call. These four calls need none of that generality: a JSON body, one signature, one
//! parse into the fields the runtime reads.
//!
//! What carries over from the SDK's configuration ([`Sqs::new`] takes the same `SdkConfig`): the region, the
//! credentials chain (ECS task role, environment, profile; cached here until five minutes before expiry), the
//! endpoint (`AWS_ENDPOINT_URL_SQS`, `AWS_ENDPOINT_URL`, the profile's `endpoint_url`, else the SDK's own resolver
//! for the region, FIPS and dual-stack settings). TLS is rustls with aws-lc (post-quantum key exchange first, as
//! in the SDK's client) and the webpki roots. Transient failures (connection errors, 5xx, throttling) are retried
//! twice with jittered backoff, as the SDK's standard retry mode does; anything else is the caller's to handle —
//! the runtime backs off receives, and a failed delete only means a redelivery the inbox deduplicates.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use aws_config::SdkConfig;
use aws_credential_types::{
    Credentials,
    provider::{ProvideCredentials, SharedCredentialsProvider},
};
use aws_sdk_sqs::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_types::service_config::ServiceConfigKey;

use crate::sigv4::{self, Signer};
use rand::Rng;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HOST, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

const X_AMZ_TARGET: HeaderName = HeaderName::from_static("x-amz-target");
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");

/// How long before expiry cached credentials are refreshed.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(5 * 60);
/// Timeout of a call that does not long-poll.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts per call for transient failures.
const ATTEMPTS: u32 = 3;

/// Why an SQS call failed.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    /// Missing or unusable configuration: names what is missing.
    #[error("SQS client configuration: {0}")]
    Config(String),
    #[error("loading AWS credentials: {0}")]
    Credentials(String),
    /// No answer: connection refused or reset, timeout.
    #[error("{operation}: {source}")]
    Transport {
        operation: &'static str,
        #[source]
        source: reqwest::Error,
    },
    /// SQS answered with an error (`code` is the part of `__type` after `#`, e.g. `QueueDoesNotExist`).
    #[error("{operation}: HTTP {status} {code}: {message}")]
    Service {
        operation: &'static str,
        status: u16,
        code: String,
        message: String,
    },
    /// A 200 whose body is not what the operation returns.
    #[error("{operation}: unreadable response: {source}")]
    Decode {
        operation: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

impl SqsError {
    /// Worth another attempt: no answer, a server error, or throttling.
    fn transient(&self) -> bool {
        match self {
            Self::Transport { source, .. } => {
                source.is_connect() || source.is_timeout() || source.is_request()
            }
            Self::Service { status, code, .. } => {
                *status >= 500
                    || code.contains("Throttl")
                    || code == "RequestThrottled"
                    || code == "KmsThrottled"
            }
            _ => false,
        }
    }
}

/// A received message: the fields the runtime reads (the rest of SQS's answer is not parsed).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// System attributes requested on receive (`ApproximateReceiveCount`).
    pub attributes: BTreeMap<String, String>,
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

impl Message {
    pub fn receive_count(&self) -> Option<u32> {
        self.attributes
            .get("ApproximateReceiveCount")
            .and_then(|v| v.parse().ok())
    }

    /// The message's `String` and `Number` attributes (binary ones have no text).
    pub fn string_attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.message_attributes
            .iter()
            .filter_map(|(k, v)| v.string_value.as_deref().map(|s| (k.as_str(), s)))
    }
}

/// One message attribute (`DataType` is `String`, `Number` or `Binary`, with an optional `.label`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MessageAttribute {
    pub data_type: String,
    pub string_value: Option<String>,
}

impl MessageAttribute {
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".into(),
            string_value: Some(value.into()),
        }
    }
}

/// What `ReceiveMessage` asks for.
#[derive(Debug, Clone)]
pub struct Receive {
    pub max_messages: u32,
    pub wait: Duration,
    pub visibility: Duration,
}

/// An entry of a batch call that SQS did not apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BatchFailure {
    /// The entry's index in the request.
    pub id: String,
    pub code: String,
    pub message: Option<String>,
    pub sender_fault: bool,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ReceiveOutput {
    messages: Vec<Message>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct BatchOutput {
    failed: Vec<BatchFailure>,
}

#[derive(Deserialize, Default)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ReceiveInput<'a> {
    queue_url: &'a str,
    max_number_of_messages: u32,
    wait_time_seconds: u64,
    visibility_timeout: u64,
    message_system_attribute_names: [&'static str; 1],
    message_attribute_names: [&'static str; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BatchInput<'a, E> {
    queue_url: &'a str,
    entries: Vec<E>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteEntry<'a> {
    id: String,
    receipt_handle: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VisibilityEntry<'a> {
    id: String,
    receipt_handle: &'a str,
    visibility_timeout: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct VisibilityInput<'a> {
    queue_url: &'a str,
    receipt_handle: &'a str,
    visibility_timeout: u64,
}

/// An error answer: `{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "..."}` (some answers spell it
/// `Message`, some carry both).
#[derive(Deserialize, Default)]
#[serde(default)]
struct ErrorBody {
    #[serde(rename = "__type")]
    kind: Option<String>,
    message: Option<String>,
    #[serde(rename = "Message")]
    message_capitalised: Option<String>,
}

impl ErrorBody {
    /// The error code (the part after `#`) and message of an error answer; the code falls back to the
    /// `x-amzn-errortype` header, the message to the start of the body.
    fn read(body: &[u8], header: Option<&str>) -> (String, String) {
        let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let code = parsed
            .kind
            .as_deref()
            .or(header)
            .map(|t| t.split(':').next().unwrap_or(t))
            .and_then(|t| t.rsplit('#').next())
            .filter(|c| !c.is_empty())
            .unwrap_or("Unknown")
            .to_owned();
        let message = parsed
            .message
            .or(parsed.message_capitalised)
            .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned());
        (code, message)
    }
}

/// The client. Cheap to clone (one connection pool and credentials cache for all clones).
#[derive(Clone)]
pub struct Sqs {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    endpoint: String,
    /// `endpoint`, parsed once.
    url: reqwest::Url,
    signer: Signer,
    region: String,
    provider: SharedCredentialsProvider,
    cached: RwLock<Option<Credentials>>,
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Sqs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqs")
            .field("endpoint", &self.inner.endpoint)
            .field("region", &self.inner.region)
            .finish_non_exhaustive()
    }
}

impl Sqs {
    /// A client for the region, credentials and SQS endpoint of `aws` (see the module docs).
    pub async fn new(aws: &SdkConfig) -> Result<Self, SqsError> {
        let region = aws
            .region()
            .map(|r| r.as_ref().to_owned())
            .ok_or_else(|| SqsError::Config("no region: set AWS_REGION".into()))?;
        let provider = aws
            .credentials_provider()
            .ok_or_else(|| SqsError::Config("no credentials provider in the AWS config".into()))?;
        let endpoint = endpoint(aws, &region).await?;
        let url = reqwest::Url::parse(&endpoint)
            .map_err(|e| SqsError::Config(format!("SQS endpoint {endpoint:?}: {e}")))?;
        let signer = Signer::new(&region, "sqs", &url);
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| SqsError::Config(format!("TLS: {e}")))?
        .with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
        .with_no_client_auth();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .connect_timeout(Duration::from_secs(5))
            .tcp_nodelay(true)
            // SQS never redirects (one would be an error, not something to follow), and the calls need nothing
            // beyond HTTP/1.1: event-archive's instructions per message under callgrind -3% with both.
            .redirect(reqwest::redirect::Policy::none())
            .http1_only()
            // Under SQS's idle timeout, so a pooled connection is rarely one the server has just closed.
            .pool_idle_timeout(Duration::from_secs(50))
            .build()
            .map_err(|e| SqsError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoint,
                url,
                signer,
                region,
                provider,
                cached: RwLock::new(None),
                refresh: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Where the calls go.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Long-polls for up to `receive.max_messages`, with the receive count and every message attribute.
    pub async fn receive(
        &self,
        queue_url: &str,
        receive: &Receive,
    ) -> Result<Vec<Message>, SqsError> {
        let input = ReceiveInput {
            queue_url,
            max_number_of_messages: receive.max_messages.clamp(1, 10),
            wait_time_seconds: receive.wait.as_secs().min(20),
            visibility_timeout: receive.visibility.as_secs().max(1),
            message_system_attribute_names: ["ApproximateReceiveCount"],
            message_attribute_names: ["All"],
        };
        let timeout = receive.wait + CALL_TIMEOUT;
        let out: ReceiveOutput = self
            .call("AmazonSQS.ReceiveMessage", &input, timeout)
            .await?;
        Ok(out.messages)
    }

    /// Deletes up to ten messages; returns the entries SQS did not delete (`id` is the index in `receipts`).
    pub async fn delete_batch(
        &self,
        queue_url: &str,
        receipts: &[String],
    ) -> Result<Vec<BatchFailure>, SqsError> {
        let input = BatchInput {
            queue_url,
            entries: receipts
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteEntry {
                    id: i.to_string(),
                    receipt_handle: r,
                })
                .collect(),
        };
        let out: BatchOutput = self
            .call("AmazonSQS.DeleteMessageBatch", &input, CALL_TIMEOUT)
            .await?;
        Ok(out.failed)
    }

    pub async fn change_visibility(
        &self,
        queue_url: &str,
        receipt: &str,
        visibility: Duration,
    ) -> Result<(), SqsError> {
        let input = VisibilityInput {
            queue_url,
            receipt_handle: receipt,
            visibility_timeout: visibility.as_secs(),
        };
        let _: Empty = self
            .call("AmazonSQS.ChangeMessageVisibility", &input, CALL_TIMEOUT)
            .await?;
        Ok(())
    }

    /// The same visibility for up to ten messages; returns the entries SQS did not change.
    pub async fn change_visibility_batch<'a>(
        &self,
        queue_url: &str,
        receipts: impl IntoIterator<Item = &'a str>,
        visibility: Duration,
    ) -> Result<Vec<BatchFailure>, SqsError> {
        let input = BatchInput {
            queue_url,
            entries: receipts
                .into_iter()
                .enumerate()
                .map(|(i, r)| VisibilityEntry {
                    id: i.to_string(),
                    receipt_handle: r,
                    visibility_timeout: visibility.as_secs(),
                })
                .collect(),
        };
        let out: BatchOutput = self
            .call(
                "AmazonSQS.ChangeMessageVisibilityBatch",
                &input,
                CALL_TIMEOUT,
            )
            .await?;
        Ok(out.failed)
    }

    /// One call, by its `X-Amz-Target` (`AmazonSQS.<Operation>`), with retries of transient failures.
    async fn call<I: Serialize, O: DeserializeOwned + Default>(
        &self,
        target: &'static str,
        input: &I,
        timeout: Duration,
    ) -> Result<O, SqsError> {
        let operation = target.strip_prefix("AmazonSQS.").unwrap_or(target);
        // Serialised once; each attempt sends the same buffer (a `Bytes` clone shares it).
        let body = bytes::Bytes::from(
            serde_json::to_vec(input).map_err(|source| SqsError::Decode { operation, source })?,
        );
        let mut attempt = 1;
        loop {
            match self.attempt(target, operation, &body, timeout).await {
                Err(error) if attempt < ATTEMPTS && error.transient() => {
                    let cap = Duration::from_millis(50 * 4u64.pow(attempt - 1));
                    let pause = cap.mul_f64(rand::rng().random::<f64>());
                    tracing::debug!(operation, attempt, error = %error, "retrying an SQS call");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt<O: DeserializeOwned + Default>(
        &self,
        target: &'static str,
        operation: &'static str,
        body: &bytes::Bytes,
        timeout: Duration,
    ) -> Result<O, SqsError> {
        let credentials = self.credentials().await?;
        let signature = self
            .inner
            .signer
            .sign(&credentials, target, body, SystemTime::now());
        let mut request = self
            .inner
            .http
            .post(self.inner.url.clone())
            .timeout(timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static(sigv4::CONTENT_TYPE))
            .header(X_AMZ_TARGET, HeaderValue::from_static(target))
            .header(HOST, self.inner.signer.host())
            .header(X_AMZ_DATE, signature.amz_date)
            .header(AUTHORIZATION, signature.authorization)
            .body(body.clone());
        if let Some(token) = credentials.session_token() {
            request = request.header(X_AMZ_SECURITY_TOKEN, token.trim());
        }
        let transport = |source| SqsError::Transport { operation, source };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let error_type = response
            .headers()
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            if bytes.is_empty() {
                return Ok(O::default());
            }
            return serde_json::from_slice(&bytes)
                .map_err(|source| SqsError::Decode { operation, source });
        }
        let (code, message) = ErrorBody::read(&bytes, error_type.as_deref());
        Err(SqsError::Service {
            operation,
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// Cached credentials, refreshed (once, whoever asks first) when missing or within five minutes of expiry.
    async fn credentials(&self) -> Result<Credentials, SqsError> {
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let _one = self.inner.refresh.lock().await;
        if let Some(c) = self.fresh() {
            return Ok(c);
        }
        let loaded = self
            .inner
            .provider
            .provide_credentials()
            .await
            .map_err(|e| {
                SqsError::Credentials(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string())
            })?;
        *self.inner.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(loaded.clone());
        Ok(loaded)
    }

    fn fresh(&self) -> Option<Credentials> {
        let cached = self.inner.cached.read().unwrap_or_else(|p| p.into_inner());
        let c = cached.as_ref()?;
        match c.expiry() {
            Some(expiry) if expiry <= SystemTime::now() + REFRESH_BEFORE_EXPIRY => None,
            _ => Some(c.clone()),
        }
    }
}

/// The SQS endpoint the SDK would use: one set in code, else `AWS_ENDPOINT_URL_SQS` / the profile's SQS
/// `endpoint_url`, else `AWS_ENDPOINT_URL`, else the SDK's resolver for the region (FIPS, dual stack).
async fn endpoint(aws: &SdkConfig, region: &str) -> Result<String, SqsError> {
    let configured = if aws.get_origin("endpoint_url").is_client_config() {
        aws.endpoint_url().map(str::to_owned)
    } else {
        aws.service_config()
            .and_then(|c| {
                c.load_config(
                    ServiceConfigKey::builder()
                        .service_id("SQS")
                        .env("AWS_ENDPOINT_URL")
                        .profile("endpoint_url")
                        .build()
                        .ok()?,
                )
            })
            .or_else(|| aws.endpoint_url().map(str::to_owned))
    };
    if let Some(url) = configured {
        return Ok(url);
    }
    let params = Params::builder()
        .region(region)
        .use_fips(aws.use_fips().unwrap_or(false))
        .use_dual_stack(aws.use_dual_stack().unwrap_or(false))
        .build()
        .map_err(|e| SqsError::Config(format!("SQS endpoint parameters: {e}")))?;
    let resolved = DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| SqsError::Config(format!("no SQS endpoint for region {region}: {e}")))?;
    Ok(resolved.url().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receive_answer_is_read_into_the_fields_the_runtime_uses() {
        let answer = r#"{"Messages":[{"MessageId":"m-1","ReceiptHandle":"r-1","MD5OfBody":"x","Body":"{}",
            "Attributes":{"ApproximateReceiveCount":"3"},
            "MessageAttributes":{"type":{"DataType":"String","StringValue":"t.v1"},
                                 "bin":{"DataType":"Binary","BinaryValue":"AAE="}}}]}"#;
        let out: ReceiveOutput = serde_json::from_str(answer).unwrap();
        let m = &out.messages[0];
        assert_eq!(
            (
                m.message_id.as_str(),
                m.receipt_handle.as_str(),
                m.body.as_str()
            ),
            ("m-1", "r-1", "{}")
        );
        assert_eq!(m.receive_count(), Some(3));
        assert_eq!(
            m.string_attributes().collect::<Vec<_>>(),
            vec![("type", "t.v1")]
        );
        let empty: ReceiveOutput = serde_json::from_str("{}").unwrap();
        assert!(empty.messages.is_empty());
    }

    #[test]
    fn requests_carry_the_names_sqs_expects() {
        let input = ReceiveInput {
            queue_url: "http://q",
            max_number_of_messages: 10,
            wait_time_seconds: 20,
            visibility_timeout: 30,
            message_system_attribute_names: ["ApproximateReceiveCount"],
            message_attribute_names: ["All"],
        };
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            serde_json::json!({"QueueUrl":"http://q","MaxNumberOfMessages":10,"WaitTimeSeconds":20,
                "VisibilityTimeout":30,"MessageSystemAttributeNames":["ApproximateReceiveCount"],
                "MessageAttributeNames":["All"]})
        );
        let batch = BatchInput {
            queue_url: "http://q",
            entries: vec![DeleteEntry {
                id: "0".into(),
                receipt_handle: "r",
            }],
        };
        assert_eq!(
            serde_json::to_value(&batch).unwrap(),
            serde_json::json!({"QueueUrl":"http://q","Entries":[{"Id":"0","ReceiptHandle":"r"}]})
        );
    }

    /// Counts how often the chain is asked; each answer expires `valid_for` from now.
    #[derive(Debug)]
    struct Counting {
        calls: Arc<std::sync::atomic::AtomicUsize>,
        valid_for: Duration,
    }

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let expiry = SystemTime::now() + self.valid_for;
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                "AKID",
                "secret",
                Some("token".into()),
                Some(expiry),
                "test",
            )))
        }
    }

    fn config(
        region: &str,
        valid_for: Duration,
    ) -> (SdkConfig, Arc<std::sync::atomic::AtomicUsize>) {
        let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let provider = Counting {
            calls: calls.clone(),
            valid_for,
        };
        let config = SdkConfig::builder()
            .region(aws_types::region::Region::new(region.to_owned()))
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
        (config, calls)
    }

    #[tokio::test]
    async fn without_an_endpoint_setting_the_sdk_resolver_names_the_regional_endpoint() {
        let (aws, _) = config("eu-west-1", Duration::from_secs(3600));
        let sqs = Sqs::new(&aws).await.unwrap();
        assert_eq!(sqs.endpoint(), "https://sqs.eu-west-1.amazonaws.com");
        let custom = aws
            .to_builder()
            .endpoint_url("http://127.0.0.1:4566")
            .build();
        assert_eq!(
            Sqs::new(&custom).await.unwrap().endpoint(),
            "http://127.0.0.1:4566"
        );
        let no_region = SdkConfig::builder().build();
        let error = Sqs::new(&no_region).await.unwrap_err();
        assert!(error.to_string().contains("AWS_REGION"), "{error}");
    }

    #[tokio::test]
    async fn credentials_are_cached_until_five_minutes_before_they_expire() {
        let (aws, calls) = config("us-east-1", Duration::from_secs(3600));
        let sqs = Sqs::new(&aws).await.unwrap();
        for _ in 0..3 {
            assert_eq!(sqs.credentials().await.unwrap().access_key_id(), "AKID");
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let (aws, calls) = config("us-east-1", Duration::from_secs(60));
        let sqs = Sqs::new(&aws).await.unwrap();
        for _ in 0..3 {
            sqs.credentials().await.unwrap();
        }
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "expiring soon: asked every time"
        );
    }

    #[test]
    fn error_answers_are_read_with_either_spelling_of_message_and_the_header_as_a_fallback() {
        let both = br#"{"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "gone", "Message": "gone"}"#;
        assert_eq!(
            ErrorBody::read(both, None),
            ("QueueDoesNotExist".into(), "gone".into())
        );
        let upper = br#"{"__type": "com.amazonaws.sqs#InvalidAddress", "Message": "bad"}"#;
        assert_eq!(
            ErrorBody::read(upper, None),
            ("InvalidAddress".into(), "bad".into())
        );
        let header = Some("com.amazonaws.sqs#OverLimit:http://internal.amazon.com/");
        assert_eq!(ErrorBody::read(b"<html>busy</html>", header).0, "OverLimit");
        assert_eq!(
            ErrorBody::read(b"", None),
            ("Unknown".into(), String::new())
        );
    }

    #[test]
    fn only_transport_failures_server_errors_and_throttling_are_retried() {
        let service = |status, code: &str| SqsError::Service {
            operation: "ReceiveMessage",
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(service(500, "InternalError").transient());
        assert!(service(400, "ThrottlingException").transient());
        assert!(service(400, "RequestThrottled").transient());
        assert!(!service(400, "QueueDoesNotExist").transient());
        assert!(!service(403, "InvalidClientTokenId").transient());
        assert!(!SqsError::Credentials("no".into()).transient());
    }
}
