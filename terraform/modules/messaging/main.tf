# SNS topics, SQS queues + DLQs, subscriptions and their policies, all with for_each over topology.json.

locals {
  # Topics subscribed to each queue: the only sources its policy accepts (aws:SourceArn).
  queue_sources = {
    for q in keys(var.queues) : q => distinct([for s in values(var.subscriptions) : s.topic if s.queue == q])
  }
}

resource "aws_sns_topic" "this" {
  for_each = var.topics

  name              = "${var.environment}-${each.key}"
  kms_master_key_id = var.kms_key_arn
}

data "aws_iam_policy_document" "topic" {
  for_each = var.topics

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sns:Publish"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sns_topic.this[each.key].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = contains(each.value.publishers, "ses") ? [1] : []
    content {
      sid     = "AllowSesPublish"
      effect  = "Allow"
      actions = ["sns:Publish"]
      principals {
        type        = "Service"
        identifiers = ["ses.amazonaws.com"]
      }
      resources = [aws_sns_topic.this[each.key].arn]
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [var.account_id]
      }
      condition {
        test     = "ArnLike"
        variable = "aws:SourceArn"
        values   = var.ses_source_arns
      }
    }
  }
}

resource "aws_sns_topic_policy" "this" {
  for_each = var.topics

  arn    = aws_sns_topic.this[each.key].arn
  policy = data.aws_iam_policy_document.topic[each.key].json
}

resource "aws_sqs_queue" "dlq" {
  for_each = var.queues

  name                              = "${var.environment}-${each.key}-dlq"
  message_retention_seconds         = each.value.dlq_message_retention_seconds
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
}

resource "aws_sqs_queue" "this" {
  for_each = var.queues

  name                              = "${var.environment}-${each.key}"
  visibility_timeout_seconds        = each.value.visibility_timeout_seconds
  message_retention_seconds         = each.value.message_retention_seconds
  receive_wait_time_seconds         = 20
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = 300

  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
}

# A DLQ accepts redrives only from its own queue.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each = var.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  for_each = var.queues

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sqs_queue.this[each.key].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  dynamic "statement" {
    for_each = length(local.queue_sources[each.key]) > 0 ? [1] : []
    content {
      sid     = "AllowOwnTopicsOnly"
      effect  = "Allow"
      actions = ["sqs:SendMessage"]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      resources = [aws_sqs_queue.this[each.key].arn]
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [for t in local.queue_sources[each.key] : aws_sns_topic.this[t].arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "this" {
  for_each = var.queues

  queue_url = aws_sqs_queue.this[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

data "aws_iam_policy_document" "dlq" {
  for_each = var.queues

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["sqs:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [aws_sqs_queue.dlq[each.key].arn]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  for_each = var.queues

  queue_url = aws_sqs_queue.dlq[each.key].id
  policy    = data.aws_iam_policy_document.dlq[each.key].json
}

resource "aws_sns_topic_subscription" "this" {
  for_each = var.subscriptions

  topic_arn            = aws_sns_topic.this[each.value.topic].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.this[each.value.queue].arn
  raw_message_delivery = each.value.raw_message_delivery
  filter_policy        = each.value.filter_policy
  filter_policy_scope  = each.value.filter_policy == null ? null : "MessageAttributes"

  # The queue must accept the topic before SNS confirms the subscription and starts delivering.
  depends_on = [aws_sqs_queue_policy.this]
}
