variable "configuration_set_name" {
  description = "Name of the configuration set (the root module also builds its ARN for the topic policy)."
  type        = string
}

variable "domain" {
  description = "Domain identity to verify with Easy DKIM."
  type        = string
}

variable "feedback_topic_arns" {
  description = "SNS topics receiving bounce and complaint events (topology topics whose publishers include \"ses\")."
  type        = list(string)
}

variable "account_suppression" {
  description = "Sends through the configuration set use the SES account-level suppression list (hard bounces and complaints are added to it)."
  type        = bool
}

variable "route53_zone_id" {
  description = "Optional hosted zone for the DKIM CNAME records."
  type        = string
  default     = null
}
