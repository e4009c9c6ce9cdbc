output "service_name" {
  description = "ECS service name."
  value       = aws_ecs_service.this.name
}

output "task_definition_arn" {
  description = "Registered task definition revision."
  value       = aws_ecs_task_definition.this.arn
}

output "log_group_name" {
  description = "Log group of the binary."
  value       = aws_cloudwatch_log_group.this.name
}
