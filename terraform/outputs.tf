output "api_url" {
  description = "Public API base URL (point api_hostname at alb_dns_name unless route53_zone_id is set)."
  value       = "https://${var.api_hostname}"
}

output "alb_dns_name" {
  description = "DNS name of the ALB (CNAME/alias target for api_hostname)."
  value       = module.alb.dns_name
}

output "ecr_repository_urls" {
  description = "Binary => ECR repository to push \"<url>:<image_tag>\" to."
  value       = { for bin, r in aws_ecr_repository.bin : bin => r.repository_url }
}

output "ses_dkim_records" {
  description = "DNS records that verify the SES domain (Easy DKIM)."
  value       = module.ses.dkim_records
}

output "ses_configuration_set" {
  description = "SES configuration set used by the mailer."
  value       = module.ses.configuration_set_name
}

output "jwt_signing_keys_secret_arn" {
  description = "Put identity's JWT_SIGNING_KEYS here after the first apply (README step 5)."
  value       = aws_secretsmanager_secret.jwt_signing_keys.arn
}

output "service_clients_secret_arn" {
  description = "Put identity's SERVICE_CLIENTS here after the first apply (README step 5)."
  value       = aws_secretsmanager_secret.service_clients.arn
}

output "identity_client_secret_arns" {
  description = "Service => the secret to put its IDENTITY_CLIENT_SECRET in (README step 5)."
  value       = { for bin, s in aws_secretsmanager_secret.identity_client_secret : bin => s.arn }
}

output "db_master_secret_arn" {
  description = "RDS-managed master credentials (admin use only)."
  value       = module.data.db_master_secret_arn
}

output "db_bootstrap_command" {
  description = "Creates/updates one Postgres role + schema per schema (binaries sharing a schema share its role). Run before the services start (README step 4) and after password changes."
  value = join(" ", [
    "aws ecs run-task --region ${var.region} --cluster ${aws_ecs_cluster.this.name} --launch-type FARGATE",
    "--task-definition ${module.data.bootstrap_task_definition_arn}",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", module.network.private_subnet_ids)}],securityGroups=[${module.data.bootstrap_security_group_id}],assignPublicIp=DISABLED}'",
  ])
}

output "topic_arns" {
  description = "Topology topic => ARN."
  value       = module.messaging.topic_arns
}

output "queue_urls" {
  description = "Topology queue => URL."
  value       = module.messaging.queue_urls
}

output "alarm_topic_arn" {
  description = "SNS topic of the CloudWatch alarms (subscribe your pager)."
  value       = module.alarms.alarm_topic_arn
}

output "cluster_name" {
  description = "ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "services" {
  description = "Binary => ECS service name."
  value       = { for bin, s in module.ecs_service : bin => s.service_name }
}
