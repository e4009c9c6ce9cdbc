variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the ALB."
  type        = list(string)
}

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string
}

variable "services" {
  description = "HTTP service => path patterns (at most 5 per service) and listener rule priority."
  type = map(object({
    paths          = list(string)
    route_priority = number
  }))
}

variable "service_port" {
  description = "Container port of every HTTP service (HTTP_ADDR)."
  type        = number
  default     = 8080
}

variable "target_security_group_ids" {
  description = "Service => security group of its tasks (the ALB may only reach these, on service_port)."
  type        = map(string)
}

variable "deletion_protection" {
  description = "ALB deletion protection."
  type        = bool
}

variable "waf_rate_limit_per_5min" {
  description = "Requests per IP per 5 minutes."
  type        = number
}

variable "kms_key_arn" {
  description = "CMK of the WAF log group."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of WAF logs and ALB access logs."
  type        = number
}
