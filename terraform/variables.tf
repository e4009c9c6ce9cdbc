variable "region" {
  description = "AWS region to deploy into (also the region of the SES identity)."
  type        = string
}

variable "environment" {
  description = "Environment name. Prefix of every physical name (topics and queues are \"<environment>-<key>\"); the binaries read it as SWITCHYARD_ENV."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,15}$", var.environment))
    error_message = "environment must be 2-16 characters of lowercase letters, digits and '-', starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- images -------------------------------------------------------------------------------------------------------

variable "image_tag" {
  description = "Image tag deployed for every binary (e.g. the git SHA pushed by CI). ECR tags are immutable."
  type        = string
}

variable "image_repository" {
  description = "Registry prefix for the images, \"<registry>/<prefix>\"; the image is \"<image_repository>/<bin>:<image_tag>\". null = the ECR repositories this module creates (\"<environment>/<bin>\"). The execution roles can only pull from those ECR repositories."
  type        = string
  default     = null
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture of the images: X86_64 or ARM64 (Graviton, about 20% cheaper; build the images for linux/arm64)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

# --- public endpoint ----------------------------------------------------------------------------------------------

variable "acm_certificate_arn" {
  description = "ARN of an ISSUED ACM certificate (same region) for api_hostname, used by the ALB HTTPS listener."
  type        = string
}

variable "api_hostname" {
  description = "Public hostname of the API (e.g. api.example.com). Used for the default JWT issuer and the optional Route 53 alias."
  type        = string
}

variable "route53_zone_id" {
  description = "Optional public Route 53 hosted zone id. When set, terraform creates the API alias record and the SES DKIM/verification records; otherwise create the records shown in the outputs yourself."
  type        = string
  default     = null
}

variable "cors_allowed_origins" {
  description = "Origins allowed by the HTTP services' CORS layer (CORS_ALLOWED_ORIGINS, comma-joined)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for o in var.cors_allowed_origins : can(regex("^https?://[^,\"\\s]+$", o))])
    error_message = "Each CORS origin must look like https://app.example.com (no commas, quotes or spaces)."
  }
}

variable "jwt_issuer" {
  description = "JWT_ISSUER. null = \"https://<api_hostname>\"."
  type        = string
  default     = null
}

variable "jwt_audience" {
  description = "JWT_AUDIENCE."
  type        = string
  default     = "switchyard"
}

variable "rust_log" {
  description = "RUST_LOG of every binary."
  type        = string
  default     = "info"
}

variable "trusted_proxy_hops" {
  description = "TRUSTED_PROXY_HOPS of identity: proxies that append the client address to X-Forwarded-For before the request reaches it. 1 = the ALB (default); 2 with CloudFront in front of the ALB (then let only CloudFront reach the ALB). Login throttling counts failures per client address taken from there."
  type        = number
  default     = 1

  validation {
    condition     = var.trusted_proxy_hops >= 1 && floor(var.trusted_proxy_hops) == var.trusted_proxy_hops
    error_message = "trusted_proxy_hops must be a whole number >= 1: the ALB itself appends to X-Forwarded-For."
  }
}

variable "alb_deletion_protection" {
  description = "Deletion protection of the ALB. Set to false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "waf_rate_limit_per_5min" {
  description = "WAF rate-based rule: requests per client IP per 5 minutes before blocking."
  type        = number
  default     = 2000
}

# --- SES ----------------------------------------------------------------------------------------------------------

variable "ses_domain" {
  description = "Domain verified in SES and used to send mail (e.g. example.com or mail.example.com)."
  type        = string
}

variable "ses_from_address" {
  description = "SES_FROM_ADDRESS of the mailer. null = \"no-reply@<ses_domain>\"."
  type        = string
  default     = null
}

variable "ses_account_suppression" {
  description = "Use the SES account-level suppression list (SES adds hard bounces and complaints to it) and keep it in step with the application's list: the mail service removes unsuppressed addresses from it (SES_ACCOUNT_SUPPRESSION_SYNC), the ses-suppressor adds its own suppressions (SES_ACCOUNT_SUPPRESSION). false: the configuration set does not use the account list and the application's list is the only one."
  type        = bool
  default     = true
}

# --- network ------------------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR of the VPC (/16 recommended: 2 public /24 and 2 private /20 subnets are carved from it)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "nat_gateway_count" {
  description = "NAT gateways: 1 (cheapest, single-AZ egress), 2 (one per AZ, survives an AZ outage) or 0 (no internet egress; requires enable_vpc_endpoints = true). See README for the cost trade-off."
  type        = number
  default     = 1

  validation {
    condition     = contains([0, 1, 2], var.nat_gateway_count)
    error_message = "nat_gateway_count must be 0, 1 or 2."
  }

  # Without a NAT gateway the private subnets reach AWS only through interface endpoints: with neither, no task
  # could pull its image, read its secrets or call SQS/SNS/SES (every one would fail to start).
  validation {
    condition     = var.nat_gateway_count > 0 || var.enable_vpc_endpoints
    error_message = "nat_gateway_count = 0 needs enable_vpc_endpoints = true (the tasks' only way to the AWS APIs); set nat_gateway_count >= 1 or enable the endpoints."
  }
}

variable "enable_vpc_endpoints" {
  description = "Create interface VPC endpoints for every AWS API the tasks use (SQS, SNS, SES, Secrets Manager, KMS, ECR, CloudWatch Logs). The S3 gateway endpoint is always created (free)."
  type        = bool
  default     = false
}

variable "flow_log_traffic_type" {
  description = "VPC flow log traffic type: REJECT (cheap, security signal) or ALL."
  type        = string
  default     = "REJECT"
}

# --- data ---------------------------------------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.t4g.small"
}

variable "db_allocated_storage_gb" {
  description = "Initial gp3 storage in GiB (storage autoscaling grows it up to 5x)."
  type        = number
  default     = 20
}

variable "db_multi_az" {
  description = "Multi-AZ standby for RDS (doubles the instance cost; recommended for production)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup retention of RDS in days."
  type        = number
  default     = 7
}

variable "db_deletion_protection" {
  description = "Deletion protection of the RDS instance. Set to false before `terraform destroy`."
  type        = bool
  default     = true
}

variable "db_performance_insights_enabled" {
  description = "RDS Performance Insights (7 days retention is free)."
  type        = bool
  default     = true
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_multi_az" {
  description = "ElastiCache Multi-AZ with automatic failover (needs redis_num_cache_clusters >= 2). false + 1 node is the cheap dev setup."
  type        = bool
  default     = true
}

variable "redis_num_cache_clusters" {
  description = "ElastiCache nodes (1 primary + replicas)."
  type        = number
  default     = 2
}

# --- compute ------------------------------------------------------------------------------------------------------

variable "task_sizes" {
  description = "Fargate cpu units / memory MiB per binary, overriding the defaults measured by make bench: 256/512 for every binary (peak RSS 15-135 MiB), identity 512/1024 for argon2id logins (see README, Task sizes)."
  type = map(object({
    cpu    = number
    memory = number
  }))
  default = {}
}

variable "scaling" {
  description = "Per-binary autoscaling overrides: min/max tasks. Services default to 2..6 (one task per AZ at least), workers to 1..4."
  type = map(object({
    min = number
    max = number
  }))
  default = {}
}

variable "service_cpu_target_percent" {
  description = "Target average CPU utilisation of the HTTP services (target tracking)."
  type        = number
  default     = 60
}

variable "service_requests_per_target" {
  description = "Target ALBRequestCountPerTarget (requests per task per minute) of the HTTP services."
  type        = number
  default     = 1000
}

variable "worker_backlog_per_task" {
  description = "Target SQS backlog per worker task (ApproximateNumberOfMessagesVisible / RunningTaskCount)."
  type        = number
  default     = 100
}

# --- observability ------------------------------------------------------------------------------------------------

variable "log_retention_days" {
  description = "CloudWatch Logs retention in days for every log group."
  type        = number
  default     = 365
}

variable "alarm_email" {
  description = "Optional e-mail subscribed to the alarm topic (confirm the subscription mail)."
  type        = string
  default     = null
}

variable "oldest_message_age_threshold_seconds" {
  description = "Alarm when the oldest message of a work queue is older than this."
  type        = number
  default     = 600
}

variable "http_5xx_rate_threshold_percent" {
  description = "Alarm when more than this percentage of a service's requests answer 5xx (5 minutes)."
  type        = number
  default     = 5
}

# --- observability (metrics, traces, dashboard) -------------------------------------------------------------------

variable "metrics_namespace" {
  description = "CloudWatch namespace of the binaries' EMF metrics (METRICS_NAMESPACE); every metric also carries the dimensions Environment (this environment) and Service (the binary). The dashboard and alarms read it."
  type        = string
  default     = "Switchyard"

  validation {
    condition     = length(var.metrics_namespace) > 0 && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be set and must not start with AWS/ (reserved)."
  }
}

variable "adot_collector_enabled" {
  description = "Run the AWS Distro for OpenTelemetry collector as a sidecar of every task: the binaries export spans to it (OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318) and it sends them to X-Ray. Off: no sidecar, no span export (metrics are EMF log lines either way)."
  type        = bool
  default     = false
}

variable "adot_collector_image" {
  description = "Image of the ADOT collector sidecar (pin a version)."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.43.3"
}

variable "trace_sample_ratio" {
  description = "Fraction of new traces sampled when the sidecar runs (OTEL_TRACES_SAMPLER_ARG of parentbased_traceidratio: a trace keeps the decision of its first span across every service)."
  type        = number
  default     = 0.1

  validation {
    condition     = var.trace_sample_ratio >= 0 && var.trace_sample_ratio <= 1
    error_message = "trace_sample_ratio must be between 0 and 1."
  }
}

variable "outbox_lag_threshold_seconds" {
  description = "Alarm when a service's oldest unpublished outbox row (OutboxLag) is older than this: events committed but not reaching SNS."
  type        = number
  default     = 120
}

variable "handler_error_rate_threshold_percent" {
  description = "Alarm when more than this percentage of a worker's messages are retried or rejected (MessagesRetried + MessagesRejected over all outcomes)."
  type        = number
  default     = 5
}
