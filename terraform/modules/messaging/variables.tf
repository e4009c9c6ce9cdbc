variable "environment" {
  description = "Name prefix: physical names are \"<environment>-<key>\", DLQs \"<environment>-<key>-dlq\"."
  type        = string
}

variable "topics" {
  description = "topology.json topics (normalised by the root module)."
  type = map(object({
    description = string
    publishers  = list(string)
  }))
}

variable "queues" {
  description = "topology.json queues (normalised by the root module)."
  type = map(object({
    consumer                      = string
    visibility_timeout_seconds    = number
    max_receive_count             = number
    message_retention_seconds     = number
    dlq_message_retention_seconds = number
  }))
}

variable "subscriptions" {
  description = "topology.json subscriptions; filter_policy is already JSON-encoded (or null)."
  type = map(object({
    topic                = string
    queue                = string
    raw_message_delivery = bool
    filter_policy        = string
  }))
}

variable "kms_key_arn" {
  description = "CMK for SSE of every topic and queue."
  type        = string
}

variable "account_id" {
  description = "AWS account id (aws:SourceAccount conditions)."
  type        = string
}

variable "ses_source_arns" {
  description = "ARNs SES publishes from (the configuration set); allowed in the policy of topics whose publishers include \"ses\"."
  type        = list(string)
}
