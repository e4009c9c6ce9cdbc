//! Dead-letter queues: depth, peek, redrive.
//!
//! Redrive copies each dead letter (body and message attributes) back to its source queue and deletes it from the
//! DLQ only after the send succeeded: a crash in between duplicates a message, which consumers' inboxes absorb,
//! and never loses one.

use std::{collections::HashMap, time::Duration};

use aws_sdk_sqs::{
    Client,
    error::DisplayErrorContext,
    types::{
        DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
        SendMessageBatchRequestEntry,
    },
};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
#[error("{action} failed: {message}")]
pub struct DlqError {
    action: &'static str,
    message: String,
}

fn err<E: std::error::Error>(action: &'static str) -> impl FnOnce(E) -> DlqError {
    move |e| DlqError {
        action,
        message: DisplayErrorContext(&e).to_string(),
    }
}

/// Approximate number of visible plus in-flight messages in a queue.
pub async fn depth(sqs: &Client, queue_url: &str) -> Result<u64, DlqError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(err("sqs:GetQueueAttributes"))?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let get = |k: QueueAttributeName| {
        attrs
            .get(&k)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
        + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
}

/// A dead letter as shown by `yard dlq peek`.
#[derive(Debug, Serialize)]
pub struct DeadLetter {
    pub message_id: String,
    pub receive_count: Option<String>,
    pub attributes: HashMap<String, String>,
    pub body: String,
}

/// Reads up to `max` dead letters without consuming them (visibility 0: they stay available).
pub async fn peek(sqs: &Client, dlq_url: &str, max: i32) -> Result<Vec<DeadLetter>, DlqError> {
    let out = sqs
        .receive_message()
        .queue_url(dlq_url)
        .max_number_of_messages(max.clamp(1, 10))
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .message_attribute_names("All")
        .send()
        .await
        .map_err(err("sqs:ReceiveMessage"))?;
    Ok(out
        .messages()
        .iter()
        .map(|m| DeadLetter {
            message_id: m.message_id().unwrap_or_default().to_owned(),
            receive_count: m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .cloned(),
            attributes: m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                        .collect()
                })
                .unwrap_or_default(),
            body: m.body().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Moves up to `max` messages from `dlq_url` back to `queue_url`. Returns how many moved.
pub async fn redrive(
    sqs: &Client,
    dlq_url: &str,
    queue_url: &str,
    max: usize,
    mut progress: impl FnMut(usize),
) -> Result<usize, DlqError> {
    let mut moved = 0;
    while moved < max {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages((max - moved).min(10) as i32)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(err("sqs:ReceiveMessage"))?;
        let messages = out.messages();
        if messages.is_empty() {
            break;
        }
        let entries: Vec<SendMessageBatchRequestEntry> = messages
            .iter()
            .enumerate()
            .filter_map(|(i, m)| resend_entry(i, m))
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(err("sqs:SendMessageBatch"))?;
        for failure in sent.failed() {
            tracing::warn!(
                code = failure.code(),
                "redrive of one message failed; it stays in the DLQ"
            );
        }
        let deletes: Vec<DeleteMessageBatchRequestEntry> = sent
            .successful()
            .iter()
            .filter_map(|ok| {
                let i: usize = ok.id().parse().ok()?;
                let handle = messages.get(i)?.receipt_handle()?;
                DeleteMessageBatchRequestEntry::builder()
                    .id(ok.id())
                    .receipt_handle(handle)
                    .build()
                    .ok()
            })
            .collect();
        let count = deletes.len();
        if count > 0 {
            sqs.delete_message_batch()
                .queue_url(dlq_url)
                .set_entries(Some(deletes))
                .send()
                .await
                .map_err(err("sqs:DeleteMessageBatch"))?;
        }
        moved += count;
        progress(moved);
        if count == 0 {
            // Every send failed: stop instead of spinning; the messages reappear in the DLQ.
            tokio::time::sleep(Duration::from_millis(200)).await;
            break;
        }
    }
    Ok(moved)
}

fn resend_entry(index: usize, message: &Message) -> Option<SendMessageBatchRequestEntry> {
    SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(message.body()?)
        .set_message_attributes(message.message_attributes().cloned())
        .build()
        .ok()
}
