//! The event vocabulary of Switchyard.
//!
//! - [`CloudEvent`]: the CloudEvents 1.0 envelope in JSON structured mode. This is the exact body that the
//!   outbox relay publishes to SNS and that consumers read from SQS. Unknown attributes are tolerated on read
//!   (kept in [`CloudEvent::extensions`]) so producers can add fields without breaking old consumers.
//! - [`DomainEvent`]: implemented by every typed event struct ([`identity`], [`tasks`]); it ties a struct to its
//!   `type` string and `source`, so `CloudEvent::new(&event)` and `cloud_event.decode::<T>()` never disagree.
//!
//! Event type strings are versioned (`...v1`): a breaking change to a payload is a new type, and SNS filter
//! policies (see `topology.json`) select on the type.

pub mod identity;
pub mod tasks;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// The CloudEvents spec version this crate writes.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of `data` for every Switchyard event.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A typed domain event: a payload struct that knows its CloudEvent `type` and `source`.
pub trait DomainEvent: Serialize + DeserializeOwned {
    /// The CloudEvent `type`, e.g. `switchyard.tasks.task.completed.v1`.
    const TYPE: &'static str;
    /// The CloudEvent `source`, e.g. `/switchyard/tasks`.
    const SOURCE: &'static str;
    /// The CloudEvent `subject`: the entity the event is about (a task id, a user id).
    fn subject(&self) -> Option<String>;
}

/// CloudEvents 1.0 envelope, JSON structured mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    /// Unique per event (UUIDv7: time ordered). Consumers deduplicate on this, never on the transport's id.
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub time: DateTime<Utc>,
    #[serde(default = "default_content_type")]
    pub datacontenttype: String,
    #[serde(default)]
    pub data: serde_json::Value,
    /// Extension attributes and anything a newer producer added; preserved when re-published (replay).
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
}

fn default_content_type() -> String {
    JSON_CONTENT_TYPE.to_owned()
}

/// Why a message could not be read as a Switchyard event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body is not a CloudEvent: {0}")]
    NotCloudEvent(#[source] serde_json::Error),
    #[error("unsupported CloudEvents specversion {0:?} (expected 1.0)")]
    SpecVersion(String),
    #[error("event type is {actual:?}, expected {expected:?}")]
    WrongType {
        expected: &'static str,
        actual: String,
    },
    #[error("data of {event_type} does not match its schema: {source}")]
    Data {
        event_type: String,
        #[source]
        source: serde_json::Error,
    },
}

impl CloudEvent {
    /// Wraps a typed event in a fresh envelope (new UUIDv7 id, current time).
    pub fn new<E: DomainEvent>(event: &E) -> Result<Self, serde_json::Error> {
        Ok(Self {
            specversion: SPEC_VERSION.to_owned(),
            id: Uuid::now_v7(),
            source: E::SOURCE.to_owned(),
            event_type: E::TYPE.to_owned(),
            subject: event.subject(),
            time: Utc::now(),
            datacontenttype: JSON_CONTENT_TYPE.to_owned(),
            data: serde_json::to_value(event)?,
            extensions: BTreeMap::new(),
        })
    }

    /// An envelope for an untyped payload (tests, tools that forward events they do not know).
    pub fn untyped(
        event_type: impl Into<String>,
        source: impl Into<String>,
        subject: Option<String>,
        data: serde_json::Value,
    ) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id: Uuid::now_v7(),
            source: source.into(),
            event_type: event_type.into(),
            subject,
            time: Utc::now(),
            datacontenttype: JSON_CONTENT_TYPE.to_owned(),
            data,
            extensions: BTreeMap::new(),
        }
    }

    /// Parses a structured-mode JSON body, checking the spec version.
    pub fn from_json(body: &str) -> Result<Self, DecodeError> {
        let event: Self = serde_json::from_str(body).map_err(DecodeError::NotCloudEvent)?;
        if event.specversion != SPEC_VERSION {
            return Err(DecodeError::SpecVersion(event.specversion));
        }
        Ok(event)
    }

    pub fn to_json(&self) -> String {
        // A CloudEvent holds only JSON-representable values, so serialisation cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Whether this envelope carries a `T`.
    pub fn is<T: DomainEvent>(&self) -> bool {
        self.event_type == T::TYPE
    }

    /// Reads `data` as the typed event `T`, checking the type string first.
    pub fn decode<T: DomainEvent>(&self) -> Result<T, DecodeError> {
        if !self.is::<T>() {
            return Err(DecodeError::WrongType {
                expected: T::TYPE,
                actual: self.event_type.clone(),
            });
        }
        serde_json::from_value(self.data.clone()).map_err(|source| DecodeError::Data {
            event_type: self.event_type.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::TaskCompleted;

    fn completed() -> TaskCompleted {
        TaskCompleted {
            task_id: Uuid::now_v7(),
            owner_id: Uuid::now_v7(),
            owner_email: "a@example.com".into(),
            title: "write tests".into(),
        }
    }

    #[test]
    fn round_trips_a_typed_event() {
        let event = completed();
        let envelope = CloudEvent::new(&event).unwrap();
        assert_eq!(envelope.event_type, "switchyard.tasks.task.completed.v1");
        assert_eq!(
            envelope.subject.as_deref(),
            Some(event.task_id.to_string().as_str())
        );
        let parsed = CloudEvent::from_json(&envelope.to_json()).unwrap();
        assert_eq!(parsed, envelope);
        assert_eq!(parsed.decode::<TaskCompleted>().unwrap(), event);
    }

    #[test]
    fn tolerates_unknown_attributes_and_keeps_them() {
        let mut json: serde_json::Value =
            serde_json::from_str(&CloudEvent::new(&completed()).unwrap().to_json()).unwrap();
        json["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into();
        json["data"]["added_later"] = 42.into();
        let parsed = CloudEvent::from_json(&json.to_string()).unwrap();
        assert!(parsed.extensions.contains_key("traceparent"));
        assert!(parsed.decode::<TaskCompleted>().is_ok());
        let again: serde_json::Value = serde_json::from_str(&parsed.to_json()).unwrap();
        assert_eq!(again["traceparent"], json["traceparent"]);
    }

    #[test]
    fn the_reader_takes_defaults_escapes_and_extensions_and_refuses_missing_or_repeated_attributes()
    {
        let id = "0190a6c8-0000-7000-8000-000000000001";
        // Keys and values with escapes, subject null, no datacontenttype, no data.
        let body = format!(
            r#"{{"sp\u0065cversion":"1.0","id":"{id}","source":"\/t","type":"x.v1","subject":null,"time":"2026-01-01T00:00:00Z","ext":[1]}}"#
        );
        let e = CloudEvent::from_json(&body).unwrap();
        assert_eq!(e.specversion, "1.0");
        assert_eq!(e.id.to_string(), id);
        assert_eq!(e.source, "/t");
        assert_eq!(e.subject, None);
        assert_eq!(e.datacontenttype, JSON_CONTENT_TYPE);
        assert_eq!(e.data, serde_json::Value::Null);
        assert_eq!(e.extensions["ext"], serde_json::json!([1]));
        for field in ["specversion", "id", "source", "type", "time"] {
            let mut json: serde_json::Value = serde_json::from_str(&body).unwrap();
            json.as_object_mut().unwrap().remove(field);
            let error = CloudEvent::from_json(&json.to_string())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("missing field `{field}`")),
                "{field}: {error}"
            );
        }
        let twice = body.replacen(r#""type":"x.v1""#, r#""type":"x.v1","type":"y.v1""#, 1);
        assert!(
            CloudEvent::from_json(&twice)
                .unwrap_err()
                .to_string()
                .contains("duplicate field `type`")
        );
        assert!(CloudEvent::from_json(r#"["not","an","object"]"#).is_err());
        assert!(CloudEvent::from_json(&body.replace(id, "not-a-uuid")).is_err());
    }

    #[test]
    fn rejects_wrong_type_bad_spec_and_garbage() {
        let mut envelope = CloudEvent::new(&completed()).unwrap();
        envelope.event_type = "switchyard.tasks.task.created.v1".into();
        assert!(matches!(
            envelope.decode::<TaskCompleted>(),
            Err(DecodeError::WrongType { .. })
        ));
        envelope.specversion = "0.3".into();
        assert!(matches!(
            CloudEvent::from_json(&envelope.to_json()),
            Err(DecodeError::SpecVersion(_))
        ));
        assert!(matches!(
            CloudEvent::from_json("not json"),
            Err(DecodeError::NotCloudEvent(_))
        ));
        assert!(matches!(
            CloudEvent::from_json(r#"{"specversion":"1.0"}"#),
            Err(DecodeError::NotCloudEvent(_))
        ));
    }

    #[test]
    fn ids_are_time_ordered_v7() {
        let a = CloudEvent::new(&completed()).unwrap();
        let b = CloudEvent::new(&completed()).unwrap();
        assert_eq!(a.id.get_version_num(), 7);
        assert!(a.id < b.id);
    }
}
