//! The AWS emulator the suite runs against — moto (`make test`) or LocalStack (`make test-localstack`) — and the
//! few things that differ between them, behind one small trait: which SES API the mailer uses, what SES accepted
//! (moto's `/moto-api/data.json`, LocalStack's `/_aws/ses`), and the SES feedback a mail to the bounce simulator
//! produces. Everything else (SNS, SQS, SES v1) is the real emulator through the ordinary AWS SDK.
//!
//! Selection: `SWITCHYARD_EMULATOR=moto|localstack` (the make targets set it) or, unset, detection from the
//! endpoint. Either way the endpoint is probed and a mismatch or an unknown endpoint fails the test: a test never
//! silently skips an emulator-specific step.

use std::sync::OnceLock;

use futures::future::BoxFuture;
use mailer::SesApi;
use serde_json::{Value, json};

use crate::{World, endpoint, mail::SesIdentity};

/// Names the emulator the suite runs against (`moto` or `localstack`); unset: detected from `AWS_ENDPOINT_URL`.
pub const SWITCHYARD_EMULATOR: &str = "SWITCHYARD_EMULATOR";

/// One email SES accepted, as the emulator recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// The SES message id `SendEmail` answered.
    pub id: String,
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
}

/// One piece of SES bounce feedback that reached the world's `ses-feedback` topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// `mail.messageId` of the notification.
    pub message_id: String,
    /// `bounce.feedbackId` of the notification.
    pub feedback_id: String,
    /// `bounce.bouncedRecipients[].emailAddress`, as SES wrote them.
    pub recipients: Vec<String>,
}

impl Bounce {
    /// The key the suppressor records its decisions under (`feedback_decisions.feedback_key`).
    pub fn feedback_key(&self) -> String {
        format!("{}/{}", self.message_id, self.feedback_id)
    }
}

/// What differs between the emulators the suite runs on.
pub trait Emulator: Send + Sync {
    fn name(&self) -> &'static str;

    /// The SES API the mailer sends with here (`SES_API`).
    fn ses_api(&self) -> SesApi;

    /// Makes the world's `ses-feedback` -> `ses-suppressor` subscription deliver what this emulator publishes in a
    /// form the suppressor reads (a no-op where it publishes what AWS publishes).
    fn prepare_feedback<'a>(&'a self, world: &'a World) -> BoxFuture<'a, ()>;

    /// Emails SES accepted from `domain`, in the order they were sent.
    fn sent_from<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Vec<SentEmail>>;

    /// The bounce feedback for `mail`, just sent from `identity` to a bounce simulator address, on its way from the
    /// world's `ses-feedback` topic to the suppressor's queue.
    fn bounce<'a>(
        &'a self,
        world: &'a World,
        identity: &'a SesIdentity,
        mail: &'a SentEmail,
    ) -> BoxFuture<'a, Bounce>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Moto,
    LocalStack,
}

static SELECTED: OnceLock<Kind> = OnceLock::new();

/// The emulator at `AWS_ENDPOINT_URL`: the one `SWITCHYARD_EMULATOR` names (checked against the endpoint), or the
/// one the endpoint turns out to be. Panics when neither is the case.
pub async fn emulator() -> &'static dyn Emulator {
    let kind = match SELECTED.get() {
        Some(kind) => *kind,
        None => {
            let kind = select().await;
            *SELECTED.get_or_init(|| kind)
        }
    };
    match kind {
        Kind::Moto => &Moto,
        Kind::LocalStack => &LocalStack,
    }
}

async fn select() -> Kind {
    let found = detect(&endpoint()).await;
    let named = match std::env::var(SWITCHYARD_EMULATOR) {
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "moto" => Some(Kind::Moto),
            "localstack" => Some(Kind::LocalStack),
            other => panic!("{SWITCHYARD_EMULATOR}={other:?}: expected `moto` or `localstack`"),
        },
        Err(_) => None,
    };
    match (named, found) {
        (Some(named), Some(found)) if named != found => panic!(
            "{SWITCHYARD_EMULATOR} names {named:?} but {} is {found:?}",
            endpoint()
        ),
        (_, Some(found)) => found,
        (_, None) => panic!(
            "{} is neither moto (/moto-api/) nor LocalStack (/_localstack/health): start one (`make deps`, \
             `make test-localstack`) or point AWS_ENDPOINT_URL at it",
            endpoint()
        ),
    }
}

/// LocalStack answers `/_localstack/health` with its services; moto serves its dashboard under `/moto-api/`.
async fn detect(endpoint: &str) -> Option<Kind> {
    let base = endpoint.trim_end_matches('/');
    let http = reqwest::Client::new();
    if let Ok(r) = http.get(format!("{base}/_localstack/health")).send().await
        && r.status().is_success()
        && let Ok(body) = r.json::<Value>().await
        && body.get("services").is_some()
    {
        return Some(Kind::LocalStack);
    }
    match http.get(format!("{base}/moto-api/")).send().await {
        Ok(r) if r.status().is_success() => Some(Kind::Moto),
        _ => None,
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .error_for_status()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// moto 5.x (`make test`).
struct Moto;

/// moto 5.2.5's canned bounce (moto/ses/feedback.py), which it publishes to the sending domain's Bounce topic for
/// every mail to an address containing `bounce@simulator.amazonses.com`: always the same ids and recipients.
const MOTO_BOUNCE_MESSAGE_ID: &str = "000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000";
const MOTO_BOUNCE_FEEDBACK_ID: &str =
    "000001378603176d-5a4b5ad9-6f30-4198-a8c3-b1eb0c270a1d-000000";
const MOTO_BOUNCE_RECIPIENTS: [&str; 2] = ["recipient1@example.com", "recipient2@example.com"];

impl Emulator for Moto {
    fn name(&self) -> &'static str {
        "moto"
    }

    fn ses_api(&self) -> SesApi {
        SesApi::V2
    }

    /// moto 5.x publishes its canned SES feedback as a Python dict: with raw delivery the SQS message body is not
    /// a string and every ReceiveMessage that would return it fails with HTTP 500 (the queue is stuck). With raw
    /// delivery off the envelope is well-formed JSON (its `Message` an object), which the suppressor reads.
    fn prepare_feedback<'a>(&'a self, world: &'a World) -> BoxFuture<'a, ()> {
        Box::pin(crate::mail::raw_feedback_delivery(world, false))
    }

    /// SES v1 and v2 share moto's store.
    fn sent_from<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Vec<SentEmail>> {
        Box::pin(async move {
            let url = format!("{}/moto-api/data.json", endpoint().trim_end_matches('/'));
            let data = get_json(&url).await;
            let suffix = format!("@{domain}");
            data["ses"]["Message"]
                .as_array()
                .map(|messages| {
                    messages
                        .iter()
                        .filter(|m| m["source"].as_str().is_some_and(|s| s.ends_with(&suffix)))
                        .map(|m| SentEmail {
                            id: m["id"].as_str().unwrap_or_default().to_owned(),
                            source: m["source"].as_str().unwrap_or_default().to_owned(),
                            to: strings(&m["destinations"]["ToAddresses"]),
                            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
                        })
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// moto published its canned bounce when the mail was sent; nothing to do but say what it names (not the
    /// address the mail went to).
    fn bounce<'a>(
        &'a self,
        _world: &'a World,
        _identity: &'a SesIdentity,
        _mail: &'a SentEmail,
    ) -> BoxFuture<'a, Bounce> {
        Box::pin(async {
            Bounce {
                message_id: MOTO_BOUNCE_MESSAGE_ID.to_owned(),
                feedback_id: MOTO_BOUNCE_FEEDBACK_ID.to_owned(),
                recipients: MOTO_BOUNCE_RECIPIENTS.map(str::to_owned).to_vec(),
            }
        })
    }
}

/// LocalStack 4.x community in host mode (`make test-localstack`).
struct LocalStack;

impl Emulator for LocalStack {
    fn name(&self) -> &'static str {
        "localstack"
    }

    /// LocalStack's community SES implements the v1 API only: every SESv2 call answers 501.
    fn ses_api(&self) -> SesApi {
        SesApi::V1
    }

    /// Nothing to change: raw delivery stays on, as in AWS (LocalStack publishes no SES feedback of its own).
    fn prepare_feedback<'a>(&'a self, _world: &'a World) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    /// `GET /_aws/ses?email=<source>` lists what LocalStack's SES accepted from one sender; this filters by the
    /// domain instead (a world sends from several addresses of its own domain).
    fn sent_from<'a>(&'a self, domain: &'a str) -> BoxFuture<'a, Vec<SentEmail>> {
        Box::pin(async move {
            let url = format!("{}/_aws/ses", endpoint().trim_end_matches('/'));
            let data = get_json(&url).await;
            let suffix = format!("@{domain}");
            let mut sent: Vec<(String, SentEmail)> = data["messages"]
                .as_array()
                .map(|messages| {
                    messages
                        .iter()
                        .filter(|m| m["Source"].as_str().is_some_and(|s| s.ends_with(&suffix)))
                        .map(|m| {
                            let timestamp = m["Timestamp"].as_str().unwrap_or_default().to_owned();
                            let mail = SentEmail {
                                id: m["Id"].as_str().unwrap_or_default().to_owned(),
                                source: m["Source"].as_str().unwrap_or_default().to_owned(),
                                to: strings(&m["Destination"]["ToAddresses"]),
                                subject: m["Subject"].as_str().unwrap_or_default().to_owned(),
                            };
                            (timestamp, mail)
                        })
                        .collect()
                })
                .unwrap_or_default();
            // A dict in LocalStack, in insertion order; sorted by its ISO-8601 timestamps to be sure.
            sent.sort_by(|a, b| a.0.cmp(&b.0));
            sent.into_iter().map(|(_, mail)| mail).collect()
        })
    }

    /// LocalStack (4.9.2, community) accepts the mail but produces no SES feedback: its SES answers
    /// `SetIdentityNotificationTopic` and stores the topic, yet publishes nothing for the mailbox simulator's
    /// addresses. So the test injects the notification SES would have published — a permanent, general bounce of
    /// every recipient, for this mail's message id, with a fresh feedback id — to the same topic, from where it
    /// takes the real path (SNS -> SQS -> the suppressor binary). Logged, so a run's output says so.
    fn bounce<'a>(
        &'a self,
        world: &'a World,
        identity: &'a SesIdentity,
        mail: &'a SentEmail,
    ) -> BoxFuture<'a, Bounce> {
        Box::pin(async move {
            let bounce = Bounce {
                message_id: mail.id.clone(),
                feedback_id: format!("0100{}-000000", uuid::Uuid::now_v7()),
                recipients: mail.to.clone(),
            };
            eprintln!(
                "LocalStack produces no SES feedback: injecting the Bounce notification SES would publish for \
                 message {} to {} (feedbackId {}, bounced {:?})",
                bounce.message_id,
                world.topic("ses-feedback"),
                bounce.feedback_id,
                bounce.recipients
            );
            publish_bounce(world, identity, &bounce).await;
            bounce
        })
    }
}

/// Publishes `bounce` to the world's `ses-feedback` topic as SES publishes a Bounce notification (the documented
/// notification contents: `notificationType`, `bounce`, `mail`), e.g. to deliver feedback a second time.
pub async fn publish_bounce(world: &World, identity: &SesIdentity, bounce: &Bounce) {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let topic = world.topic("ses-feedback");
    // arn:aws:sns:<region>:<account>:<name>: the emulator's account and region.
    let arn: Vec<&str> = topic.split(':').collect();
    let (region, account) = (
        arn.get(3).copied().unwrap_or_default(),
        arn.get(4).copied().unwrap_or_default(),
    );
    let notification = json!({
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent",
            "bounceSubType": "General",
            "bouncedRecipients": bounce.recipients.iter().map(|r| json!({
                "emailAddress": r,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            })).collect::<Vec<_>>(),
            "timestamp": now,
            "feedbackId": bounce.feedback_id,
            "reportingMTA": "dns; simulator.amazonses.com",
        },
        "mail": {
            "timestamp": now,
            "messageId": bounce.message_id,
            "source": identity.from,
            "sourceArn": format!("arn:aws:ses:{region}:{account}:identity/{}", identity.domain),
            "sendingAccountId": account,
            "destination": bounce.recipients,
        },
    });
    world
        .sns
        .publish()
        .topic_arn(topic)
        .message(notification.to_string())
        .send()
        .await
        .expect("Publish to ses-feedback");
}
