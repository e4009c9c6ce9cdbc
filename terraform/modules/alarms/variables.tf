variable "name" {
  description = "Name prefix."
  type        = string
}

variable "kms_key_arn" {
  description = "CMK of the alarm topic."
  type        = string
}

variable "alarm_email" {
  description = "Optional e-mail subscriber."
  type        = string
  default     = null
}

variable "queue_names" {
  description = "Topology queue key => work queue name (oldest message age)."
  type        = map(string)
}

variable "dlq_names" {
  description = "Topology queue key => DLQ name (any message)."
  type        = map(string)
}

variable "oldest_message_age_threshold_seconds" {
  description = "Oldest message age threshold."
  type        = number
}

variable "alb_arn_suffix" {
  description = "ALB ARN suffix."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "Service => target group ARN suffix."
  type        = map(string)
}

variable "http_5xx_rate_threshold_percent" {
  description = "5xx rate threshold in percent."
  type        = number
}

# --- the binaries' own metrics (CloudWatch EMF, metrics-contract.json) ------------------------------------------

variable "region" {
  description = "Region of the dashboard's metrics."
  type        = string
}

variable "metrics_namespace" {
  description = "Namespace of the binaries' EMF metrics (their METRICS_NAMESPACE); every metric carries Environment = var.name and Service = the binary."
  type        = string
}

variable "outbox_services" {
  description = "Binaries that relay an outbox (publish a topic): OutboxLag alarm each."
  type        = set(string)
}

variable "worker_queues" {
  description = "Worker binary => the name of the queue it consumes: handler error rate alarm each."
  type        = map(string)
}

variable "outbox_lag_threshold_seconds" {
  description = "OutboxLag alarm threshold."
  type        = number
}

variable "handler_error_rate_threshold_percent" {
  description = "Handler error rate (retried + rejected, in percent of all outcomes) alarm threshold."
  type        = number
}
