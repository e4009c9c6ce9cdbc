output "alb_arn_suffix" {
  description = "ALB ARN suffix (CloudWatch dimension)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "ALB DNS name."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "ALB hosted zone id (alias records)."
  value       = aws_lb.this.zone_id
}

output "security_group_id" {
  description = "ALB security group."
  value       = aws_security_group.alb.id
}

output "target_group_arns" {
  description = "Service => target group ARN, known only once a listener rule forwards to it."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn }

  # ECS refuses a service whose target group no listener uses yet ("The target group ... does not have an
  # associated load balancer"): whatever takes a target group from here waits for the listener rules.
  depends_on = [aws_lb_listener_rule.service]
}

output "target_group_arn_suffixes" {
  description = "Service => target group ARN suffix (CloudWatch dimension)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn_suffix }
}
