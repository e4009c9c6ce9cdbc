//! SES notifications, read from JSON: feedback notifications (`notificationType`) and event publishing
//! (`eventType`) alike. Only the fields the suppressor acts on are typed; the whole notification is kept as JSON
//! for the decision record, and fields SES adds later are ignored.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackType {
    Bounce,
    Complaint,
    Delivery,
    Send,
    Reject,
    DeliveryDelay,
    RenderingFailure,
    Open,
    Click,
    Subscription,
}

impl FeedbackType {
    /// The `notificationType` / `eventType` value, and the key of the detail object that goes with it.
    const ALL: [(Self, &'static str, &'static str); 10] = [
        (Self::Bounce, "Bounce", "bounce"),
        (Self::Complaint, "Complaint", "complaint"),
        (Self::Delivery, "Delivery", "delivery"),
        (Self::Send, "Send", "send"),
        (Self::Reject, "Reject", "reject"),
        (Self::DeliveryDelay, "DeliveryDelay", "deliveryDelay"),
        (Self::RenderingFailure, "Rendering Failure", "failure"),
        (Self::Open, "Open", "open"),
        (Self::Click, "Click", "click"),
        (Self::Subscription, "Subscription", "subscription"),
    ];

    fn from_label(label: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(_, name, _)| *name == label)
            .map(|(t, _, _)| *t)
    }

    pub fn label(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(t, _, _)| *t == self)
            .map(|(_, name, _)| *name)
            .unwrap_or("?")
    }
}

/// How a bounce is classified by SES.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BounceType {
    Permanent,
    Transient,
    Undetermined,
    /// A value SES did not document when this was written: handled like `Undetermined` (recorded only).
    Other(String),
}

impl BounceType {
    fn parse(s: &str) -> Self {
        match s {
            "Permanent" => Self::Permanent,
            "Transient" => Self::Transient,
            "Undetermined" => Self::Undetermined,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Permanent => "Permanent",
            Self::Transient => "Transient",
            Self::Undetermined => "Undetermined",
            Self::Other(s) => s,
        }
    }
}

/// The part of a notification the suppressor acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actionable {
    Bounce {
        bounce_type: BounceType,
        sub_type: Option<String>,
        /// `bouncedRecipients[].emailAddress`, as SES wrote them (parsed later, one by one).
        recipients: Vec<String>,
    },
    Complaint {
        /// `complaintFeedbackType` (abuse, not-spam, ...), often absent.
        feedback_type: Option<String>,
        recipients: Vec<String>,
    },
    /// Delivery, Send, Reject, DeliveryDelay, Rendering Failure, Open, Click, Subscription: nothing to suppress.
    Nothing,
}

/// One SES notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub kind: FeedbackType,
    pub action: Actionable,
    /// `mail.messageId`: the SES message the feedback is about.
    pub ses_message_id: Option<String>,
    /// The idempotency key: `<mail.messageId>/<feedbackId>`.
    pub key: String,
    /// When SES says it happened (the detail's timestamp, else the mail's).
    pub occurred_at: Option<DateTime<Utc>>,
    /// Whether the type was inferred from the detail object because the type field was missing or unknown.
    pub inferred: bool,
    /// The notification as received.
    pub json: Value,
}

/// Why a body is not an SES notification we can handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("not a JSON object")]
    NotAnObject,
    #[error(
        "unknown notification: notificationType/eventType {0:?} and no single known detail object (bounce, complaint, delivery, ...)"
    )]
    UnknownType(Option<String>),
    #[error("{kind} notification without its {field:?} object, or with a malformed one: {detail}")]
    BadDetail {
        kind: &'static str,
        field: &'static str,
        detail: String,
    },
    #[error("{0} notification has neither mail.messageId nor feedbackId: no idempotency key")]
    NoKey(&'static str),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    notification_type: Option<String>,
    event_type: Option<String>,
    #[serde(default)]
    mail: Option<MailPart>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MailPart {
    message_id: Option<String>,
    timestamp: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BouncePart {
    bounce_type: String,
    bounce_sub_type: Option<String>,
    bounced_recipients: Vec<RecipientPart>,
    timestamp: Option<String>,
    feedback_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ComplaintPart {
    #[serde(default)]
    complaint_feedback_type: Option<String>,
    complained_recipients: Vec<RecipientPart>,
    timestamp: Option<String>,
    feedback_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecipientPart {
    email_address: String,
}

#[derive(Deserialize)]
struct Timestamped {
    timestamp: Option<String>,
}

/// The label SES sends when an identity's notification topic is configured: control traffic, not feedback.
pub const SUBSCRIPTION_SUCCEEDED: &str = "AmazonSnsSubscriptionSucceeded";

fn timestamp(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

impl Feedback {
    /// Reads a notification. `Ok(None)`: SES's own control message (`AmazonSnsSubscriptionSucceeded`).
    pub fn from_json(json: Value) -> Result<Option<Self>, ShapeError> {
        if !json.is_object() {
            return Err(ShapeError::NotAnObject);
        }
        let head: Head =
            serde_json::from_value(json.clone()).map_err(|_| ShapeError::NotAnObject)?;
        let label = head.notification_type.or(head.event_type);
        if label.as_deref() == Some(SUBSCRIPTION_SUCCEEDED) {
            return Ok(None);
        }
        let (kind, inferred) = match label.as_deref().and_then(FeedbackType::from_label) {
            Some(kind) => (kind, false),
            None => {
                // SES adds types over time, and moto's canned feedback says "Bounce, Complaint, or Delivery.":
                // fall back to the one detail object that is present.
                let present: Vec<FeedbackType> = FeedbackType::ALL
                    .iter()
                    .filter(|(_, _, field)| json.get(*field).is_some_and(Value::is_object))
                    .map(|(t, _, _)| *t)
                    .collect();
                match present.as_slice() {
                    [only] => (*only, true),
                    _ => return Err(ShapeError::UnknownType(label)),
                }
            }
        };
        let mail_id = head.mail.as_ref().and_then(|m| m.message_id.clone());
        let mail_time = head.mail.as_ref().and_then(|m| m.timestamp.clone());
        let detail = |field: &'static str| json.get(field).cloned().unwrap_or(Value::Null);
        let bad =
            |kind: &'static str, field: &'static str, e: serde_json::Error| ShapeError::BadDetail {
                kind,
                field,
                detail: e.to_string(),
            };

        let (action, feedback_id, detail_time) = match kind {
            FeedbackType::Bounce => {
                let b: BouncePart = serde_json::from_value(detail("bounce"))
                    .map_err(|e| bad("Bounce", "bounce", e))?;
                (
                    Actionable::Bounce {
                        bounce_type: BounceType::parse(&b.bounce_type),
                        sub_type: b.bounce_sub_type,
                        recipients: b
                            .bounced_recipients
                            .into_iter()
                            .map(|r| r.email_address)
                            .collect(),
                    },
                    b.feedback_id,
                    b.timestamp,
                )
            }
            FeedbackType::Complaint => {
                let c: ComplaintPart = serde_json::from_value(detail("complaint"))
                    .map_err(|e| bad("Complaint", "complaint", e))?;
                (
                    Actionable::Complaint {
                        feedback_type: c.complaint_feedback_type,
                        recipients: c
                            .complained_recipients
                            .into_iter()
                            .map(|r| r.email_address)
                            .collect(),
                    },
                    c.feedback_id,
                    c.timestamp,
                )
            }
            other => {
                let field = FeedbackType::ALL
                    .iter()
                    .find(|(t, _, _)| *t == other)
                    .map(|(_, _, f)| *f)
                    .unwrap_or_default();
                let time = serde_json::from_value::<Timestamped>(detail(field))
                    .ok()
                    .and_then(|t| t.timestamp);
                (Actionable::Nothing, None, time)
            }
        };
        let key = match (&mail_id, &feedback_id) {
            (Some(m), Some(f)) => format!("{m}/{f}"),
            (None, Some(f)) => format!("-/{f}"),
            (Some(m), None) => format!("{m}/{}", kind.label()),
            (None, None) if action == Actionable::Nothing => String::new(),
            (None, None) => return Err(ShapeError::NoKey(kind.label())),
        };
        Ok(Some(Self {
            kind,
            action,
            ses_message_id: mail_id,
            key,
            occurred_at: timestamp(detail_time.as_deref())
                .or_else(|| timestamp(mail_time.as_deref())),
            inferred,
            json,
        }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn read(v: Value) -> Feedback {
        Feedback::from_json(v).unwrap().unwrap()
    }

    #[test]
    fn bounce_types_and_recipients_are_read() {
        for (raw, expected) in [
            ("Permanent", BounceType::Permanent),
            ("Transient", BounceType::Transient),
            ("Undetermined", BounceType::Undetermined),
            ("Sideways", BounceType::Other("Sideways".into())),
        ] {
            let f = read(json!({
                "eventType": "Bounce",
                "bounce": {"bounceType": raw, "bounceSubType": "General", "feedbackId": "f1",
                           "timestamp": "2024-05-01T10:00:05.000Z",
                           "bouncedRecipients": [{"emailAddress": "A@x.com"}, {"emailAddress": "b@x.com"}]},
                "mail": {"messageId": "m1", "destination": ["c@x.com"]}
            }));
            assert_eq!(f.kind, FeedbackType::Bounce);
            assert_eq!(f.key, "m1/f1");
            assert_eq!(
                f.occurred_at.unwrap().to_rfc3339(),
                "2024-05-01T10:00:05+00:00"
            );
            assert_eq!(
                f.action,
                Actionable::Bounce {
                    bounce_type: expected,
                    sub_type: Some("General".into()),
                    recipients: vec!["A@x.com".into(), "b@x.com".into()],
                }
            );
        }
    }

    #[test]
    fn non_actionable_types_are_recognised() {
        for (label, field, kind) in [
            ("Delivery", "delivery", FeedbackType::Delivery),
            ("Send", "send", FeedbackType::Send),
            ("Reject", "reject", FeedbackType::Reject),
            (
                "DeliveryDelay",
                "deliveryDelay",
                FeedbackType::DeliveryDelay,
            ),
            (
                "Rendering Failure",
                "failure",
                FeedbackType::RenderingFailure,
            ),
            ("Open", "open", FeedbackType::Open),
            ("Click", "click", FeedbackType::Click),
        ] {
            for type_field in ["notificationType", "eventType"] {
                let f = read(
                    json!({type_field: label, field: {"timestamp": "2024-01-01T00:00:00Z"},
                                    "mail": {"messageId": "m", "destination": ["x@y.z"]}}),
                );
                assert_eq!((f.kind, f.action), (kind, Actionable::Nothing), "{label}");
            }
        }
    }

    #[test]
    fn the_type_is_inferred_from_a_single_detail_object() {
        // moto's canned feedback
        let f = read(
            json!({"notificationType": "Bounce, Complaint, or Delivery.",
            "bounce": {"bounceType": "Permanent", "bouncedRecipients": [{"emailAddress": "r@x.com"}], "feedbackId": "f"},
            "mail": {"messageId": "m"}}),
        );
        assert!(f.inferred);
        assert_eq!(f.kind, FeedbackType::Bounce);
    }

    #[test]
    fn unknown_and_broken_shapes_are_errors() {
        assert_eq!(
            Feedback::from_json(json!([1])).unwrap_err(),
            ShapeError::NotAnObject
        );
        assert!(matches!(
            Feedback::from_json(json!({"hello": "world"})).unwrap_err(),
            ShapeError::UnknownType(None)
        ));
        assert!(matches!(
            Feedback::from_json(json!({"notificationType": "Teleport", "mail": {}})).unwrap_err(),
            ShapeError::UnknownType(Some(_))
        ));
        assert!(matches!(
            Feedback::from_json(json!({"notificationType": "Bounce", "mail": {"messageId": "m"}}))
                .unwrap_err(),
            ShapeError::BadDetail {
                field: "bounce",
                ..
            }
        ));
        assert!(matches!(
            Feedback::from_json(json!({"notificationType": "Complaint",
                "complaint": {"complainedRecipients": "nope"}, "mail": {"messageId": "m"}}))
            .unwrap_err(),
            ShapeError::BadDetail {
                field: "complaint",
                ..
            }
        ));
        assert!(matches!(
            Feedback::from_json(json!({"notificationType": "Complaint",
                "complaint": {"complainedRecipients": [{"emailAddress": "a@b.c"}]}}))
            .unwrap_err(),
            ShapeError::NoKey("Complaint")
        ));
    }

    #[test]
    fn subscription_succeeded_is_control_traffic() {
        assert_eq!(
            Feedback::from_json(json!({"notificationType": SUBSCRIPTION_SUCCEEDED,
                "message": "You have successfully subscribed your Amazon SNS topic"}))
            .unwrap(),
            None
        );
    }
}
