//! Idempotent provisioning of the messaging topology.
//!
//! Every resource is read first and only created or changed when it differs, so a second run reports everything
//! unchanged and touches nothing. Nothing is ever deleted: a resource dropped from `topology.json` is left for an
//! operator (or terraform) to remove on purpose.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sqs::types::QueueAttributeName;
use serde::Serialize;
use serde_json::{Value, json};
use switchyard_topology::{Environment, Queue, Subscription, Topology};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("{action} failed: {message}")]
    Aws { action: String, message: String },
}

fn aws_err<E: std::error::Error>(action: impl Into<String>) -> impl FnOnce(E) -> ProvisionError {
    let action = action.into();
    move |e| ProvisionError::Aws {
        message: DisplayErrorContext(&e).to_string(),
        action,
    }
}

/// What provisioning found and did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    pub resources: Resources,
}

impl Report {
    pub fn changed(&self) -> bool {
        !self.created.is_empty() || !self.updated.is_empty()
    }
}

/// Physical identifiers by logical key.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Resources {
    pub topic_arns: BTreeMap<String, String>,
    pub queue_urls: BTreeMap<String, String>,
    pub queue_arns: BTreeMap<String, String>,
    pub dlq_urls: BTreeMap<String, String>,
    pub dlq_arns: BTreeMap<String, String>,
}

pub struct Provisioner<'a> {
    pub sns: &'a aws_sdk_sns::Client,
    pub sqs: &'a aws_sdk_sqs::Client,
    pub topology: &'a Topology,
    pub env: &'a Environment,
}

impl Provisioner<'_> {
    pub async fn run(&self) -> Result<Report, ProvisionError> {
        let mut report = Report::default();
        self.topics(&mut report).await?;
        for (key, queue) in &self.topology.queues {
            self.queue(key, queue, &mut report).await?;
        }
        for (key, sub) in &self.topology.subscriptions {
            self.subscription(key, sub, &mut report).await?;
        }
        Ok(report)
    }

    async fn topics(&self, report: &mut Report) -> Result<(), ProvisionError> {
        let mut existing = BTreeSet::new();
        let mut pages = self.sns.list_topics().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(aws_err("sns:ListTopics"))?;
            existing.extend(
                page.topics()
                    .iter()
                    .filter_map(|t| t.topic_arn().map(str::to_owned)),
            );
        }
        for key in self.topology.topics.keys() {
            let name = self.env.topic_name(key);
            let out = self
                .sns
                .create_topic()
                .name(&name)
                .send()
                .await
                .map_err(aws_err(format!("sns:CreateTopic {name}")))?;
            let arn = out.topic_arn().unwrap_or_default().to_owned();
            let label = format!("topic {name}");
            if existing.contains(&arn) {
                report.unchanged.push(label);
            } else {
                report.created.push(label);
            }
            report.resources.topic_arns.insert(key.clone(), arn);
        }
        Ok(())
    }

    /// Creates the queue if missing, then converges the given attributes. Returns (url, arn).
    async fn ensure_queue(
        &self,
        name: &str,
        desired: &BTreeMap<QueueAttributeName, String>,
        report: &mut Report,
    ) -> Result<(String, String), ProvisionError> {
        let label = format!("queue {name}");
        let url = match self.sqs.get_queue_url().queue_name(name).send().await {
            Ok(out) => out.queue_url().unwrap_or_default().to_owned(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_queue_does_not_exist()) =>
            {
                let out = self
                    .sqs
                    .create_queue()
                    .queue_name(name)
                    .set_attributes(Some(desired.clone().into_iter().collect()))
                    .send()
                    .await
                    .map_err(aws_err(format!("sqs:CreateQueue {name}")))?;
                report.created.push(label.clone());
                let url = out.queue_url().unwrap_or_default().to_owned();
                let arn = self.queue_arn(&url).await?;
                return Ok((url, arn));
            }
            Err(e) => return Err(aws_err(format!("sqs:GetQueueUrl {name}"))(e)),
        };
        let current = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::All)
            .send()
            .await
            .map_err(aws_err(format!("sqs:GetQueueAttributes {name}")))?;
        let current = current.attributes().cloned().unwrap_or_default();
        let changes: BTreeMap<_, _> = desired
            .iter()
            .filter(|(k, v)| !same_attribute(current.get(*k).map(String::as_str), v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if changes.is_empty() {
            report.unchanged.push(label);
        } else {
            let names: Vec<&str> = changes.keys().map(QueueAttributeName::as_str).collect();
            report
                .updated
                .push(format!("{label} ({})", names.join(", ")));
            self.sqs
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(changes.into_iter().collect()))
                .send()
                .await
                .map_err(aws_err(format!("sqs:SetQueueAttributes {name}")))?;
        }
        let arn = current
            .get(&QueueAttributeName::QueueArn)
            .cloned()
            .unwrap_or_default();
        let arn = if arn.is_empty() {
            self.queue_arn(&url).await?
        } else {
            arn
        };
        Ok((url, arn))
    }

    async fn queue_arn(&self, url: &str) -> Result<String, ProvisionError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(aws_err(format!("sqs:GetQueueAttributes {url}")))?;
        Ok(out
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default())
    }

    async fn queue(
        &self,
        key: &str,
        queue: &Queue,
        report: &mut Report,
    ) -> Result<(), ProvisionError> {
        let dlq_desired = BTreeMap::from([(
            QueueAttributeName::MessageRetentionPeriod,
            queue.dlq_message_retention_seconds.to_string(),
        )]);
        let (dlq_url, dlq_arn) = self
            .ensure_queue(&self.env.dlq_name(key), &dlq_desired, report)
            .await?;

        // The queue's ARN is needed for its own policy; it is derived from the DLQ's (same account and region).
        let name = self.env.queue_name(key);
        let queue_arn = match dlq_arn.rsplit_once(':') {
            Some((prefix, _)) => format!("{prefix}:{name}"),
            None => String::new(),
        };
        let topic_arns: Vec<&String> = self
            .topology
            .subscriptions_of_queue(key)
            .filter_map(|(_, s)| self.resources_topic(report, &s.topic))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "AllowOwnTopicsOnly",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arns}}
            }]
        });
        let redrive =
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count});
        let desired = BTreeMap::from([
            (
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout_seconds.to_string(),
            ),
            (
                QueueAttributeName::MessageRetentionPeriod,
                queue.message_retention_seconds.to_string(),
            ),
            (QueueAttributeName::RedrivePolicy, redrive.to_string()),
            (QueueAttributeName::Policy, policy.to_string()),
        ]);
        let (url, arn) = self.ensure_queue(&name, &desired, report).await?;
        let r = &mut report.resources;
        r.queue_urls.insert(key.to_owned(), url);
        r.queue_arns.insert(key.to_owned(), arn);
        r.dlq_urls.insert(key.to_owned(), dlq_url);
        r.dlq_arns.insert(key.to_owned(), dlq_arn);
        Ok(())
    }

    fn resources_topic<'r>(&self, report: &'r Report, key: &str) -> Option<&'r String> {
        report.resources.topic_arns.get(key)
    }

    async fn subscription(
        &self,
        key: &str,
        sub: &Subscription,
        report: &mut Report,
    ) -> Result<(), ProvisionError> {
        let label = format!("subscription {key}");
        let topic_arn = report
            .resources
            .topic_arns
            .get(&sub.topic)
            .cloned()
            .unwrap_or_default();
        let queue_arn = report
            .resources
            .queue_arns
            .get(&sub.queue)
            .cloned()
            .unwrap_or_default();
        let raw = sub.raw_message_delivery.to_string();
        let filter = sub.filter_policy.as_ref().map(Value::to_string);

        let mut existing = None;
        let mut pages = self
            .sns
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(aws_err(format!("sns:ListSubscriptionsByTopic {topic_arn}")))?;
            if let Some(s) = page
                .subscriptions()
                .iter()
                .find(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(queue_arn.as_str()))
            {
                existing = s.subscription_arn().map(str::to_owned);
            }
        }

        let Some(sub_arn) = existing.filter(|arn| arn.starts_with("arn:")) else {
            let mut request = self
                .sns
                .subscribe()
                .topic_arn(&topic_arn)
                .protocol("sqs")
                .endpoint(&queue_arn)
                .return_subscription_arn(true)
                .attributes("RawMessageDelivery", &raw);
            if let Some(f) = &filter {
                request = request.attributes("FilterPolicy", f);
            }
            request
                .send()
                .await
                .map_err(aws_err(format!("sns:Subscribe {key}")))?;
            report.created.push(label);
            return Ok(());
        };

        let attrs = self
            .sns
            .get_subscription_attributes()
            .subscription_arn(&sub_arn)
            .send()
            .await
            .map_err(aws_err(format!("sns:GetSubscriptionAttributes {key}")))?;
        let attrs = attrs.attributes().cloned().unwrap_or_default();
        let mut changes = Vec::new();
        if !same_attribute(attrs.get("RawMessageDelivery").map(String::as_str), &raw) {
            changes.push(("RawMessageDelivery", raw.clone()));
        }
        let current_filter = attrs.get("FilterPolicy").filter(|f| !f.is_empty());
        match (&filter, current_filter) {
            (Some(want), Some(have)) if same_attribute(Some(have), want) => {}
            (None, None) => {}
            // SNS removes a filter policy when it is set to the empty string.
            (want, _) => changes.push(("FilterPolicy", want.clone().unwrap_or_default())),
        }
        if changes.is_empty() {
            report.unchanged.push(label);
            return Ok(());
        }
        let names: Vec<&str> = changes.iter().map(|(n, _)| *n).collect();
        report
            .updated
            .push(format!("{label} ({})", names.join(", ")));
        for (name, value) in changes {
            self.sns
                .set_subscription_attributes()
                .subscription_arn(&sub_arn)
                .attribute_name(name)
                .attribute_value(value)
                .send()
                .await
                .map_err(aws_err(format!(
                    "sns:SetSubscriptionAttributes {key} {name}"
                )))?;
        }
        Ok(())
    }
}

/// Attribute equality as AWS means it: JSON documents compare as values (AWS may reformat them and turn numbers
/// into strings), everything else as text.
fn same_attribute(current: Option<&str>, desired: &str) -> bool {
    let Some(current) = current else { return false };
    if current == desired {
        return true;
    }
    match (
        serde_json::from_str::<Value>(current),
        serde_json::from_str::<Value>(desired),
    ) {
        (Ok(a), Ok(b)) if a.is_object() || b.is_object() => normalise(&a) == normalise(&b),
        _ => false,
    }
}

/// Numbers and single-element lists are written differently by different AWS implementations.
fn normalise(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) if items.len() == 1 => normalise(&items[0]),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::same_attribute;

    #[test]
    fn attributes_compare_semantically() {
        assert!(same_attribute(Some("30"), "30"));
        assert!(!same_attribute(Some("31"), "30"));
        assert!(!same_attribute(None, "30"));
        assert!(same_attribute(
            Some(r#"{"deadLetterTargetArn":"a","maxReceiveCount":"5"}"#),
            r#"{"maxReceiveCount":5,"deadLetterTargetArn":"a"}"#
        ));
        assert!(!same_attribute(
            Some(r#"{"deadLetterTargetArn":"a","maxReceiveCount":"4"}"#),
            r#"{"maxReceiveCount":5,"deadLetterTargetArn":"a"}"#
        ));
        assert!(same_attribute(
            Some(r#"{"type":["x"]}"#),
            r#"{"type": ["x"]}"#
        ));
    }
}
