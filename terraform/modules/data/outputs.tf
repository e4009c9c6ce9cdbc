output "db_security_group_id" {
  description = "Security group of RDS."
  value       = aws_security_group.db.id
}

output "redis_security_group_id" {
  description = "Security group of ElastiCache."
  value       = aws_security_group.redis.id
}

output "db_endpoint" {
  description = "RDS address."
  value       = aws_db_instance.this.address
}

output "db_master_secret_arn" {
  description = "RDS-managed master user secret (admin use only)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "database_url_secret_arns" {
  description = "Postgres role (= schema) => secret holding its DATABASE_URL (JSON key \"url\")."
  value       = { for bin, s in aws_secretsmanager_secret.database : bin => s.arn }
}

output "redis_url_secret_arn" {
  description = "Secret holding REDIS_URL (rediss://:AUTH@host:6379)."
  value       = aws_secretsmanager_secret.redis_url.arn
}

output "bootstrap_task_definition_arn" {
  description = "Database bootstrap task definition."
  value       = aws_ecs_task_definition.bootstrap.arn
}

output "bootstrap_security_group_id" {
  description = "Security group of the bootstrap task."
  value       = aws_security_group.bootstrap.id
}
