# Alarms and the dashboard on the binaries' own metrics: CloudWatch EMF lines the binaries write to stdout, which the
# awslogs driver ships and CloudWatch Logs turns into metrics in var.metrics_namespace (no agent, no API call). Every
# metric name used here is declared in metrics-contract.json (generated from the code); tests/infra checks both ways.

# Events a service committed that do not reach SNS: the relay fails or is stuck (OutboxPublishFailed, its logs).
resource "aws_cloudwatch_metric_alarm" "outbox_lag" {
  for_each = var.outbox_services

  alarm_name          = "${var.name}-${each.key}-outbox-lag"
  alarm_description   = "The oldest unpublished outbox row of ${each.key} is older than ${var.outbox_lag_threshold_seconds} s: its events are not reaching SNS (see OutboxPublishFailed and the relay's logs; `yard status` shows the backlog)."
  namespace           = var.metrics_namespace
  metric_name         = "OutboxLag"
  dimensions          = { Environment = var.name, Service = each.key }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 3
  threshold           = var.outbox_lag_threshold_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# A worker failing its messages: retried (temporary) + rejected (dead-lettered) over all outcomes, in percent.
resource "aws_cloudwatch_metric_alarm" "handler_error_rate" {
  for_each = var.worker_queues

  alarm_name          = "${var.name}-${each.key}-handler-error-rate"
  alarm_description   = "More than ${var.handler_error_rate_threshold_percent}% of the messages ${each.key} handles are retried or rejected (its logs say why; rejected ones reach the DLQ, see the DLQ alarm and `yard dlq`)."
  evaluation_periods  = 3
  datapoints_to_alarm = 2
  threshold           = var.handler_error_rate_threshold_percent
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]

  metric_query {
    id          = "rate"
    expression  = "IF(total > 0, 100 * (FILL(retried, 0) + FILL(rejected, 0)) / total, 0)"
    label       = "retried + rejected %"
    return_data = true
  }

  metric_query {
    id         = "total"
    expression = "FILL(handled, 0) + FILL(retried, 0) + FILL(rejected, 0)"
  }

  metric_query {
    id = "handled"
    metric {
      namespace   = var.metrics_namespace
      metric_name = "MessagesHandled"
      dimensions  = { Environment = var.name, Service = each.key, Queue = each.value }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "retried"
    metric {
      namespace   = var.metrics_namespace
      metric_name = "MessagesRetried"
      dimensions  = { Environment = var.name, Service = each.key, Queue = each.value }
      stat        = "Sum"
      period      = 300
    }
  }

  metric_query {
    id = "rejected"
    metric {
      namespace   = var.metrics_namespace
      metric_name = "MessagesRejected"
      dimensions  = { Environment = var.name, Service = each.key, Queue = each.value }
      stat        = "Sum"
      period      = 300
    }
  }
}

# One dashboard per environment: requests, queues, outbox, workers, alarms (see README.md, "Observability").
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = templatefile("${path.module}/dashboard.json.tftpl", {
    namespace   = var.metrics_namespace
    environment = var.name
    region      = var.region
    alarm_arns = concat(
      [for a in aws_cloudwatch_metric_alarm.outbox_lag : a.arn],
      [for a in aws_cloudwatch_metric_alarm.handler_error_rate : a.arn],
      [for a in aws_cloudwatch_metric_alarm.dlq_not_empty : a.arn],
      [for a in aws_cloudwatch_metric_alarm.oldest_message_age : a.arn],
      [for a in aws_cloudwatch_metric_alarm.http_5xx_rate : a.arn],
      [aws_cloudwatch_metric_alarm.alb_5xx.arn],
    )
  })
}
