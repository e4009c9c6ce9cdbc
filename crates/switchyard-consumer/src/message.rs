//! Reading an SQS message: SNS envelope or raw body, attributes, receive count, trace context.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use serde::Deserialize;
use switchyard_core::trace::{TRACEPARENT, TraceContext};
use switchyard_events::CloudEvent;

use crate::sqs::Message;

/// How the message reached the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnsKind {
    /// Raw message delivery (or sent straight to the queue): the body is the payload.
    Raw,
    /// An SNS `Notification` envelope (raw delivery off); the payload was its `Message`.
    Notification {
        topic_arn: String,
        sns_message_id: String,
    },
    /// `SubscriptionConfirmation` / `UnsubscribeConfirmation`: SNS control traffic, not a payload.
    Control { sns_type: String, topic_arn: String },
}

/// One received message, decoded.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub message_id: String,
    pub receipt_handle: String,
    /// How many times SQS has handed this message out (1 on first delivery).
    pub receive_count: u32,
    pub kind: SnsKind,
    /// The payload: the SQS body, or the `Message` of an SNS envelope.
    pub body: String,
    /// The SQS body exactly as received (an SNS envelope keeps its signature fields here).
    pub raw_body: String,
    /// String message attributes: from SQS (raw delivery carries SNS attributes over) or from the envelope.
    pub attributes: BTreeMap<String, String>,
    /// The producer's trace continued (a child span), or a new trace when the message carried none.
    pub trace: TraceContext,
    /// The payload read as a CloudEvent, when it is one: bodies are parsed once, here.
    pub event: Option<CloudEvent>,
    /// `id` and `type` of the payload when it looks like a CloudEvent (also when it is not a valid one), for logs.
    pub event_id: Option<String>,
    pub event_type: Option<String>,
    /// When it was read from SQS (receive-to-done latency).
    pub received_at: Instant,
    /// The queue's name (the runtime sets it; the metrics' `Queue` dimension).
    pub queue: Arc<str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    #[serde(rename = "Type")]
    kind: String,
    topic_arn: String,
    #[serde(default)]
    message_id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    message_attributes: BTreeMap<String, EnvelopeAttribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnvelopeAttribute {
    #[serde(rename = "Type")]
    kind: String,
    value: String,
}

#[derive(Deserialize)]
struct Peek {
    id: Option<serde_json::Value>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    specversion: Option<String>,
}

/// `body` as a CloudEvent; a body without a `specversion` key is not tried (a substring search, much cheaper than a
/// failed parse of, say, an SNS envelope of SES feedback).
fn cloud_event(body: &str) -> Option<CloudEvent> {
    if !body.contains("\"specversion\"") {
        return None;
    }
    CloudEvent::from_json(body).ok()
}

impl Incoming {
    pub fn from_sqs(message: Message) -> Self {
        let mut attributes: BTreeMap<String, String> = message
            .string_attributes()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let receive_count = message.receive_count().unwrap_or(1);
        let Message {
            message_id,
            receipt_handle,
            body: raw_body,
            ..
        } = message;

        // Raw delivery (every Switchyard subscription) carries the CloudEvent itself: try that first, so the common
        // case parses the body once; only what is not one is read as an SNS envelope.
        let direct = cloud_event(&raw_body);
        let (kind, body, event) = match direct {
            Some(event) => (SnsKind::Raw, raw_body.clone(), Some(event)),
            None => match serde_json::from_str::<Envelope>(&raw_body) {
                Ok(env) if env.kind == "Notification" => {
                    for (name, attr) in env.message_attributes {
                        if attr.kind.starts_with("String") || attr.kind.starts_with("Number") {
                            attributes.entry(name).or_insert(attr.value);
                        }
                    }
                    let event = cloud_event(&env.message);
                    (
                        SnsKind::Notification {
                            topic_arn: env.topic_arn,
                            sns_message_id: env.message_id,
                        },
                        env.message,
                        event,
                    )
                }
                Ok(env) if env.kind.ends_with("Confirmation") => (
                    SnsKind::Control {
                        sns_type: env.kind,
                        topic_arn: env.topic_arn,
                    },
                    env.message,
                    None,
                ),
                _ => (SnsKind::Raw, raw_body.clone(), None),
            },
        };

        let trace = attributes
            .get(TRACEPARENT)
            .and_then(|tp| TraceContext::parse(tp))
            .map(|parent| parent.child())
            .unwrap_or_else(TraceContext::new_root);

        let (event_id, event_type) = match &event {
            Some(e) => (Some(e.id.to_string()), Some(e.event_type.clone())),
            None => match serde_json::from_str::<Peek>(&body) {
                Ok(Peek {
                    id,
                    event_type,
                    specversion: Some(_),
                }) => (
                    id.map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| v.to_string())
                    }),
                    event_type,
                ),
                _ => (None, attributes.get("type").cloned()),
            },
        };

        Self {
            message_id,
            receipt_handle,
            receive_count,
            kind,
            body,
            raw_body,
            attributes,
            trace,
            event,
            event_id,
            event_type,
            received_at: Instant::now(),
            queue: Arc::from("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqs::MessageAttribute;

    const EVENT: &str = r#"{"specversion":"1.0","id":"0190a6c8-0000-7000-8000-000000000001","source":"/t","type":"switchyard.test.v1","time":"2026-01-01T00:00:00Z","data":{}}"#;

    fn sqs(body: &str) -> Message {
        Message {
            message_id: "m-1".into(),
            receipt_handle: "r-1".into(),
            body: body.into(),
            attributes: [("ApproximateReceiveCount".to_owned(), "3".to_owned())].into(),
            ..Message::default()
        }
    }

    #[test]
    fn raw_delivery_keeps_body_and_attributes() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let mut msg = sqs(EVENT);
        msg.message_attributes = [
            (
                "type".to_owned(),
                MessageAttribute::string("switchyard.test.v1"),
            ),
            ("traceparent".to_owned(), MessageAttribute::string(tp)),
        ]
        .into();
        let incoming = Incoming::from_sqs(msg);
        assert_eq!(incoming.kind, SnsKind::Raw);
        assert_eq!(incoming.body, EVENT);
        assert_eq!(incoming.receive_count, 3);
        assert_eq!(
            incoming.event_id.as_deref(),
            Some("0190a6c8-0000-7000-8000-000000000001")
        );
        assert_eq!(incoming.event_type.as_deref(), Some("switchyard.test.v1"));
        assert_eq!(
            incoming.event.as_ref().map(|e| e.id.to_string()).as_deref(),
            Some("0190a6c8-0000-7000-8000-000000000001")
        );
        assert_eq!(
            incoming.trace.trace_id_hex(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_ne!(incoming.trace.span_id_hex(), "b7ad6b7169203331");
    }

    #[test]
    fn sns_envelope_is_unwrapped_with_its_attributes() {
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": "sns-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:t-events",
            "Message": EVENT,
            "MessageAttributes": {
                "type": {"Type": "String", "Value": "switchyard.test.v1"},
                "traceparent": {"Type": "String", "Value": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
            }
        })
        .to_string();
        let incoming = Incoming::from_sqs(sqs(&envelope));
        assert!(
            matches!(incoming.kind, SnsKind::Notification { ref sns_message_id, .. } if sns_message_id == "sns-1")
        );
        assert_eq!(incoming.body, EVENT);
        assert_eq!(incoming.raw_body, envelope);
        assert_eq!(
            incoming.event.as_ref().map(|e| e.event_type.as_str()),
            Some("switchyard.test.v1")
        );
        assert_eq!(incoming.attributes["type"], "switchyard.test.v1");
        assert_eq!(
            incoming.trace.trace_id_hex(),
            "0af7651916cd43dd8448eb211c80319c"
        );
    }

    #[test]
    fn control_messages_and_garbage_are_recognised() {
        let confirm = serde_json::json!({
            "Type": "SubscriptionConfirmation", "TopicArn": "arn:aws:sns:us-east-1:1:x",
            "Message": "You have chosen to subscribe", "SubscribeURL": "https://example.invalid"
        })
        .to_string();
        assert!(matches!(
            Incoming::from_sqs(sqs(&confirm)).kind,
            SnsKind::Control { .. }
        ));

        let garbage = Incoming::from_sqs(sqs("{not json"));
        assert_eq!(garbage.kind, SnsKind::Raw);
        assert_eq!(garbage.event_id, None);
        assert!(garbage.event.is_none());

        // Looks like a CloudEvent (for logs) but is not a valid one: no event, the id still logged.
        let bad = Incoming::from_sqs(sqs(
            r#"{"specversion":"1.0","id":"x-1","type":"t.v1","source":"/s"}"#,
        ));
        assert!(bad.event.is_none());
        assert_eq!(bad.event_id.as_deref(), Some("x-1"));
        assert_eq!(garbage.receive_count, 3);
    }
}
