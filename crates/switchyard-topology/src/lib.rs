//! The messaging topology: one JSON file (`topology.json` at the repository root) that lists SNS topics, SQS
//! queues with their DLQs, and the subscriptions between them. Terraform reads the same file with `jsondecode`,
//! so a name is written once.
//!
//! Logical keys (`task-events`, `mailer`) become physical names through an [`Environment`] prefix:
//! `<env>-<key>` and `<env>-<key>-dlq`. Several stacks (and every test) share one account or emulator that way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The repository's topology file, compiled in so every binary and tool agrees on it.
pub const TOPOLOGY_JSON: &str = include_str!("../../../topology.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(rename = "$comment", default, skip_serializing)]
    _comment: Option<String>,
    pub topics: BTreeMap<String, Topic>,
    pub queues: BTreeMap<String, Queue>,
    pub subscriptions: BTreeMap<String, Subscription>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topic {
    pub description: String,
    /// Binaries (or AWS services, like `ses`) that publish here; terraform grants them `sns:Publish`.
    pub publishers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// The worker binary that consumes this queue.
    pub consumer: String,
    pub visibility_timeout_seconds: u32,
    /// Receives after which SQS moves a message to the DLQ (redrive policy).
    pub max_receive_count: u32,
    pub message_retention_seconds: u32,
    pub dlq_message_retention_seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub topic: String,
    pub queue: String,
    pub raw_message_delivery: bool,
    /// SNS filter policy on message attributes (the CloudEvent `type`); `null` lets everything through.
    pub filter_policy: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("topology.json is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("subscription {subscription:?} names unknown {kind} {name:?}")]
    UnknownReference {
        subscription: String,
        kind: &'static str,
        name: String,
    },
    #[error("{kind} key {name:?} must be 1-40 characters of a-z, 0-9 and '-'")]
    BadKey { kind: &'static str, name: String },
    #[error("queue {queue:?}: {reason}")]
    BadQueue { queue: String, reason: String },
    #[error("subscription {0:?}: filter_policy must be a JSON object of attribute -> list")]
    BadFilterPolicy(String),
    #[error(
        "environment name {0:?} must be 1-24 characters of a-z, 0-9 and '-', starting with a letter (set SWITCHYARD_ENV)"
    )]
    BadEnvironment(String),
}

fn valid_key(key: &str, max: usize) -> bool {
    !key.is_empty()
        && key.len() <= max
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Topology {
    /// The topology compiled into this binary.
    pub fn embedded() -> Result<Self, TopologyError> {
        Self::parse(TOPOLOGY_JSON)
    }

    /// Parses and validates: every reference resolves, keys are valid AWS name parts, numbers are in SQS's ranges.
    pub fn parse(json: &str) -> Result<Self, TopologyError> {
        let topology: Self = serde_json::from_str(json)?;
        topology.validate()?;
        Ok(topology)
    }

    fn validate(&self) -> Result<(), TopologyError> {
        for name in self.topics.keys() {
            if !valid_key(name, 40) {
                return Err(TopologyError::BadKey {
                    kind: "topic",
                    name: name.clone(),
                });
            }
        }
        for (name, queue) in &self.queues {
            if !valid_key(name, 40) {
                return Err(TopologyError::BadKey {
                    kind: "queue",
                    name: name.clone(),
                });
            }
            let bad = |reason: &str| TopologyError::BadQueue {
                queue: name.clone(),
                reason: reason.to_owned(),
            };
            if queue.visibility_timeout_seconds > 43_200 {
                return Err(bad("visibility_timeout_seconds must be at most 43200"));
            }
            if !(1..=1000).contains(&queue.max_receive_count) {
                return Err(bad("max_receive_count must be 1-1000"));
            }
            for retention in [
                queue.message_retention_seconds,
                queue.dlq_message_retention_seconds,
            ] {
                if !(60..=1_209_600).contains(&retention) {
                    return Err(bad("retention must be 60-1209600 seconds"));
                }
            }
            if queue.dlq_message_retention_seconds < queue.message_retention_seconds {
                return Err(bad(
                    "the DLQ must keep messages at least as long as the queue",
                ));
            }
        }
        for (name, sub) in &self.subscriptions {
            if !self.topics.contains_key(&sub.topic) {
                return Err(TopologyError::UnknownReference {
                    subscription: name.clone(),
                    kind: "topic",
                    name: sub.topic.clone(),
                });
            }
            if !self.queues.contains_key(&sub.queue) {
                return Err(TopologyError::UnknownReference {
                    subscription: name.clone(),
                    kind: "queue",
                    name: sub.queue.clone(),
                });
            }
            if let Some(policy) = &sub.filter_policy {
                let ok = policy
                    .as_object()
                    .is_some_and(|o| !o.is_empty() && o.values().all(serde_json::Value::is_array));
                if !ok {
                    return Err(TopologyError::BadFilterPolicy(name.clone()));
                }
            }
        }
        Ok(())
    }

    /// Subscriptions that deliver into `queue`.
    pub fn subscriptions_of_queue<'a>(
        &'a self,
        queue: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Subscription)> + 'a {
        self.subscriptions
            .iter()
            .filter(move |(_, s)| s.queue == queue)
    }
}

/// A deployment's name prefix (`SWITCHYARD_ENV`): `prod`, `dev`, or a test's unique `t-1a2b3c4d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment(String);

impl Environment {
    pub fn parse(name: &str) -> Result<Self, TopologyError> {
        let ok = valid_key(name, 24) && name.starts_with(|c: char| c.is_ascii_lowercase());
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(TopologyError::BadEnvironment(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn topic_name(&self, key: &str) -> String {
        format!("{}-{key}", self.0)
    }

    pub fn queue_name(&self, key: &str) -> String {
        format!("{}-{key}", self.0)
    }

    pub fn dlq_name(&self, key: &str) -> String {
        format!("{}-{key}-dlq", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_topology_is_valid() {
        let t = Topology::embedded().unwrap();
        for topic in ["identity-events", "task-events", "ses-feedback"] {
            assert!(t.topics.contains_key(topic), "{topic}");
        }
        for queue in ["mailer", "ses-suppressor", "event-archive"] {
            assert!(t.queues.contains_key(queue), "{queue}");
            assert!(
                t.subscriptions_of_queue(queue).count() > 0,
                "{queue} has no subscription"
            );
        }
        // The archive sees everything; the mailer only what it mails.
        assert!(
            t.subscriptions_of_queue("event-archive")
                .all(|(_, s)| s.filter_policy.is_none())
        );
        assert!(
            t.subscriptions_of_queue("mailer")
                .all(|(_, s)| s.filter_policy.is_some())
        );
    }

    #[test]
    fn names_carry_the_environment() {
        let env = Environment::parse("t-1a2b").unwrap();
        assert_eq!(env.topic_name("task-events"), "t-1a2b-task-events");
        assert_eq!(env.dlq_name("mailer"), "t-1a2b-mailer-dlq");
        for bad in [
            "",
            "Prod",
            "1abc",
            "a_b",
            "averyveryverylongenvironmentname",
        ] {
            assert!(Environment::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_dangling_references_and_bad_policies() {
        let mut json: serde_json::Value = serde_json::from_str(TOPOLOGY_JSON).unwrap();
        json["subscriptions"]["x"] = serde_json::json!({
            "topic": "nope", "queue": "mailer", "raw_message_delivery": true, "filter_policy": null
        });
        let err = Topology::parse(&json.to_string()).unwrap_err();
        assert!(
            matches!(err, TopologyError::UnknownReference { kind: "topic", .. }),
            "{err}"
        );

        json["subscriptions"]["x"]["topic"] = "task-events".into();
        json["subscriptions"]["x"]["filter_policy"] = serde_json::json!({"type": "not-a-list"});
        assert!(matches!(
            Topology::parse(&json.to_string()),
            Err(TopologyError::BadFilterPolicy(_))
        ));

        json["subscriptions"]["x"]["filter_policy"] = serde_json::Value::Null;
        json["queues"]["mailer"]["max_receive_count"] = 0.into();
        assert!(matches!(
            Topology::parse(&json.to_string()),
            Err(TopologyError::BadQueue { .. })
        ));

        json["queues"]["mailer"]["surprise"] = 1.into();
        assert!(matches!(
            Topology::parse(&json.to_string()),
            Err(TopologyError::Parse(_))
        ));
    }
}
