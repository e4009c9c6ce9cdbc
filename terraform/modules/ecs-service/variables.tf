variable "name" {
  description = "ECS service name."
  type        = string
}

variable "kind" {
  description = "\"service\" (HTTP, behind the ALB) or \"worker\" (SQS consumer)."
  type        = string

  validation {
    condition     = contains(["service", "worker"], var.kind)
    error_message = "kind must be service or worker."
  }
}

variable "task_definition" {
  description = "RegisterTaskDefinition input: the decoded templatefile() rendering of ecs-taskdefs/<bin>.json."
  type        = any
}

variable "task_role_arn" {
  description = "Task role (must equal the rendered JSON's taskRoleArn)."
  type        = string
}

variable "execution_role_arn" {
  description = "Execution role (must equal the rendered JSON's executionRoleArn)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name (autoscaling resource id, metrics)."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "security_group_ids" {
  description = "Security groups of the tasks."
  type        = list(string)
}

variable "log_group_name" {
  description = "Log group referenced by the task definition (created here, before the service)."
  type        = string
}

variable "log_retention_days" {
  description = "Log retention."
  type        = number
}

variable "kms_key_arn" {
  description = "CMK of the log group."
  type        = string
}

variable "target_group_arn" {
  description = "ALB target group (services only)."
  type        = string
  default     = null
}

variable "alb_resource_label" {
  description = "\"<alb arn suffix>/<target group arn suffix>\" for ALBRequestCountPerTarget (services only)."
  type        = string
  default     = null
}

variable "service_discovery_arn" {
  description = "Cloud Map service the tasks register in (services only)."
  type        = string
  default     = null
}

variable "queue_name" {
  description = "SQS queue whose backlog scales the worker (workers only)."
  type        = string
  default     = null
}

variable "min_capacity" {
  description = "Minimum tasks."
  type        = number
}

variable "max_capacity" {
  description = "Maximum tasks."
  type        = number
}

variable "cpu_target_percent" {
  description = "Target CPU utilisation (services)."
  type        = number
  default     = 60
}

variable "requests_per_target" {
  description = "Target ALBRequestCountPerTarget (services)."
  type        = number
  default     = 1000
}

variable "backlog_per_task" {
  description = "Target SQS backlog per task (workers)."
  type        = number
  default     = 100
}
