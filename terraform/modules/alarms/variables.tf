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
