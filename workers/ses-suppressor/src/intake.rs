//! From an SQS message to an SES notification: raw bodies and SNS envelopes, notifications JSON-encoded as a string,
//! SNS control traffic, SES's documented plain-text messages, the TopicArn allowlist.
//!
//! The runtime's [`Incoming`] already unwraps standard SNS envelopes. A body that still looks like an envelope
//! (`Type` + `TopicArn`) is one the runtime could not read, e.g. moto's, whose `Message` is a JSON object rather
//! than a string: it is unwrapped here.
//!
//! Not done here: SNS signature verification. It needs the signing certificate from `SigningCertURL` (a network
//! fetch and an X.509/RSA stack). Authenticity instead rests on the queue policy (only the `ses-feedback` topic may
//! send to the queue) and, for envelope bodies, on the TopicArn allowlist.

use serde_json::Value;
use switchyard_consumer::{Incoming, SnsKind};

use crate::feedback::{Feedback, ShapeError};

/// What the worker does with one message.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    /// Acknowledge without acting, with the reason for the log.
    Skip(String),
    Feedback(Box<Feedback>),
    /// Can never be handled: the DLQ gets it.
    Reject(String),
}

/// TopicArns allowed to deliver envelope bodies; empty allows any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicAllowlist(Vec<String>);

impl TopicAllowlist {
    /// From a comma-separated list (`SNS_TOPIC_ALLOWLIST`).
    pub fn parse(list: &str) -> Self {
        Self(
            list.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn allows(&self, topic_arn: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|a| a == topic_arn)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Reads one message.
pub fn read(incoming: &Incoming, allowlist: &TopicAllowlist) -> Intake {
    match &incoming.kind {
        SnsKind::Control {
            sns_type,
            topic_arn,
        } => Intake::Skip(format!(
            "SNS {sns_type} from {topic_arn}: subscriptions are managed by infrastructure, nothing to do"
        )),
        SnsKind::Notification { topic_arn, .. } => {
            if !allowlist.allows(topic_arn) {
                return Intake::Reject(format!(
                    "SNS notification from {topic_arn}, which is not in SNS_TOPIC_ALLOWLIST"
                ));
            }
            payload(&incoming.body)
        }
        SnsKind::Raw => match unread_envelope(&incoming.body) {
            Some(Envelope::Control(sns_type)) => Intake::Skip(format!(
                "SNS {sns_type}: subscriptions are managed by infrastructure, nothing to do"
            )),
            Some(Envelope::Notification { topic_arn, message }) => {
                if !allowlist.allows(&topic_arn) {
                    return Intake::Reject(format!(
                        "SNS notification from {topic_arn}, which is not in SNS_TOPIC_ALLOWLIST"
                    ));
                }
                match message {
                    Value::String(text) => payload(&text),
                    json => notification(json),
                }
            }
            None => payload(&incoming.body),
        },
    }
}

enum Envelope {
    Control(String),
    Notification { topic_arn: String, message: Value },
}

fn unread_envelope(body: &str) -> Option<Envelope> {
    if !body.trim_start().starts_with('{') {
        return None;
    }
    let Value::Object(mut map) = serde_json::from_str::<Value>(body).ok()? else {
        return None;
    };
    let sns_type = map.get("Type")?.as_str()?.to_owned();
    let topic_arn = map.get("TopicArn")?.as_str()?.to_owned();
    if sns_type == "Notification" {
        let message = map.remove("Message").unwrap_or(Value::Null);
        Some(Envelope::Notification { topic_arn, message })
    } else {
        Some(Envelope::Control(sns_type))
    }
}

/// The plain-text messages SES documents publishing to a feedback topic: the only non-JSON bodies acknowledged
/// without acting. SES publishes the first when an SNS event destination is added to a configuration set.
pub const SES_PLAIN_TEXT_MESSAGES: &[&str] =
    &["Successfully validated SNS topic for Amazon SES event publishing."];

/// How many times a notification may arrive JSON-encoded as a string (some forwarders encode it once more).
const MAX_STRING_ENCODINGS: usize = 2;

/// The SES payload as text: JSON (also JSON-encoded once more as a string), or one of SES's documented plain-text
/// messages. Anything else is rejected, so after `maxReceiveCount` receives it waits in the DLQ: a body nobody can
/// read may still be a bounce that was mangled on the way, and dropping it would lose a suppression.
fn payload(text: &str) -> Intake {
    payload_encoded(text, 0)
}

fn payload_encoded(text: &str, encodings: usize) -> Intake {
    let text = text.trim();
    match text.chars().next() {
        Some('{' | '[') => match serde_json::from_str::<Value>(text) {
            Ok(json) => notification(json),
            Err(error) => Intake::Reject(format!("malformed JSON: {error}")),
        },
        Some('"') if encodings == MAX_STRING_ENCODINGS => Intake::Reject(format!(
            "JSON-encoded as a string more than {MAX_STRING_ENCODINGS} times"
        )),
        Some('"') => match serde_json::from_str::<String>(text) {
            Ok(inner) => {
                tracing::warn!("SES notification arrived JSON-encoded as a string; decoded");
                payload_encoded(&inner, encodings + 1)
            }
            Err(error) => Intake::Reject(format!("malformed JSON string: {error}")),
        },
        _ if SES_PLAIN_TEXT_MESSAGES.contains(&text) => Intake::Skip(format!(
            "SES plain-text message, not a notification: {text:?}"
        )),
        _ => {
            let preview: String = text.chars().take(120).collect();
            Intake::Reject(format!(
                "neither JSON nor a plain-text message SES documents: {preview:?}"
            ))
        }
    }
}

fn notification(json: Value) -> Intake {
    match Feedback::from_json(json) {
        Ok(Some(feedback)) => Intake::Feedback(Box::new(feedback)),
        Ok(None) => {
            Intake::Skip("SES AmazonSnsSubscriptionSucceeded: notification topic set up".into())
        }
        Err(error @ (ShapeError::NotAnObject | ShapeError::UnknownType(_))) => {
            Intake::Reject(format!("unknown shape: {error}"))
        }
        Err(error) => Intake::Reject(format!("unreadable SES notification: {error}")),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;
    use switchyard_consumer::sqs::Message;

    use super::*;
    use crate::feedback::FeedbackType;

    const BOUNCE: &str = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","feedbackId":"f","bouncedRecipients":[{"emailAddress":"a@b.c"}]},"mail":{"messageId":"m"}}"#;
    const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:prod-ses-feedback";

    fn incoming(body: &str) -> Incoming {
        Incoming::from_sqs(Message {
            message_id: "1".into(),
            receipt_handle: "r".into(),
            body: body.into(),
            ..Message::default()
        })
    }

    fn kind(intake: Intake) -> FeedbackType {
        match intake {
            Intake::Feedback(f) => f.kind,
            other => panic!("expected feedback, got {other:?}"),
        }
    }

    #[test]
    fn raw_and_enveloped_bodies_read_the_same() {
        let none = TopicAllowlist::default();
        assert_eq!(kind(read(&incoming(BOUNCE), &none)), FeedbackType::Bounce);
        let envelope =
            json!({"Type": "Notification", "MessageId": "x", "TopicArn": TOPIC, "Message": BOUNCE});
        assert_eq!(
            kind(read(&incoming(&envelope.to_string()), &none)),
            FeedbackType::Bounce
        );
        // moto: Message is an object
        let moto = json!({"Type": "Notification", "MessageId": "x", "TopicArn": TOPIC,
                          "Message": serde_json::from_str::<Value>(BOUNCE).unwrap()});
        assert_eq!(
            kind(read(&incoming(&moto.to_string()), &none)),
            FeedbackType::Bounce
        );
    }

    #[test]
    fn the_allowlist_applies_to_envelopes() {
        let only = TopicAllowlist::parse(&format!(" {TOPIC} , arn:aws:sns:us-east-1:1:other"));
        let from = |topic: &str| {
            json!({"Type": "Notification", "MessageId": "x", "TopicArn": topic, "Message": BOUNCE})
                .to_string()
        };
        assert_eq!(
            kind(read(&incoming(&from(TOPIC)), &only)),
            FeedbackType::Bounce
        );
        assert!(matches!(
            read(&incoming(&from("arn:aws:sns:us-east-1:6:evil")), &only),
            Intake::Reject(r) if r.contains("SNS_TOPIC_ALLOWLIST")
        ));
        // raw bodies carry no TopicArn: the queue policy is their guard
        assert_eq!(kind(read(&incoming(BOUNCE), &only)), FeedbackType::Bounce);
    }

    #[test]
    fn control_and_test_messages_are_skipped() {
        let none = TopicAllowlist::default();
        let confirm = json!({"Type": "SubscriptionConfirmation", "TopicArn": TOPIC, "MessageId": "x",
            "Message": "You have chosen to subscribe to the topic", "SubscribeURL": "https://example.invalid",
            "Token": "t"});
        assert!(matches!(
            read(&incoming(&confirm.to_string()), &none),
            Intake::Skip(_)
        ));
        let unsub = json!({"Type": "UnsubscribeConfirmation", "TopicArn": TOPIC, "Message": "bye"});
        assert!(matches!(
            read(&incoming(&unsub.to_string()), &none),
            Intake::Skip(_)
        ));
        let text = "Successfully validated SNS topic for Amazon SES event publishing.";
        assert!(
            matches!(read(&incoming(text), &none), Intake::Skip(r) if r.contains("plain-text"))
        );
        assert!(matches!(
            read(&incoming(&format!("  {text}\n")), &none),
            Intake::Skip(_)
        ));
        let enveloped =
            json!({"Type": "Notification", "MessageId": "x", "TopicArn": TOPIC, "Message": text});
        assert!(matches!(
            read(&incoming(&enveloped.to_string()), &none),
            Intake::Skip(_)
        ));
        let ok = json!({"notificationType": "AmazonSnsSubscriptionSucceeded", "message": "ok"});
        assert!(matches!(
            read(&incoming(&ok.to_string()), &none),
            Intake::Skip(_)
        ));
    }

    #[test]
    fn a_notification_encoded_as_a_json_string_is_decoded() {
        let none = TopicAllowlist::default();
        let once = serde_json::to_string(BOUNCE).unwrap();
        assert_eq!(kind(read(&incoming(&once), &none)), FeedbackType::Bounce);
        let twice = serde_json::to_string(&once).unwrap();
        assert_eq!(kind(read(&incoming(&twice), &none)), FeedbackType::Bounce);
        let envelope =
            json!({"Type": "Notification", "MessageId": "x", "TopicArn": TOPIC, "Message": once});
        assert_eq!(
            kind(read(&incoming(&envelope.to_string()), &none)),
            FeedbackType::Bounce
        );
        let thrice = serde_json::to_string(&twice).unwrap();
        assert!(matches!(
            read(&incoming(&thrice), &none),
            Intake::Reject(r) if r.contains("more than")
        ));
    }

    #[test]
    fn malformed_and_unknown_bodies_are_rejected() {
        let none = TopicAllowlist::default();
        for body in [
            "garbage",
            "<html>502 Bad Gateway</html>",
            "Successfully validated SNS topic for Amazon SES event publishing. And more.",
            "\"unterminated",
            "\"a JSON string that is not a notification\"",
            "",
            r#"{"notificationType": "Bounce", "bounce": "#,
            "[1, 2]",
            r#"{"foo": "bar"}"#,
            r#"{"notificationType": "Bounce", "mail": {"messageId": "m"}}"#,
        ] {
            assert!(
                matches!(read(&incoming(body), &none), Intake::Reject(_)),
                "{body}"
            );
        }
    }
}
