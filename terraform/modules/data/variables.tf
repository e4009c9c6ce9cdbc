variable "name" {
  description = "Name prefix."
  type        = string
}

variable "vpc_id" {
  description = "VPC id."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets for RDS and ElastiCache."
  type        = list(string)
}

variable "kms_key_arn" {
  description = "CMK for storage, secrets, logs and Performance Insights."
  type        = string
}

variable "database_roles" {
  description = "Postgres roles, one per schema: each role owns the schema of the same name and nothing else; binaries that share a schema share its role."
  type        = set(string)
}

variable "db_client_security_group_ids" {
  description = "Binary => security group allowed to reach Postgres."
  type        = map(string)
}

variable "redis_client_security_group_ids" {
  description = "Binary => security group allowed to reach Redis."
  type        = map(string)
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_allocated_storage_gb" {
  description = "Initial storage in GiB."
  type        = number
}

variable "db_multi_az" {
  description = "Multi-AZ standby."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Backup retention in days."
  type        = number
}

variable "db_deletion_protection" {
  description = "Deletion protection."
  type        = bool
}

variable "db_performance_insights_enabled" {
  description = "Performance Insights."
  type        = bool
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
}

variable "redis_multi_az" {
  description = "Multi-AZ with automatic failover."
  type        = bool
}

variable "redis_num_cache_clusters" {
  description = "ElastiCache nodes."
  type        = number
}

variable "log_retention_days" {
  description = "Retention of the database log groups."
  type        = number
}

variable "region" {
  description = "AWS region (awslogs of the bootstrap task)."
  type        = string
}
